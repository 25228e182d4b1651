from __future__ import annotations

import pytest

from ideogram_mock.core.errors import ControlError
from ideogram_mock.core.rules import RuleBook, triggers_in
from ideogram_mock.core.tasks import Failure


def test_faults_rules_apply_in_order_and_are_used_up() -> None:
    book = RuleBook()
    book.add({"endpoint": "createTask", "code": 429, "times": 2})
    book.add({"endpoint": "*", "code": 500})
    taken = [book.take_fault("createTask", "k", None, None) for _ in range(4)]
    assert [r.code if r else None for r in taken] == [429, 429, 500, None]


def test_faults_forever_rules_stay() -> None:
    book = RuleBook()
    book.add({"outcome": "fail", "times": None})
    for _ in range(5):
        assert book.take_outcome("k", "m", "p") is not None
    assert book.all()[0].remaining is None


def test_faults_outcome_and_request_rules_do_not_mix() -> None:
    book = RuleBook()
    book.add({"outcome": "fail"})
    assert book.take_fault("createTask", None, None, None) is None
    rule = book.take_outcome(None, None, None)
    assert rule is not None
    assert rule.failure == Failure("500", "Internal server error")


def test_faults_matching_on_key_model_prompt() -> None:
    book = RuleBook()
    book.add({"outcome": "fail", "apiKey": "a", "model": "m", "promptContains": "cat"})
    assert book.take_outcome("b", "m", "a cat") is None
    assert book.take_outcome("a", "x", "a cat") is None
    assert book.take_outcome("a", "m", "a dog") is None
    assert book.take_outcome("a", "m", None) is None
    assert book.take_outcome("a", "m", "a cat") is not None


@pytest.mark.parametrize(
    "body",
    [{}, {"endpoint": "credit"}, {"endpoint": "credit", "code": 299},
     {"outcome": "success", "failMsg": "x"}, {"outcome": "fail", "code": 500}],
)  # fmt: skip
def test_faults_cross_field_mistakes_are_control_errors(body: dict[str, object]) -> None:
    with pytest.raises(ControlError):
        RuleBook().add(body)


def test_faults_triggers_in_prompts() -> None:
    assert triggers_in("plain prompt").failure is None
    assert triggers_in("x [mock:fail] y").failure == Failure("500", "Internal server error")
    assert triggers_in("[mock:fail=422]").failure == Failure(
        "422", "Your media file is unavailable, please replace it."
    )
    assert triggers_in("[mock:fail=999]").failure == Failure("999", "Generation failed")
    assert triggers_in("[mock:code=429]").code == 429
    assert triggers_in("[mock:code=200]").code is None
    assert triggers_in("[mock:seconds=2.5]").seconds == 2.5
    assert triggers_in("[mock:seconds=soon]").seconds is None

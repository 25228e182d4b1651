from __future__ import annotations

import pytest

from ideogram_mock.core.errors import InvalidInput
from ideogram_mock.core.rules import RuleBook, triggers_in
from ideogram_mock.core.tasks import Failure
from ideogram_mock.providers.kie.models import WORDING
from ideogram_mock.stores.base import Store
from ideogram_mock.stores.memory import MemoryStore

WORDINGS = {"kie": WORDING}


def test_faults_rules_apply_in_order_and_are_used_up(store: Store) -> None:
    book = RuleBook(store, WORDINGS)
    book.add({"endpoint": "createTask", "code": 429, "times": 2})
    book.add({"endpoint": "*", "code": 500})
    taken = [book.take_fault("kie", "createTask", "k", None, None) for _ in range(4)]
    assert [r.code if r else None for r in taken] == [429, 429, 500, None]


def test_faults_forever_rules_stay(store: Store) -> None:
    book = RuleBook(store, WORDINGS)
    book.add({"outcome": "fail", "times": None})
    for _ in range(5):
        assert book.take_outcome("kie", "k", "m", "p") is not None
    assert book.all()[0].remaining is None


def test_faults_outcome_and_request_rules_do_not_mix(store: Store) -> None:
    book = RuleBook(store, WORDINGS)
    book.add({"outcome": "fail"})
    assert book.take_fault("kie", "createTask", None, None, None) is None
    rule = book.take_outcome("kie", None, None, None)
    assert rule is not None
    assert rule.failure == Failure("500", "Internal server error")


def test_faults_matching_on_key_model_prompt(store: Store) -> None:
    book = RuleBook(store, WORDINGS)
    book.add({"outcome": "fail", "apiKey": "a", "model": "m", "promptContains": "cat"})
    assert book.take_outcome("kie", "b", "m", "a cat") is None
    assert book.take_outcome("kie", "a", "x", "a cat") is None
    assert book.take_outcome("kie", "a", "m", "a dog") is None
    assert book.take_outcome("kie", "a", "m", None) is None
    assert book.take_outcome("kie", "a", "m", "a cat") is not None


@pytest.mark.parametrize(
    "body",
    [{}, {"endpoint": "credit"}, {"endpoint": "credit", "code": 299},
     {"outcome": "success", "failMsg": "x"}, {"outcome": "fail", "code": 500}],
)  # fmt: skip
def test_faults_cross_field_mistakes_are_invalid_input(body: dict[str, object]) -> None:
    with pytest.raises(InvalidInput):
        RuleBook(MemoryStore(), WORDINGS).add(body)


def test_faults_triggers_in_prompts() -> None:
    assert triggers_in("plain prompt", WORDING).failure is None
    assert triggers_in("x [mock:fail] y", WORDING).failure == Failure(
        "500", "Internal server error"
    )
    assert triggers_in("[mock:fail=422]", WORDING).failure == Failure(
        "422", "Your media file is unavailable, please replace it."
    )
    assert triggers_in("[mock:fail=999]", WORDING).failure == Failure("999", "Generation failed")
    assert triggers_in("[mock:code=429]", WORDING).code == 429
    assert triggers_in("[mock:code=200]", WORDING).code is None
    assert triggers_in("[mock:seconds=2.5]", WORDING).seconds == 2.5
    assert triggers_in("[mock:seconds=soon]", WORDING).seconds is None


def test_faults_rules_naming_a_provider_match_only_its_requests() -> None:
    book = RuleBook(MemoryStore(), {"kie": WORDING, "other": WORDING})
    book.add({"endpoint": "*", "code": 500, "provider": "other", "times": None})
    assert book.take_fault("kie", "createTask", "k", None, None) is None
    rule = book.take_fault("other", "createTask", "k", None, None)
    assert rule is not None
    assert rule.as_json()["provider"] == "other"


def test_faults_rules_refuse_an_unknown_provider() -> None:
    with pytest.raises(InvalidInput, match="provider"):
        RuleBook(MemoryStore(), WORDINGS).add({"endpoint": "*", "code": 500, "provider": "nobody"})


def test_faults_triggers_ignore_non_ascii_digits_and_non_finite_seconds() -> None:
    assert triggers_in("[mock:code=²]", WORDING).code is None
    assert triggers_in("[mock:seconds=nan]", WORDING).seconds is None
    assert triggers_in("[mock:seconds=inf]", WORDING).seconds is None

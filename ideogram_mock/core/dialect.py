"""What the core needs to know of a provider, without knowing its wire format: the words it
uses for error codes and failures, its names for the stages, and its callback body."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from ideogram_mock.core.tasks import Failure, Stage, Task


@dataclass(frozen=True)
class Wording:
    """A provider's vocabulary for scripted errors and failures.

    `error_codes`: the codes a fault rule or a `[mock:code=N]` trigger may ask for, each with
    the provider's usual message. `fail_messages`: a failure code's message when a rule gives
    none (`fail_default` for any other code). `media_failure`: how a task fails when its input
    images cannot be used.
    """

    error_codes: Mapping[int, str]
    fail_messages: Mapping[str, str]
    fail_default: str
    media_failure: Failure
    default_fail_code: str = "500"
    # The names fault rules use for the provider's operations (e.g. createTask, recordInfo).
    endpoints: tuple[str, ...] = ()

    def failure(self, code: str | None = None, msg: str | None = None) -> Failure:
        code = code if code is not None else self.default_fail_code
        return Failure(
            code, msg if msg is not None else self.fail_messages.get(code, self.fail_default)
        )


@dataclass(frozen=True)
class Delivery:
    """One callback POST: its JSON body and the headers the provider sends with it."""

    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


class Dialect(Protocol):
    """A provider as the core sees it (the web side of a provider lives beside it)."""

    name: str
    wording: Wording
    # How long a task is kept, in fake time, before it is evicted (None: the fake's retention).
    retention_s: float | None

    def task_id(self, bits: int) -> str:
        """A new task's id in the provider's format, from 128 random bits."""
        ...

    def request_words(self) -> bytes:
        """What the provider's request bodies are made of (its field names and enum values,
        as they appear in JSON): a stored request is deflated against them."""
        ...

    def state_name(self, stage: Stage) -> str:
        """The provider's word for a stage (kie: waiting, queuing, generating, …)."""
        ...

    def callback(self, task: Task, urls: list[str], now_ms: int) -> Delivery:
        """The POST sent to a task's callback URL when it ends."""
        ...

    def request_view(self, task: Task) -> dict[str, Any]:
        """The task's inputs as the control API shows them."""
        ...

    def record(self, task: Task, stage: Stage, urls: list[str], now_ms: int) -> dict[str, Any]:
        """The task as the provider's API would answer a poll of it now (the whole body)."""
        ...

"""Answers about ended tasks, rendered once.

A task's record stops changing when the task ends (`records._terminal`: the same at every read
from its end on), yet clients poll it again and again. An `EndedAnswers` keeps the rendered
answer per task id, bounded, and hands it back only while the task read now is the task the
answer was made from (the same object in the memory store, an equal one from a durable store),
so a reset, an eviction or another process's change can never bring back a stale answer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ideogram_mock.core.kept import Kept
from ideogram_mock.core.tasks import Task
from ideogram_mock.server.endpoint import Answer


class EndedAnswers:
    """One operation's kept answers; `answer` turns a handler's result into the provider's
    answer (its dialect's own). At most `size` answers and `budget` bytes of their bodies are
    kept, the oldest going first; an answer longer than a sixteenth of the budget (a request
    body near the size limit, echoed) is rendered at every poll instead."""

    def __init__(
        self, answer: Callable[[Any], Answer], size: int = 1024, budget: int = 8 << 20
    ) -> None:
        self._answer = answer
        self._kept: Kept[str, tuple[Task, Answer]] = Kept(
            size, budget, budget >> 4, lambda kept: len(kept[1].body)
        )

    def of(self, task: Task, ended: bool, render: Callable[[], Any]) -> Any:
        """`render()` for a task still running; for an ended one, the answer kept for it, else
        `render()` made an answer and kept."""
        if not ended:
            return render()
        kept = self._kept.get(task.task_id)
        if kept is not None and (kept[0] is task or kept[0] == task):
            return kept[1]
        result = render()
        answer = result if type(result) is Answer else self._answer(result)
        self._kept.put(task.task_id, (task, answer))
        return answer

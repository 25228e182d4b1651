"""The one interface every store implements; the core knows no other."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from ideogram_mock.core.tasks import Task


class TaskStore(Protocol):
    """Tasks by id in creation order, and content-addressed blobs (input images kept for
    edits) by key."""

    def __len__(self) -> int: ...

    def __iter__(self) -> Iterator[Task]: ...

    def add(self, task: Task) -> None:
        """Store a new task; a task id is never stored twice."""
        ...

    def get(self, task_id: str) -> Task | None: ...

    def used(self, task_id: str) -> bool:
        """Whether a task ever had this id (stored now, or forgotten)."""
        ...

    def replace(self, task: Task) -> None:
        """Store a changed copy of a stored task (a cancel); KeyError if there is none."""
        ...

    def remove(self, task_id: str) -> None:
        """Forget a task (its id stays used: a new task never takes it)."""
        ...

    def put_blob(self, key: int, data: bytes) -> None: ...

    def get_blob(self, key: int) -> bytes | None: ...

    def clear(self) -> None: ...

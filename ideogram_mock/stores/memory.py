"""Tasks in memory, by id, in creation order (the pytest plugin's store: fastest, per test)."""

from __future__ import annotations

from collections.abc import Iterator

from ideogram_mock.core.tasks import Task


class MemoryStore:
    def __init__(self) -> None:
        self._tasks: dict[str, Task] = {}
        self._blobs: dict[int, bytes] = {}
        self._gone: set[str] = set()  # ids of forgotten tasks, never handed out again

    def __len__(self) -> int:
        return len(self._tasks)

    def __iter__(self) -> Iterator[Task]:
        return iter(self._tasks.values())

    def add(self, task: Task) -> None:
        if task.task_id in self._tasks:
            raise KeyError(f"task {task.task_id} exists")
        self._tasks[task.task_id] = task

    def replace(self, task: Task) -> None:
        if task.task_id not in self._tasks:
            raise KeyError(f"no task {task.task_id}")
        self._tasks[task.task_id] = task

    def remove(self, task_id: str) -> None:
        self._tasks.pop(task_id, None)
        self._gone.add(task_id)

    def used(self, task_id: str) -> bool:
        return task_id in self._tasks or task_id in self._gone

    def get(self, task_id: str) -> Task | None:
        return self._tasks.get(task_id)

    def put_blob(self, key: int, data: bytes) -> None:
        self._blobs[key] = data

    def get_blob(self, key: int) -> bytes | None:
        return self._blobs.get(key)

    def clear(self) -> None:
        self._tasks.clear()
        self._blobs.clear()
        self._gone.clear()

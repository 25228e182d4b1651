"""Where the fake keeps its state: `memory`, `sqlite:///PATH` or `redis://HOST:PORT/DB`."""

from __future__ import annotations

from ideogram_mock.stores.base import Store


def open_store(url: str) -> Store:
    """The store a `--store` setting names; ValueError for anything else."""
    if url == "memory":
        from ideogram_mock.stores.memory import MemoryStore

        return MemoryStore()
    if url.startswith("sqlite:"):
        from ideogram_mock.stores.sqlite import SqliteStore

        return SqliteStore(url)
    if url.startswith(("redis://", "rediss://", "unix://")):
        from ideogram_mock.stores.redis import RedisStore

        return RedisStore(url)
    raise ValueError(
        f"unknown store {url!r}: choose memory, sqlite:///PATH or redis://HOST:PORT/DB"
    )

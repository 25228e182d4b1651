"""State in an SQLite file (WAL): it survives a restart, and several processes on one host may
share it. Changes that read before they write run in `BEGIN IMMEDIATE` transactions, so they
are atomic across processes; everything else is one statement."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import orjson

from ideogram_mock.core.tasks import Task
from ideogram_mock.stores import held
from ideogram_mock.stores.base import UNCHANGED, Change, Claim, R, StoreUnavailable
from ideogram_mock.stores.buffer import JournalBuffer
from ideogram_mock.stores.codec import task_from_bytes, task_to_bytes

SCHEMA = """
CREATE TABLE IF NOT EXISTS tasks(
    id TEXT PRIMARY KEY, provider TEXT NOT NULL, complete_ms INTEGER NOT NULL,
    data BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS tasks_by_end ON tasks(provider, complete_ms);
CREATE TABLE IF NOT EXISTS blobs(key INTEGER PRIMARY KEY, at_ms INTEGER NOT NULL, data BLOB);
CREATE TABLE IF NOT EXISTS counters(name TEXT PRIMARY KEY, value INTEGER NOT NULL)
    WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS docs(kind TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL,
    PRIMARY KEY(kind, key)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS journal_requests(seq INTEGER PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS journal_callbacks(seq INTEGER PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS queue(
    id INTEGER PRIMARY KEY, due_ms INTEGER NOT NULL, lease REAL NOT NULL DEFAULT 0,
    task_id TEXT NOT NULL, url TEXT NOT NULL, attempt INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS queue_by_due ON queue(due_ms);
"""
JOURNALS = ("requests", "callbacks")
# Trim a journal to its size once every this many entries (not on every write).
TRIM_EVERY = 256
# How many read-ahead documents and tasks a store keeps at most, and how many bytes of tasks
# (then: none, and anew).
_SEEN_AT_MOST, _SEEN_BYTES_AT_MOST = 4096, 8 << 20
_SIGN = 1 << 63  # blob keys are unsigned 64-bit; SQLite integers are signed


def _path_of(url: str) -> Path:
    """The file of `sqlite:///relative/path` or `sqlite:////absolute/path`."""
    if not url.startswith("sqlite:///"):
        raise ValueError(f"an SQLite store is sqlite:///PATH, not {url!r}")
    path = url.removeprefix("sqlite:///")
    if not path:
        raise ValueError("an SQLite store needs a file: sqlite:///PATH")
    return Path(path)


class SqliteStore:
    kind = "sqlite"
    durable = True

    def __init__(self, url: str) -> None:
        self.path = _path_of(url)
        self.location = f"sqlite:///{self.path.resolve()}"
        self._lock = threading.RLock()
        self._appends = 0
        self._journal = JournalBuffer(self._write_entries)
        # What requests read ahead (documents decoded, tasks as bytes), kept while the file
        # is unchanged: this connection's own changes drop it, and so does `data_version`
        # moving, which SQLite does when another connection (another process) commits.
        self._seen: dict[tuple[str, str], Any] = {}
        self._seen_bytes = 0  # of the tasks in it
        self._decoded: dict[str, tuple[bytes, Task]] = {}  # tasks of `_seen`, decoded
        self._version = -1
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # One connection per store, shared by the threads of one process (an in-process
            # fixture's portal and the test) behind a lock; each process opens its own.
            self._db = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=30.0
            )
            self._db.execute("PRAGMA busy_timeout=30000")
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(SCHEMA)
        except (sqlite3.Error, OSError) as exc:
            raise StoreUnavailable(f"{self.path}: {exc}") from None

    def _write(self, work: Callable[[sqlite3.Connection], R]) -> R:
        """Run `work` in one write transaction (others wait for the lock; a failure rolls
        back)."""
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                result = work(db)
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
            return result

    def _one(self, sql: str, args: tuple[Any, ...] = ()) -> Any:
        with self._lock:
            return self._db.execute(sql, args).fetchone()

    def _all(self, sql: str, args: tuple[Any, ...] = ()) -> list[Any]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    # ---- tasks ----------------------------------------------------------------------------
    def __len__(self) -> int:
        return int(self._one("SELECT count(*) FROM tasks")[0])

    def __iter__(self) -> Iterator[Task]:
        rows = self._all("SELECT data FROM tasks ORDER BY rowid")
        return (task_from_bytes(row[0]) for row in rows)

    def add(self, task: Task) -> None:
        held.take(held.PREFETCHED_TASK, task.task_id)
        try:
            with self._lock:
                self._forget()
                self._db.execute(
                    "INSERT INTO tasks(id, provider, complete_ms, data) VALUES (?, ?, ?, ?)",
                    (task.task_id, task.provider, task.complete_ms, task_to_bytes(task)),
                )
        except sqlite3.IntegrityError:
            raise KeyError(f"task {task.task_id} exists") from None

    def get(self, task_id: str) -> Task | None:
        data = held.take(held.PREFETCHED_TASK, task_id)  # read with the request's documents
        if data is held.MISSING:
            row = self._one("SELECT data FROM tasks WHERE id = ?", (task_id,))
            return None if row is None else task_from_bytes(row[0])
        if data is None:
            return None
        # The same bytes read ahead again (a task polled while nothing changed): the same
        # task (tasks are immutable), not decoded again. Only what was read ahead is kept,
        # and emptied with it (so bounded as it is).
        decoded = self._decoded.get(task_id)
        if decoded is not None and decoded[0] is data:
            return decoded[1]
        task = task_from_bytes(data)
        self._decoded[task_id] = (data, task)
        return task

    def replace(self, task: Task, if_ends_at: int | None = None) -> None:
        held.take(held.PREFETCHED_TASK, task.task_id)  # read ahead, now out of date
        with self._lock:
            self._forget()
            changed = self._db.execute(
                "UPDATE tasks SET complete_ms = ?, data = ? "
                "WHERE id = ? AND (? IS NULL OR complete_ms = ?)",
                (task.complete_ms, task_to_bytes(task), task.task_id, if_ends_at, if_ends_at),
            ).rowcount
        if not changed:
            raise KeyError(f"no task {task.task_id}, or it changed")

    def remove(self, task_id: str) -> None:
        held.take(held.PREFETCHED_TASK, task_id)
        with self._lock:
            self._forget()
            self._db.execute("DELETE FROM tasks WHERE id = ?", (task_id,))

    def evict(self, provider: str, ended_before_ms: int) -> int:
        with self._lock:
            self._forget()
            return self._db.execute(
                "DELETE FROM tasks WHERE provider = ? AND complete_ms < ?",
                (provider, ended_before_ms),
            ).rowcount

    # ---- blobs ----------------------------------------------------------------------------
    def put_blob(self, key: int, data: bytes, at_ms: int = 0) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO blobs(key, at_ms, data) VALUES (?, ?, ?)",
                (key - _SIGN, at_ms, data),
            )

    def get_blob(self, key: int) -> bytes | None:
        row = self._one("SELECT data FROM blobs WHERE key = ?", (key - _SIGN,))
        return None if row is None else bytes(row[0])

    def evict_blobs(self, before_ms: int) -> int:
        with self._lock:
            return self._db.execute("DELETE FROM blobs WHERE at_ms < ?", (before_ms,)).rowcount

    # ---- counters and documents -----------------------------------------------------------
    def next_number(self, name: str) -> int:
        row = self._one(
            "INSERT INTO counters(name, value) VALUES (?, 1) "
            "ON CONFLICT(name) DO UPDATE SET value = value + 1 RETURNING value",
            (name,),
        )
        return int(row[0])

    def read(self, kind: str, key: str) -> Any:
        found = held.cached(kind, key)
        if found is not held.MISSING:
            return found
        row = self._one("SELECT value FROM docs WHERE kind = ? AND key = ?", (kind, key))
        value = None if row is None else orjson.loads(row[0])
        held.keep(kind, key, value)
        return value

    def prefetch(self, documents: Sequence[tuple[str, str]], task_id: str | None = None) -> None:
        """The request's documents and task in one query (each query costs more in Python
        than in SQLite), or none: what an earlier request read is kept while the file is
        unchanged (see `_unchanged`)."""
        if not held.holding():
            return
        wanted = [(k, key) for k, key in documents if held.cached(k, key) is held.MISSING]
        if not wanted and task_id is None:
            return
        if task_id is not None:  # kept beside the documents, as the hold keeps it
            wanted.append((held.PREFETCHED_TASK, task_id))
        with self._lock:
            seen = self._unchanged()
            if len(seen) > _SEEN_AT_MOST or self._seen_bytes > _SEEN_BYTES_AT_MOST:
                self._forget()
            missing = [item for item in wanted if item not in seen]
            if missing:
                self._read_into(seen, missing)
            for kind, key in wanted:
                held.keep(kind, key, seen[kind, key])

    def _read_into(self, seen: dict[tuple[str, str], Any], missing: list[tuple[str, str]]) -> None:
        """Read documents (decoded, None when absent) and a task (bytes) into `seen`, in one
        query. Under the lock."""
        docs = [item for item in missing if item[0] != held.PREFETCHED_TASK]
        tasks = [key for kind, key in missing if kind == held.PREFETCHED_TASK]
        parts, args = [], []
        if docs:
            pairs = ", ".join("(?, ?)" for _ in docs)
            parts.append(f"SELECT 0, kind, key, value FROM docs WHERE (kind, key) IN ({pairs})")
            args += [item for pair in docs for item in pair]
        for task_id in tasks:
            parts.append("SELECT 1, '', id, data FROM tasks WHERE id = ?")
            args.append(task_id)
        found: dict[tuple[str, str], Any] = {}
        for is_task, kind, key, value in self._db.execute(" UNION ALL ".join(parts), args):
            if is_task:
                found[held.PREFETCHED_TASK, key] = value
                self._seen_bytes += len(value)
            else:
                found[kind, key] = orjson.loads(value)
        for item in missing:
            seen[item] = found.get(item)

    def prefetch_soon(
        self, documents: Sequence[tuple[str, str]], task_id: str | None = None
    ) -> Awaitable[None] | None:
        self.prefetch(documents, task_id)  # a query in this process: no waiting on a server
        return None

    def _forget(self) -> None:
        self._seen.clear()
        self._seen_bytes = 0
        self._decoded.clear()

    def _unchanged(self) -> dict[tuple[str, str], Any]:
        """What requests read ahead, emptied first when another connection has committed
        since (SQLite's `data_version`: the same number until then). Under the lock."""
        version = self._db.execute("PRAGMA data_version").fetchone()[0]
        if version != self._version:
            self._forget()
            self._version = version
        return self._seen

    def update(self, kind: str, key: str, change: Change[R]) -> R:
        def work(db: sqlite3.Connection) -> R:
            row = db.execute(
                "SELECT value FROM docs WHERE kind = ? AND key = ?", (kind, key)
            ).fetchone()
            old = None if row is None else orjson.loads(row[0])
            new, result = change(old)
            if new is None:
                db.execute("DELETE FROM docs WHERE kind = ? AND key = ?", (kind, key))
            elif new is not UNCHANGED:
                db.execute(
                    "INSERT OR REPLACE INTO docs(kind, key, value) VALUES (?, ?, ?)",
                    (kind, key, orjson.dumps(new)),
                )
            held.keep(kind, key, old if new is UNCHANGED else new)
            return result

        with self._lock:
            self._forget()
            return self._write(work)

    def documents(self, kind: str) -> list[tuple[str, Any]]:
        rows = self._all("SELECT key, value FROM docs WHERE kind = ? ORDER BY key", (kind,))
        return [(key, orjson.loads(value)) for key, value in rows]

    # ---- journals -------------------------------------------------------------------------
    @staticmethod
    def _table(journal: str) -> str:
        if journal not in JOURNALS:
            raise ValueError(f"no journal {journal!r}")
        return f"journal_{journal}"

    def append(self, journal: str, entry: tuple[Any, ...], keep: int) -> None:
        self._table(journal)
        self._journal.add(journal, entry, keep)

    def _write_entries(self, journal: str, entries: Sequence[tuple[Any, ...]], keep: int) -> None:
        table = self._table(journal)
        rows = [(orjson.dumps(list(entry)),) for entry in entries]

        def work(db: sqlite3.Connection) -> None:
            db.executemany(f"INSERT INTO {table}(data) VALUES (?)", rows)
            self._appends += len(rows)
            if self._appends >= TRIM_EVERY:
                self._appends = 0
                db.execute(
                    f"DELETE FROM {table} WHERE seq <= (SELECT max(seq) FROM {table}) - ?",
                    (keep,),
                )

        self._write(work)

    def flush(self) -> None:
        self._journal.flush()

    def entries(self, journal: str) -> list[tuple[int, tuple[Any, ...]]]:
        self.flush()
        rows = self._all(f"SELECT seq, data FROM {self._table(journal)} ORDER BY seq")
        return [(seq, tuple(orjson.loads(data))) for seq, data in rows]

    def retain(self, journal: str, wanted: Callable[[tuple[Any, ...]], bool]) -> None:
        table = self._table(journal)
        self.flush()

        def work(db: sqlite3.Connection) -> None:
            rows = db.execute(f"SELECT seq, data FROM {table}").fetchall()
            gone = [(seq,) for seq, data in rows if not wanted(tuple(orjson.loads(data)))]
            db.executemany(f"DELETE FROM {table} WHERE seq = ?", gone)

        self._write(work)

    # ---- the callback queue ---------------------------------------------------------------
    def push(self, due_ms: int, task_id: str, url: str, attempt: int) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO queue(due_ms, task_id, url, attempt) VALUES (?, ?, ?, ?)",
                (due_ms, task_id, url, attempt),
            )

    def claim(self, now_ms: int, lease_s: float) -> list[Claim]:
        wall = time.time()

        def work(db: sqlite3.Connection) -> list[Claim]:
            rows = db.execute(
                "UPDATE queue SET lease = ? WHERE due_ms <= ? AND lease < ? "
                "RETURNING id, due_ms, task_id, url, attempt, lease",
                (wall + lease_s, now_ms, wall),
            ).fetchall()
            return sorted(Claim(*row) for row in rows)

        if self.next_due() is None:
            return []
        return self._write(work)

    # (A claim is this one while the queue row has its lease end: every change below is on
    # that condition, so a claim whose lease ended never touches the one taken after it.)
    def renew(self, claim: Claim, lease_s: float) -> Claim | None:
        lease = time.time() + lease_s
        with self._lock:
            renewed = self._db.execute(
                "UPDATE queue SET lease = ? WHERE id = ? AND lease = ?",
                (lease, claim.id, claim.lease),
            ).rowcount
        return claim._replace(lease=lease) if renewed else None

    def settle(self, claim: Claim, retry_at_ms: int | None) -> None:
        with self._lock:
            if retry_at_ms is None:
                self._db.execute(
                    "DELETE FROM queue WHERE id = ? AND lease = ?", (claim.id, claim.lease)
                )
            else:
                self._db.execute(
                    "UPDATE queue SET due_ms = ?, attempt = attempt + 1, lease = 0 "
                    "WHERE id = ? AND lease = ?",
                    (retry_at_ms, claim.id, claim.lease),
                )

    def release(self, claim: Claim) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE queue SET lease = 0 WHERE id = ? AND lease = ?", (claim.id, claim.lease)
            )

    def next_due(self) -> int | None:
        row = self._one("SELECT min(due_ms) FROM queue WHERE lease < ?", (time.time(),))
        return None if row is None or row[0] is None else int(row[0])

    def pending(self) -> int:
        return int(self._one("SELECT count(*) FROM queue")[0])

    # ---- the whole ------------------------------------------------------------------------
    def clear(self) -> None:
        self.flush()

        def work(db: sqlite3.Connection) -> None:
            for table in ("tasks", "blobs", "docs", "queue", *map(self._table, JOURNALS)):
                db.execute(f"DELETE FROM {table}")

        with self._lock:
            self._forget()
            self._write(work)

    def close(self) -> None:
        self.flush()
        with self._lock:
            self._db.close()

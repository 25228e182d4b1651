"""State in a Redis server: several fakes on several hosts share it. Every change that reads
before it writes is one Lua script or a WATCH/MULTI transaction, so it is atomic across them.

Keys (all under the prefix, `ideogram-mock:` unless the URL says `?prefix=…`):
tasks (hash id → task), task-order (zset by creation), ends:<provider> (zset by end time),
blobs / blob-at, counters (hash), doc:<kind> (hash key → JSON), journal:<name> (list of
[seq, entry]), queue (zset of due ids by due time), claimed (zset by lease end, wall time),
items (hash id → [due, task, url, attempt]).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

import orjson

from ideogram_mock.core.tasks import Task
from ideogram_mock.stores import held
from ideogram_mock.stores.base import UNCHANGED, Change, Claim, R, StoreUnavailable
from ideogram_mock.stores.buffer import JournalBuffer
from ideogram_mock.stores.codec import task_from_bytes, task_to_bytes
from ideogram_mock.stores.redis_reads import ORDINARY, Lane, Pipeline

try:
    import redis
except ImportError:  # pragma: no cover - the extra is not installed
    redis = None  # type: ignore[assignment]

# KEYS: tasks, task-order, ends:<provider>. ARGV: id, data, complete_ms, replace?, the end
# the stored task must have for a replace ('' for any)
_PUT_TASK = """
local exists = redis.call('HEXISTS', KEYS[1], ARGV[1])
if ARGV[4] == '1' then
  if exists == 0 then return 0 end
  if ARGV[5] ~= '' and tonumber(redis.call('ZSCORE', KEYS[3], ARGV[1])) ~= tonumber(ARGV[5]) then
    return 0
  end
else
  if exists == 1 then return 0 end
  local n = redis.call('HINCRBY', KEYS[4], 'task-order', 1)
  redis.call('ZADD', KEYS[2], n, ARGV[1])
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1])
return 1
"""
# KEYS: tasks, task-order, ends:<provider>. ARGV: before_ms
_EVICT = """
local gone = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', '(' .. ARGV[1], 'LIMIT', 0, 10000)
for _, id in ipairs(gone) do
  redis.call('HDEL', KEYS[1], id)
  redis.call('ZREM', KEYS[2], id)
  redis.call('ZREM', KEYS[3], id)
end
return #gone
"""
# KEYS: queue, claimed, items. ARGV: now_ms, wall, lease_end. Claims whose lease ended go back
# to the queue first; then every due delivery moves to `claimed` until its lease ends.
_CLAIM = """
local lost = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[2])
for _, id in ipairs(lost) do
  local item = cjson.decode(redis.call('HGET', KEYS[3], id))
  redis.call('ZREM', KEYS[2], id)
  redis.call('ZADD', KEYS[1], item[1], id)
end
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local out = {}
for _, id in ipairs(due) do
  redis.call('ZREM', KEYS[1], id)
  redis.call('ZADD', KEYS[2], ARGV[3], id)
  table.insert(out, id)
  table.insert(out, redis.call('HGET', KEYS[3], id))
end
return out
"""
# KEYS: claimed. ARGV: id, the claim's lease end, the new lease end. Only while the claim is
# this one (its lease not ended and taken again: then it has another lease end).
_RENEW = """
local lease = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not lease or tonumber(lease) ~= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
return 1
"""
# KEYS: queue, claimed, items. ARGV: id, retry_at ('' drops it), item JSON of the retry, the
# claim's lease end (only while the claim is this one)
_SETTLE = """
local lease = redis.call('ZSCORE', KEYS[2], ARGV[1])
if not lease or tonumber(lease) ~= tonumber(ARGV[4]) then return 0 end
redis.call('ZREM', KEYS[2], ARGV[1])
if ARGV[2] == '' then
  redis.call('HDEL', KEYS[3], ARGV[1])
else
  redis.call('HSET', KEYS[3], ARGV[1], ARGV[3])
  redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
end
return 1
"""
# KEYS: journal list, its seq key. ARGV: keep, then each entry's JSON (a batch in one call)
_APPEND = """
for i = 2, #ARGV do
  local seq = redis.call('INCR', KEYS[2])
  redis.call('RPUSH', KEYS[1], '[' .. seq .. ',' .. ARGV[i] .. ']')
end
redis.call('LTRIM', KEYS[1], -tonumber(ARGV[1]), -1)
return #ARGV - 1
"""
# KEYS: hashes. ARGV: a field of each. Every value (false: none) in one call, not one each.
_READ = """
local out = {}
for i = 1, #KEYS do
  out[i] = redis.call('HGET', KEYS[i], ARGV[i])
end
return out
"""
_SIGNED = 1 << 63


class RedisStore:
    kind = "redis"
    durable = True

    def __init__(self, url: str) -> None:
        if redis is None:
            raise StoreUnavailable(
                "the Redis store needs redis-py: pip install 'ideogram-mock[redis]'"
            )
        parts = urlsplit(url)
        query = parse_qs(parts.query)
        self.prefix = query.pop("prefix", ["ideogram-mock"])[0] + ":"
        rest = "&".join(f"{k}={v}" for k, values in query.items() for v in values)
        clean = urlunsplit((parts.scheme, parts.netloc, parts.path, rest, ""))
        self.location = clean
        # Typed loosely: redis-py's own annotations mix bytes and str answers.
        self._r: Any = redis.Redis.from_url(clean, socket_timeout=10, socket_connect_timeout=5)
        try:
            self._r.ping()
        except redis.RedisError as exc:
            raise StoreUnavailable(f"{clean}: {exc}") from None
        self._put_task: Any = self._r.register_script(_PUT_TASK)
        self._evict = self._r.register_script(_EVICT)
        self._claim = self._r.register_script(_CLAIM)
        self._settle = self._r.register_script(_SETTLE)
        self._renew = self._r.register_script(_RENEW)
        self._append = self._r.register_script(_APPEND)
        self._read = self._r.register_script(_READ)
        self._lane = Lane(self._r)
        self._pipe = Pipeline(self._r)
        self._journal = JournalBuffer(self._write_entries)

    def _k(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    # ---- tasks ----------------------------------------------------------------------------
    def __len__(self) -> int:
        return int(self._r.hlen(self._k("tasks")))

    def __iter__(self) -> Iterator[Task]:
        ids = self._r.zrange(self._k("task-order"), 0, -1)
        for start in range(0, len(ids), 500):
            for data in self._r.hmget(self._k("tasks"), ids[start : start + 500]):
                if data is not None:
                    yield task_from_bytes(data)

    def _put(self, task: Task, replace: bool, if_ends_at: int | None = None) -> bool:
        held.take(held.PREFETCHED_TASK, task.task_id)  # read ahead, now out of date
        keys = [
            self._k("tasks"),
            self._k("task-order"),
            self._k("ends", task.provider),
            self._k("counters"),
        ]
        args: list[str | bytes | int] = [
            task.task_id, task_to_bytes(task), task.complete_ms, "1" if replace else "0",
            "" if if_ends_at is None else if_ends_at,
        ]  # fmt: skip
        return bool(self._put_task(keys=keys, args=args))

    def add(self, task: Task) -> None:
        if not self._put(task, replace=False):
            raise KeyError(f"task {task.task_id} exists")

    def get(self, task_id: str) -> Task | None:
        data = held.take(held.PREFETCHED_TASK, task_id)  # read with the request's documents
        if data is held.MISSING:
            data = self._r.hget(self._k("tasks"), task_id)
        return None if data is None else task_from_bytes(data)

    def replace(self, task: Task, if_ends_at: int | None = None) -> None:
        if not self._put(task, replace=True, if_ends_at=if_ends_at):
            raise KeyError(f"no task {task.task_id}, or it changed")

    def remove(self, task_id: str) -> None:
        task = self.get(task_id)  # (takes a task read ahead)
        pipe = self._r.pipeline()
        pipe.hdel(self._k("tasks"), task_id)
        pipe.zrem(self._k("task-order"), task_id)
        if task is not None:
            pipe.zrem(self._k("ends", task.provider), task_id)
        pipe.execute()

    def evict(self, provider: str, ended_before_ms: int) -> int:
        keys = [self._k("tasks"), self._k("task-order"), self._k("ends", provider)]
        gone = 0
        while True:
            batch = int(self._evict(keys=keys, args=[ended_before_ms]))
            gone += batch
            if batch < 10_000:
                return gone

    # ---- blobs ----------------------------------------------------------------------------
    def put_blob(self, key: int, data: bytes, at_ms: int = 0) -> None:
        pipe = self._r.pipeline()
        pipe.hset(self._k("blobs"), str(key), data)
        pipe.zadd(self._k("blob-at"), {str(key): at_ms})
        pipe.execute()

    def get_blob(self, key: int) -> bytes | None:
        data = self._r.hget(self._k("blobs"), str(key))
        return None if data is None else bytes(data)

    def evict_blobs(self, before_ms: int) -> int:
        keys = self._r.zrangebyscore(self._k("blob-at"), "-inf", f"({before_ms}")
        if keys:
            pipe = self._r.pipeline()
            pipe.hdel(self._k("blobs"), *keys)
            pipe.zrem(self._k("blob-at"), *keys)
            pipe.execute()
        return len(keys)

    # ---- counters and documents -----------------------------------------------------------
    def next_number(self, name: str) -> int:
        return int(self._r.hincrby(self._k("counters"), name, 1))

    def read(self, kind: str, key: str) -> Any:
        found = held.cached(kind, key)
        if found is not held.MISSING:
            return found
        data = self._r.hget(self._k("doc", kind), key)
        value = None if data is None else orjson.loads(data)
        held.keep(kind, key, value)
        return value

    def prefetch(self, documents: Sequence[tuple[str, str]], task_id: str | None = None) -> None:
        """Read documents (and the task the request names) into the request's hold in one
        round trip."""
        read = self._to_read(documents, task_id)
        if read is not None:
            wanted, hashes, fields = read
            self._keep(wanted, task_id, self._lane.call(self._read, hashes, fields))

    def prefetch_soon(
        self, documents: Sequence[tuple[str, str]], task_id: str | None = None
    ) -> Awaitable[None] | None:
        """`prefetch` pipelined with the other requests' on this event loop (see `Pipeline`);
        blocking, then None, where it cannot be."""
        read = self._to_read(documents, task_id)
        if read is None:
            return None
        wanted, hashes, fields = read
        waiting = self._pipe.send(self._read, hashes, fields)
        if waiting is None:
            self._keep(wanted, task_id, self._lane.call(self._read, hashes, fields))
            return None
        return self._finish(waiting, wanted, task_id, hashes, fields)

    async def _finish(
        self,
        waiting: Awaitable[Any],
        wanted: list[tuple[str, str]],
        task_id: str | None,
        hashes: list[str],
        fields: list[str],
    ) -> None:
        found = await waiting
        if found is ORDINARY or isinstance(found, Exception):  # (NOSCRIPT: loaded that way)
            found = self._lane.call(self._read, hashes, fields)
        self._keep(wanted, task_id, found)

    def _to_read(
        self, documents: Sequence[tuple[str, str]], task_id: str | None
    ) -> tuple[list[tuple[str, str]], list[str], list[str]] | None:
        """What a read-ahead asks for (documents not held yet, the task), or None: nothing."""
        if not held.holding():
            return None
        wanted = [(k, key) for k, key in documents if held.cached(k, key) is held.MISSING]
        if not wanted and task_id is None:
            return None
        hashes = [self._k("doc", kind) for kind, _ in wanted]
        fields = [key for _, key in wanted]
        if task_id is not None:
            hashes.append(self._k("tasks"))
            fields.append(task_id)
        return wanted, hashes, fields

    @staticmethod
    def _keep(wanted: list[tuple[str, str]], task_id: str | None, found: Any) -> None:
        for (kind, key), data in zip(wanted, found, strict=False):
            held.keep(kind, key, None if data is None else orjson.loads(data))
        if task_id is not None:
            held.keep(held.PREFETCHED_TASK, task_id, found[-1])

    def update(self, kind: str, key: str, change: Change[R]) -> R:
        name = self._k("doc", kind)
        with self._r.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(name)
                    data = pipe.hget(name, key)
                    old = None if data is None else orjson.loads(data)
                    new, result = change(old)
                    pipe.multi()
                    if new is None:
                        pipe.hdel(name, key)
                    elif new is not UNCHANGED:
                        pipe.hset(name, key, orjson.dumps(new))
                    pipe.execute()
                    held.keep(kind, key, old if new is UNCHANGED else new)
                    return result
                except redis.WatchError:
                    continue  # another process changed it first: read again
                finally:
                    pipe.reset()

    def documents(self, kind: str) -> list[tuple[str, Any]]:
        found = self._r.hgetall(self._k("doc", kind))
        return sorted((k.decode(), orjson.loads(v)) for k, v in found.items())

    # ---- journals -------------------------------------------------------------------------
    def append(self, journal: str, entry: tuple[Any, ...], keep: int) -> None:
        self._journal.add(journal, entry, keep)

    def _write_entries(self, journal: str, entries: Sequence[tuple[Any, ...]], keep: int) -> None:
        keys = [self._k("journal", journal), self._k("journal-seq", journal)]
        self._append(keys=keys, args=[keep, *(orjson.dumps(list(entry)) for entry in entries)])

    def flush(self) -> None:
        self._journal.flush()

    def entries(self, journal: str) -> list[tuple[int, tuple[Any, ...]]]:
        self.flush()
        rows = (orjson.loads(r) for r in self._r.lrange(self._k("journal", journal), 0, -1))
        return [(int(seq), tuple(entry)) for seq, entry in rows]

    def retain(self, journal: str, wanted: Callable[[tuple[Any, ...]], bool]) -> None:
        name = self._k("journal", journal)
        self.flush()
        with self._r.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(name)
                    rows = pipe.lrange(name, 0, -1)
                    kept = [r for r in rows if wanted(tuple(orjson.loads(r)[1]))]
                    pipe.multi()
                    pipe.delete(name)
                    if kept:
                        pipe.rpush(name, *kept)
                    pipe.execute()
                    return
                except redis.WatchError:
                    continue
                finally:
                    pipe.reset()

    # ---- the callback queue ---------------------------------------------------------------
    def _queue_keys(self) -> list[str]:
        return [self._k("queue"), self._k("claimed"), self._k("items")]

    def push(self, due_ms: int, task_id: str, url: str, attempt: int) -> None:
        item_id = str(self.next_number("queue-ids"))
        pipe = self._r.pipeline()
        pipe.hset(self._k("items"), item_id, orjson.dumps([due_ms, task_id, url, attempt]))
        pipe.zadd(self._k("queue"), {item_id: due_ms})
        pipe.execute()

    def claim(self, now_ms: int, lease_s: float) -> list[Claim]:
        wall = time.time()
        lease = wall + lease_s
        flat = self._claim(keys=self._queue_keys(), args=[now_ms, wall, repr(lease)])
        claims = []
        for item_id, data in zip(flat[::2], flat[1::2], strict=True):
            due, task_id, url, attempt = orjson.loads(data)
            claims.append(Claim(int(item_id), int(due), task_id, url, int(attempt), lease))
        return sorted(claims, key=lambda c: (c.due_ms, c.id))

    def renew(self, claim: Claim, lease_s: float) -> Claim | None:
        lease = time.time() + lease_s
        args: list[str | int] = [claim.id, repr(claim.lease), repr(lease)]
        renewed = self._renew(keys=[self._k("claimed")], args=args)
        return claim._replace(lease=lease) if renewed else None

    def settle(self, claim: Claim, retry_at_ms: int | None) -> None:
        item = b""
        if retry_at_ms is not None:
            item = orjson.dumps([retry_at_ms, claim.task_id, claim.url, claim.attempt + 1])
        retry = "" if retry_at_ms is None else str(retry_at_ms)
        self._settle(keys=self._queue_keys(), args=[claim.id, retry, item, repr(claim.lease)])

    def release(self, claim: Claim) -> None:
        item = orjson.dumps([claim.due_ms, claim.task_id, claim.url, claim.attempt])
        args: list[str | int | bytes] = [claim.id, claim.due_ms, item, repr(claim.lease)]
        self._settle(keys=self._queue_keys(), args=args)

    def next_due(self) -> int | None:
        first = self._r.zrange(self._k("queue"), 0, 0, withscores=True)
        lost = self._r.zrangebyscore(self._k("claimed"), "-inf", time.time(), 0, 1)
        if lost:  # a claim whose lease ended is due again at once
            return 0
        return int(first[0][1]) if first else None

    def pending(self) -> int:
        pipe = self._r.pipeline()
        pipe.zcard(self._k("queue"))
        pipe.zcard(self._k("claimed"))
        return sum(int(n) for n in pipe.execute())

    # ---- the whole ------------------------------------------------------------------------
    def clear(self) -> None:
        self.flush()
        counters = self._k("counters")
        names = list(self._r.scan_iter(match=self.prefix + "*", count=1000))
        # The counters stay: no id is ever reused.
        doomed = [n for n in names if n.decode() != counters]
        for start in range(0, len(doomed), 500):
            self._r.delete(*doomed[start : start + 500])

    def close(self) -> None:
        self.flush()
        self._pipe.close()
        self._lane.close()
        self._r.close()

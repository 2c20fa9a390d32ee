"""Worker functions run in other processes by the concurrency and compaction tests.

They live in an importable module (not in the test files) so that ``multiprocessing``'s 'spawn'
context can find them by name. Each worker opens its own database on the given folder, does its
work, closes the database, and reports what it did through a queue or a pipe.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import random
from multiprocessing.connection import Connection
from typing import Any

from asyncjsondb import AsyncJSONDB

SPAWN = multiprocessing.get_context("spawn")
JOIN_TIMEOUT = 60.0


def padded(key: str) -> dict[str, Any]:
    """The value a worker stores under ``key``: derived from it, so a reader can check it."""
    return {"key": key, "pad": "x" * (len(key) * 7 % 41)}


# -- increments -------------------------------------------------------------------------------


def increment(path: str, durability: str, count: int, barrier: Any, results: Any) -> None:
    """Increment ``counter`` ``count`` times, in bursts of concurrent tasks; report the results."""
    results.put(asyncio.run(_increment(path, durability, count, barrier)))


async def _increment(path: str, durability: str, count: int, barrier: Any) -> list[int]:
    async with AsyncJSONDB(path, durability=durability) as db:
        c = await db.get_collection("c")
        barrier.wait()  # every process is open and ready: start contending together
        returned: list[int] = []
        for start in range(0, count, 10):
            burst = [c.increment("counter") for _ in range(min(10, count - start))]
            returned += await asyncio.gather(*burst)
        return returned


def read_all(path: str, name: str) -> dict[str, Any]:
    """The whole collection, as a process that never touched the folder before sees it."""
    return asyncio.run(_read_all(path, name))


async def _read_all(path: str, name: str) -> dict[str, Any]:
    async with AsyncJSONDB(path) as db:
        return dict(await (await db.get_collection(name)).items())


def in_fresh_process(function: Any, *args: Any) -> Any:
    """Run ``function(*args)`` in a new spawned process and return its result."""
    results = SPAWN.Queue()
    process = SPAWN.Process(target=_put_result, args=(results, function, *args))
    process.start()
    result = results.get(timeout=JOIN_TIMEOUT)
    process.join(JOIN_TIMEOUT)
    return result


def _put_result(results: Any, function: Any, *args: Any) -> None:
    results.put(function(*args))


# -- mixed operations -------------------------------------------------------------------------


def mixed(path: str, durability: str, index: int, steps: int, barrier: Any, results: Any) -> None:
    """Random seeded writes on own keys, plus increments and updates of shared documents.

    Reports the state its own keys must end in (no other process touches them) and how many
    times it incremented each shared counter.
    """
    results.put(asyncio.run(_mixed(path, durability, index, steps, barrier)))


async def _mixed(
    path: str, durability: str, index: int, steps: int, barrier: Any
) -> dict[str, Any]:
    rng = random.Random(index)
    own: dict[str, Any] = {}
    bumps = {"shared": 0, "bare": 0}
    doc_step: int | None = None
    me = f"p{index}"
    async with AsyncJSONDB(path, durability=durability, cache_ttl=0) as db:
        c = await db.get_collection("c")
        barrier.wait()
        for step in range(steps):
            key = f"{me}-{rng.randrange(12)}"
            roll = rng.random()
            if roll < 0.2:
                await c.set(key, {"step": step})
                own[key] = {"step": step}
            elif roll < 0.3:
                assert await c.delete(key) == (key in own)
                own.pop(key, None)
            elif roll < 0.4:
                batch = {f"{me}-{rng.randrange(12)}": {"batch": step, "i": i} for i in range(3)}
                await c.set_many(batch)
                own.update(batch)
            elif roll < 0.45:
                keys = [f"{me}-{rng.randrange(12)}" for _ in range(3)]
                await c.delete_many(keys)
                for gone in keys:
                    own.pop(gone, None)
            elif roll < 0.55:
                assert await c.update(key, {"u": step}) == (key in own)
                if key in own:
                    own[key] = {**own[key], "u": step}
            elif roll < 0.75:
                await c.increment("shared", me)
                await c.increment("shared", "total")
                bumps["shared"] += 1
            elif roll < 0.85:
                await c.increment("bare")
                bumps["bare"] += 1
            else:
                assert await c.update("doc", {me: step, "last": me})
                doc_step = step
        return {"index": index, "own": own, "bumps": bumps, "doc_step": doc_step}


# -- compaction racing writers ----------------------------------------------------------------


def compaction_writer(
    path: str,
    durability: str,
    index: int,
    min_writes: int,
    compactions: Any,
    enough: int,
    results: Any,
) -> None:
    """Write own keys until ``min_writes`` are done and another process compacted ``enough`` times.

    Stopping on the compactor's count (not on time) makes sure the writes raced compactions.
    """
    results.put(
        asyncio.run(_compaction_writer(path, durability, index, min_writes, compactions, enough))
    )


async def _compaction_writer(
    path: str, durability: str, index: int, min_writes: int, compactions: Any, enough: int
) -> dict[str, Any]:
    own: dict[str, Any] = {}
    increments = 0
    async with AsyncJSONDB(path, durability=durability) as db:
        c = await db.get_collection("c")
        n = 0
        while n < min_writes or compactions.value < enough:
            key = f"w{index}-{n}"
            if n % 7 == 3:
                batch = {f"{key}-{i}": padded(f"{key}-{i}") for i in range(3)}
                await c.set_many(batch)
                own.update(batch)
            else:
                await c.set(key, padded(key))
                own[key] = padded(key)
            if n % 5 == 4:
                gone = f"w{index}-{n - 2}"
                assert await c.delete(gone) == (gone in own)
                own.pop(gone, None)
            if n % 3 == 0:
                await c.increment("counter")
                increments += 1
            n += 1
        return {"index": index, "own": own, "increments": increments, "writes": n}


def compactor(path: str, compactions: Any, stop: Any, results: Any) -> None:
    """Call ``db.compact()`` in a loop until told to stop; count the compactions that did work."""
    results.put(asyncio.run(_compactor(path, compactions, stop)))


async def _compactor(path: str, compactions: Any, stop: Any) -> int:
    calls = 0
    async with AsyncJSONDB(path) as db:
        while not stop.is_set():
            calls += 1
            if await db.compact() == ["c"]:
                with compactions.get_lock():
                    compactions.value += 1
            await asyncio.sleep(0.001)
    return calls


# -- a peer process driven step by step -------------------------------------------------------


class Peer:
    """Another process holding its own open database, doing one call at a time when asked."""

    def __init__(self, path: str, **options: Any) -> None:
        self._conn, child = SPAWN.Pipe()
        self._process = SPAWN.Process(target=serve, args=(child, path, options))
        self._process.start()
        child.close()

    def call(self, collection: str, method: str, *args: Any) -> Any:
        self._conn.send((collection, method, args))
        if not self._conn.poll(JOIN_TIMEOUT):
            raise TimeoutError(f"peer did not answer {method}{args}")
        status, result = self._conn.recv()
        if status != "ok":
            raise AssertionError(f"peer failed {method}{args}: {result}")
        return result

    def close(self) -> None:
        """Close the peer's database and wait for the process to end."""
        self.call("", "close")
        self._process.join(JOIN_TIMEOUT)

    def vanish(self) -> None:
        """End the peer without closing its database, as a crash would (journal left behind)."""
        self._conn.send(("", "exit", ()))
        self._process.join(JOIN_TIMEOUT)


def serve(conn: Connection, path: str, options: dict[str, Any]) -> None:
    asyncio.run(_serve(conn, path, options))


async def _serve(conn: Connection, path: str, options: dict[str, Any]) -> None:
    db = AsyncJSONDB(path, **options)
    while True:
        name, method, args = conn.recv()  # blocking: nothing else runs on this loop
        if method == "exit":
            os._exit(0)
        try:
            if method == "close":
                result: Any = await db.close()
            else:
                collection = await db.get_collection(name)
                result = await getattr(collection, method)(*args)
        except Exception as exc:  # reported to the test, which fails with it
            conn.send(("error", repr(exc)))
            continue
        conn.send(("ok", result))
        if method == "close":
            return

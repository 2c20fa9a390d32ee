"""Worker functions run in other processes by the concurrency and compaction tests.

They live in an importable module (not in the test files) so that ``multiprocessing``'s 'spawn'
context can find them by name. Each worker opens its own database on the given folder, does its
work, closes the database, and reports what it did through a queue or a pipe.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import queue
import random
import time
from multiprocessing.connection import Connection
from typing import Any

from asyncjsondb import AsyncJSONDB

SPAWN = multiprocessing.get_context("spawn")
JOIN_TIMEOUT = 30.0  # below the tests' pytest timeouts, so a hang fails with a clear message


def padded(key: str) -> dict[str, Any]:
    """The value a worker stores under ``key``: derived from it, so a reader can check it."""
    return {"key": key, "pad": "x" * (len(key) * 7 % 41)}


class Workers:
    """Processes started together whose results are collected while watching for one that dies.

    A worker that fails makes the test fail at once (not after a timeout); on leaving the
    ``with`` block every worker still running is killed, so a failed test leaves no process behind.
    """

    def __init__(self, context: Any = SPAWN) -> None:
        self.context = context
        self.processes: list[Any] = []
        self._queue = context.Queue()
        self._results: dict[int, Any] = {}

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, *exc_info: object) -> None:
        for process in self.processes:
            if process.is_alive():
                process.kill()
            process.join(JOIN_TIMEOUT)

    def start(self, function: Any, *args: Any) -> int:
        """Run ``function(*args)`` in a new process; return its index for ``take``."""
        index = len(self.processes)
        process = self.context.Process(
            target=_report, args=(self._queue, index, function, *args), daemon=True
        )
        process.start()
        self.processes.append(process)
        return index

    def take(self, indices: list[int] | None = None) -> list[Any]:
        """The results of those workers (all by default), in that order, once all have them."""
        wanted = list(range(len(self.processes))) if indices is None else indices
        deadline = time.monotonic() + JOIN_TIMEOUT
        while not all(index in self._results for index in wanted):
            try:
                index, result = self._queue.get(timeout=0.1)
            except queue.Empty:
                failed = [p.exitcode for p in self.processes if p.exitcode not in (None, 0)]
                assert not failed, f"a worker process failed (exit codes {failed}); see stderr"
                assert time.monotonic() < deadline, "workers gave no result in time"
                continue
            self._results[index] = result
        for index in wanted:
            self.processes[index].join(JOIN_TIMEOUT)
            assert self.processes[index].exitcode == 0
        return [self._results[index] for index in wanted]


def _report(results: Any, index: int, function: Any, *args: Any) -> None:
    results.put((index, function(*args)))


def in_fresh_process(function: Any, *args: Any) -> Any:
    """Run ``function(*args)`` in a new spawned process and return its result."""
    with Workers() as workers:
        workers.start(function, *args)
        return workers.take()[0]


# -- increments -------------------------------------------------------------------------------


def increment(path: str, durability: str, count: int, barrier: Any) -> list[float]:
    """Increment ``counter`` ``count`` times, in bursts of concurrent tasks; return the results."""
    return asyncio.run(_increment(path, durability, count, barrier))


async def _increment(path: str, durability: str, count: int, barrier: Any) -> list[float]:
    async with AsyncJSONDB(path, durability=durability) as db:
        c = await db.get_collection("c")
        barrier.wait(JOIN_TIMEOUT)  # every process is open and ready: start contending together
        returned: list[float] = []
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


# -- mixed operations -------------------------------------------------------------------------


def mixed(path: str, durability: str, index: int, steps: int, barrier: Any) -> dict[str, Any]:
    """Random seeded writes on own keys, plus increments and updates of shared documents.

    Reports the state its own keys must end in (no other process touches them) and how many
    times it incremented each shared counter.
    """
    return asyncio.run(_mixed(path, durability, index, steps, barrier))


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
        barrier.wait(JOIN_TIMEOUT)
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
) -> dict[str, Any]:
    """Write own keys until ``min_writes`` are done and another process compacted ``enough`` times.

    Stopping on the compactor's count (not on time) makes sure the writes raced compactions.
    """
    return asyncio.run(_compaction_writer(path, durability, index, min_writes, compactions, enough))


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


def compactor(path: str, compactions: Any, stop: Any) -> int:
    """Call ``db.compact()`` in a loop until told to stop; count the compactions that did work."""
    return asyncio.run(_compactor(path, compactions, stop))


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
        self._process = SPAWN.Process(target=serve, args=(child, path, options), daemon=True)
        self._process.start()
        child.close()

    def call(self, collection: str, method: str, *args: Any) -> Any:
        self._conn.send((collection, method, args))
        deadline = time.monotonic() + JOIN_TIMEOUT
        while not self._conn.poll(0.1):
            assert self._process.is_alive(), f"peer died during {method}{args}; see stderr"
            assert time.monotonic() < deadline, f"peer did not answer {method}{args}"
        status, result = self._conn.recv()
        assert status == "ok", f"peer failed {method}{args}: {result}"
        return result

    def close(self) -> None:
        """Close the peer's database and wait for the process to end."""
        if self._process.is_alive():
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
            result: Any = None
            if method == "close":
                await db.close()
            else:  # no collection name: a method of the database itself
                target = await db.get_collection(name) if name else db
                result = await getattr(target, method)(*args)
        except Exception as exc:  # reported to the test, which fails with it
            conn.send(("error", repr(exc)))
            continue
        conn.send(("ok", result))
        if method == "close":
            return

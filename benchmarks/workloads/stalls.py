"""The longest event-loop stall of each API call on a large collection.

A ticker task sleeps 1 ms at a time and records how late it wakes; while one call runs, its
worst lateness is how long every other request of the worker would have waited. The calls run
one after another on ``scale.large`` records: first the open of the closed files (a new
database object and its first ``get``), then get, set, count, keys, values, items, a whole
``iter_items``, find (a lambda; ``where``), count (``where``), get_many of a third of the keys,
backup and compact. aiosqlite FULL runs the same calls (rows decoded with orjson on the loop,
filters in SQL, backup through its backup API, compact as ``VACUUM``); the idle loop's own
lateness is the limit.

On a machine shared with other work, a late wake may be the operating system's doing, not the
loop's: each row's note also gives the longest single step the loop ran in the call, in the
loop thread's CPU time (``Steps``). A stall that the step does not show was spent waiting: for
the CPU, or for the GIL held by another thread (the pool's open or backup).
"""

from __future__ import annotations

import asyncio
import asyncio.events
import contextlib
import functools
import gc
import math
import os
import resource
import shutil
import sys
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import aiosqlite
import orjson

from asyncjsondb import AsyncJSONDB

from ..measure import Row, spread
from ..peers import filled
from ..peers.asyncjsondb_peer import COLLECTION, AsyncJSONDBStore
from ..peers.sqlite_peer import SQLiteStore
from ..records import dataset, key
from ..settings import Scale

WORKLOAD = "loop stall per call"
TICK = 0.001
AGE = 50
Call = Callable[[], Awaitable[object]]


# Milliseconds: with BENCH_TRACE_STEPS=6, every loop step and garbage collection longer than
# that is written to stderr as it happens (which callback, CPU and wall time), to find a stall.
TRACE_ABOVE = float(os.environ.get("BENCH_TRACE_STEPS", "inf")) / 1000
TRACING = not math.isinf(TRACE_ABOVE)


class Steps:
    """The loop thread's CPU time of each callback the loop runs, while installed: the work the
    loop did in one go, whatever else the machine did meanwhile."""

    def __init__(self) -> None:
        self.longest = 0.0

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        original = asyncio.events.Handle._run
        steps = self

        def run(handle: asyncio.events.Handle) -> None:
            started, wall = time.thread_time(), time.perf_counter()
            usage = _thread_usage() if TRACING else None
            try:
                original(handle)
            finally:
                cpu = time.thread_time() - started
                steps.longest = max(steps.longest, cpu)
                if cpu > TRACE_ABOVE and usage is not None:
                    wall = time.perf_counter() - wall
                    after = _thread_usage()  # its user/system split is by clock ticks: left out
                    faults = after.ru_minflt - usage.ru_minflt, after.ru_majflt - usage.ru_majflt
                    _trace(
                        f"step {cpu * 1000:.1f} ms CPU ({faults[0]} minor, {faults[1]} major page"
                        f" faults), {wall * 1000:.1f} ms wall: {handle!r}"
                    )

        asyncio.events.Handle._run = run  # type: ignore[method-assign,assignment]
        if TRACING:
            gc.callbacks.append(_traced_collection)
        try:
            yield
        finally:
            asyncio.events.Handle._run = original  # type: ignore[method-assign]
            if TRACING:
                gc.callbacks.remove(_traced_collection)


_collection_started = 0.0
_traced_call = ""  # the call being measured, named in the trace


def _traced_collection(phase: str, info: dict[str, int]) -> None:
    global _collection_started
    if phase == "start":
        _collection_started = time.perf_counter()
        return
    seconds = time.perf_counter() - _collection_started
    if seconds > TRACE_ABOVE:
        thread = threading.current_thread().name
        _trace(f"gc generation {info['generation']} {seconds * 1000:.1f} ms in {thread}")


def _thread_usage() -> resource.struct_rusage:
    return resource.getrusage(getattr(resource, "RUSAGE_THREAD", resource.RUSAGE_SELF))


def _trace(line: str) -> None:
    print(f"  [stalls: {_traced_call}] {line[:400]}", file=sys.stderr, flush=True)


class Ticker:
    """Sleeps ``TICK`` at a time and keeps (when it was due, how late it woke)."""

    def __init__(self) -> None:
        self.wakes: list[tuple[float, float]] = []
        self.steps = Steps()

    async def run(self) -> None:
        while True:
            due = time.perf_counter() + TICK
            await asyncio.sleep(TICK)
            self.wakes.append((due, time.perf_counter() - due))

    async def lateness(self, call: Call, name: str = "") -> tuple[float, list[float]]:
        """Seconds ``call()`` took, and for each wake that was waited for meanwhile, how long
        it waited after the call started (a wake due just before the call waits through it).
        ``steps.longest`` is then the longest step of the loop during the call."""
        global _traced_call
        await asyncio.sleep(5 * TICK)
        _traced_call = name
        self.steps.longest = 0.0
        started = time.perf_counter()
        result = await call()
        ended = time.perf_counter()
        await asyncio.sleep(0)  # ends the step the call ended in, so that it is counted
        longest = self.steps.longest  # before the step that frees the result
        _traced_call = f"after {name}, freeing its result"
        await asyncio.sleep(3 * TICK)  # the wake that was due when the call ended
        del result  # freeing a million values is the caller's stall, not the call's
        self.steps.longest = longest
        waits = [
            due + late - max(due, started)
            for due, late in self.wakes
            if due + late > started and due <= ended
        ]
        return ended - started, waits


@contextlib.asynccontextmanager
async def ticking() -> AsyncIterator[Ticker]:
    ticker = Ticker()
    with ticker.steps.installed():
        task = asyncio.create_task(ticker.run())
        try:
            yield ticker
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def _measure(ticker: Ticker, system: str, size: int, calls: dict[str, Call]) -> list[Row]:
    rows = []
    for name, call in calls.items():
        seconds, late = await ticker.lateness(call, f"{system} {name}")
        worst = max(late, default=0.0)
        step = ticker.steps.longest
        note = f"longest stall {worst * 1000:,.1f} ms, step {step * 1000:,.1f} ms"
        rows.append(Row(WORKLOAD, size, f"{system} {name}", 1, seconds, worst, note, spread(late)))
    return rows


async def _asyncjsondb(ticker: Ticker, folder: Path, size: int) -> list[Row]:
    database = AsyncJSONDB(folder)
    opened: dict[str, Any] = {}

    async def open_and_get() -> None:
        opened["collection"] = collection = await database.get_collection(COLLECTION)
        await collection.get(key(size // 2))

    try:
        rows = await _measure(ticker, "asyncjsondb", size, {"open": open_and_get})
        collection = opened["collection"]
        calls: dict[str, Call] = {
            "get": functools.partial(collection.get, key(size // 3)),
            "set": functools.partial(collection.set, key(size), dataset(size)[0]),
            "count": collection.count,
            "keys": collection.keys,
            "values": collection.values,
            "items": collection.items,
            "iter_items": functools.partial(_iterated, collection),
            "find": functools.partial(collection.find, lambda value: value["age"] > AGE),
            "find where": functools.partial(collection.find, where={"age": {"$gt": AGE}}),
            "count where": functools.partial(collection.count, {"age": {"$gt": AGE}}),
            "get_many": functools.partial(collection.get_many, _some_keys(size)),
            "backup": functools.partial(database.backup, folder.parent / "stalls-backup"),
            "compact": database.compact,
        }
        return rows + await _measure(ticker, "asyncjsondb", size, calls)
    finally:
        await database.close()


async def _iterated(collection: Any) -> int:
    count = 0
    async for _ in collection.iter_items():
        count += 1
    return count


def _some_keys(size: int) -> list[str]:
    return [key(index) for index in range(0, size, 3)]


async def _aiosqlite(ticker: Ticker, folder: Path, size: int) -> list[Row]:
    path = folder / "bench.sqlite"
    connections: list[aiosqlite.Connection] = []

    async def fetch(sql: str, *parameters: object) -> list[Any]:
        return list(await connections[0].execute_fetchall(sql, parameters))

    async def open_and_get() -> None:
        connections.append(await aiosqlite.connect(path, isolation_level=None))
        await connections[0].execute("PRAGMA synchronous = FULL")
        await get(size // 2)

    async def get(index: int) -> Any:
        rows = await fetch("SELECT v FROM kv WHERE k = ?", key(index))
        return orjson.loads(rows[0][0])

    async def values(sql: str = "SELECT v FROM kv", *parameters: object) -> list[Any]:
        return [orjson.loads(row[0]) for row in await fetch(sql, *parameters)]

    async def items() -> list[tuple[str, Any]]:
        return [(row[0], orjson.loads(row[1])) for row in await fetch("SELECT k, v FROM kv")]

    async def iterated() -> int:
        count = 0
        async with connections[0].execute("SELECT k, v FROM kv") as cursor:
            async for row in cursor:
                orjson.loads(row[1])
                count += 1
        return count

    async def get_many() -> dict[str, Any]:
        wanted = orjson.dumps(_some_keys(size)).decode()
        sql = "SELECT k, v FROM kv WHERE k IN (SELECT value FROM json_each(?))"
        return {row[0]: orjson.loads(row[1]) for row in await fetch(sql, wanted)}

    async def backup() -> None:
        target = await aiosqlite.connect(folder.parent / "stalls-backup.sqlite")
        try:
            await connections[0].backup(target)
        finally:
            await target.close()

    record = orjson.dumps(dataset(size)[0]).decode()
    calls: dict[str, Call] = {
        "get": functools.partial(get, size // 3),
        "set": functools.partial(
            fetch, "INSERT OR REPLACE INTO kv VALUES (?, ?)", key(size), record
        ),
        "count": functools.partial(fetch, "SELECT count(*) FROM kv"),
        "keys": functools.partial(fetch, "SELECT k FROM kv"),
        "values": values,
        "items": items,
        "iter_items": iterated,
        "find": functools.partial(
            values, "SELECT v FROM kv WHERE json_extract(v, '$.age') > ?", AGE
        ),
        "find where": functools.partial(
            values, "SELECT v FROM kv WHERE json_extract(v, '$.age') > ?", AGE
        ),
        "count where": functools.partial(
            fetch, "SELECT count(*) FROM kv WHERE json_extract(v, '$.age') > ?", AGE
        ),
        "get_many": get_many,
        "backup": backup,
        "compact": functools.partial(fetch, "VACUUM"),
    }
    try:
        rows = await _measure(ticker, "aiosqlite", size, {"open": open_and_get})
        return rows + await _measure(ticker, "aiosqlite", size, calls)
    finally:
        for connection in connections:
            await connection.close()


async def run(scale: Scale, folder: Path) -> list[Row]:
    size = scale.large
    ours, theirs = folder / "stalls-asyncjsondb", folder / "stalls-aiosqlite"
    await filled(functools.partial(AsyncJSONDBStore, "asyncjsondb"), ours, dataset(size))
    await filled(functools.partial(SQLiteStore, "FULL"), theirs, dataset(size))
    gc.collect()
    gc.freeze()  # the benchmark's own records stay out of the collector's scans
    try:
        async with ticking() as ticker:
            idle = await _measure(
                ticker, "idle loop", size, {"(limit)": functools.partial(asyncio.sleep, 0.2)}
            )
            rows = await _asyncjsondb(ticker, ours, size)
            rows += await _aiosqlite(ticker, theirs, size)
    finally:
        gc.unfreeze()
        for where in (ours, theirs, folder / "stalls-backup", folder / "stalls-backup.sqlite"):
            if where.is_dir():
                shutil.rmtree(where, ignore_errors=True)
            else:
                where.unlink(missing_ok=True)
    return idle + rows

"""Several processes increment one key at once; the count must come out exact.

Children are spawned (not forked: the parent has threads), open their store, then wait at a
barrier so that start-up is not timed; the time is from the barrier to the last child's end.
AsyncJSONDB on PostgreSQL runs each round in a fresh schema that all its processes share.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import multiprocessing
import multiprocessing.queues
import shutil
import threading
import time
from collections.abc import Callable, Collection
from multiprocessing.synchronize import Barrier
from pathlib import Path

from ..measure import Row, round_robin
from ..peers import Counter
from ..peers.asyncjsondb_peer import AsyncJSONDBStore
from ..peers.diskcache_peer import DiskcacheStore
from ..peers.postgres_peer import NAME as POSTGRES
from ..peers.postgres_peer import PostgresStore, enabled, shared_schema
from ..peers.sqlite_peer import SQLiteStore
from ..settings import Scale

COUNTERS: dict[str, Callable[[], Counter]] = {
    "asyncjsondb fsync": functools.partial(AsyncJSONDBStore, "asyncjsondb fsync"),
    "asyncjsondb flush": functools.partial(
        AsyncJSONDBStore, "asyncjsondb flush", durability="flush"
    ),
    "aiosqlite FULL": functools.partial(SQLiteStore, "FULL"),
    "diskcache": DiskcacheStore,
}
POSTGRES_COUNTERS: dict[str, Callable[[], Counter]] = {
    f"{POSTGRES} fsync": functools.partial(PostgresStore, f"{POSTGRES} fsync"),
    f"{POSTGRES} flush": functools.partial(PostgresStore, f"{POSTGRES} flush", durability="flush"),
}
KEY = "counter"
_TIMEOUT = 300.0


def child(
    system: str,
    folder: str,
    increments: int,
    barrier: Barrier,
    results: multiprocessing.queues.Queue[object],
) -> None:
    """Entry point of one spawned process: put its end time, or its error, in ``results``."""
    try:
        results.put(asyncio.run(_child(system, Path(folder), increments, barrier)))
    except BaseException as exc:
        barrier.abort()
        results.put(f"{type(exc).__name__}: {exc}")


async def _child(system: str, folder: Path, increments: int, barrier: Barrier) -> float:
    store = _counter(system)
    await store.open(folder)
    try:
        barrier.wait(_TIMEOUT)
        for _ in range(increments):
            await store.increment(KEY)
        return time.monotonic()
    finally:
        await store.close()


async def run(scale: Scale, folder: Path, only: Collection[str] | None = None) -> list[Row]:
    """Every counter (PostgreSQL's while a server is in use), or the ``only`` ones."""
    counters = {**COUNTERS, **(POSTGRES_COUNTERS if enabled() else {})}
    systems = [system for system in counters if only is None or system in only]
    totals: dict[str, list[int]] = {system: [] for system in systems}

    async def measure(index: int, round_number: int) -> tuple[int, float]:
        system = systems[index]
        where = folder / f"processes-{index}"
        schema = shared_schema(where) if system in POSTGRES_COUNTERS else contextlib.nullcontext()
        try:
            async with schema:
                await _prepare(system, where)
                seconds = _race(system, where, scale.processes, scale.increments)
                totals[system].append(await _count(system, where))
        finally:
            shutil.rmtree(where, ignore_errors=True)
        return scale.processes * scale.increments, seconds

    results = await round_robin(len(systems), scale.rounds, scale.budget, measure)
    expected = scale.processes * scale.increments
    workload = f"{scale.processes} procs x {scale.increments} incr"
    rows = []
    for system, (done, seconds) in zip(systems, results, strict=True):
        wrong = [total for total in totals[system] if total != expected]
        total = wrong[0] if wrong else expected
        note = f"counter = {total}" + (f", expected {expected}!" if wrong else "")
        rows.append(Row(workload, 1, system, done, seconds, value=total, note=note))
    return rows


def _counter(system: str) -> Counter:
    return {**COUNTERS, **POSTGRES_COUNTERS}[system]()


async def _prepare(system: str, folder: Path) -> None:
    """Create the files (the tables) once, so that the children do not race to set them up."""
    store = _counter(system)
    await store.open(folder)
    await store.close()


async def _count(system: str, folder: Path) -> int:
    store = _counter(system)
    await store.open(folder)
    try:
        return await store.counter(KEY)
    finally:
        await store.close()


def _race(system: str, folder: Path, processes: int, increments: int) -> float:
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(processes + 1)
    results: multiprocessing.queues.Queue[object] = context.Queue()
    children = [
        context.Process(target=child, args=(system, str(folder), increments, barrier, results))
        for _ in range(processes)
    ]
    for process in children:
        process.start()
    started = time.monotonic()
    try:
        barrier.wait(_TIMEOUT)
        started = time.monotonic()
    except threading.BrokenBarrierError:
        pass  # a child failed to start: its error is in the queue
    try:
        ends = [results.get(timeout=_TIMEOUT) for _ in children]
    finally:
        for process in children:
            process.join(_TIMEOUT)
    errors = [end for end in ends if not isinstance(end, float)]
    if errors:
        raise RuntimeError(f"{system}: a child process failed: {errors[0]}")
    return max(end for end in ends if isinstance(end, float)) - started

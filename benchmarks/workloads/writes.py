"""Sequential sets into a collection of 0 / 10k / 100k records, and 1000 concurrent sets.

Each timed set writes a new key. The collection is filled first (untimed); for AsyncJSONDB with
``set_many`` and ``compact()``, so the timed sets start from a snapshot and an empty journal.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Sequence
from pathlib import Path

from ..measure import Row, ops_within, round_robin, timed
from ..peers import Writer, opened_all
from ..peers.asyncjsondb_peer import AsyncJSONDBStore
from ..peers.diskcache_peer import DiskcacheStore
from ..peers.limits import DictStore, RawAppend
from ..peers.postgres_peer import NAME as POSTGRES
from ..peers.postgres_peer import PostgresStore, if_enabled
from ..peers.sqlite_peer import SQLiteStore
from ..peers.tinydb_peer import TinyDBStore
from ..records import Record, dataset, fresh
from ..settings import Scale

WriterFactory = Callable[[], Writer]

FSYNC = functools.partial(AsyncJSONDBStore, "asyncjsondb fsync", durability="fsync")
FLUSH = functools.partial(AsyncJSONDBStore, "asyncjsondb flush", durability="flush")
RAW_FSYNC = functools.partial(RawAppend, sync=True)
RAW_FLUSH = functools.partial(RawAppend, sync=False)
PG_FSYNC = functools.partial(PostgresStore, f"{POSTGRES} fsync", durability="fsync")
PG_FLUSH = functools.partial(PostgresStore, f"{POSTGRES} flush", durability="flush")

DURABLE: list[WriterFactory] = [
    FSYNC,
    functools.partial(TinyDBStore, cached=False),
    functools.partial(SQLiteStore, "FULL"),
    RAW_FSYNC,
]
HANDED_TO_OS: list[WriterFactory] = [
    FLUSH,
    functools.partial(TinyDBStore, cached=True),
    functools.partial(SQLiteStore, "NORMAL"),
    DiskcacheStore,
    RAW_FLUSH,
    DictStore,
]
CONCURRENT: list[WriterFactory] = [FSYNC, FLUSH, functools.partial(SQLiteStore, "FULL"), RAW_FSYNC]


async def sequential(
    workload: str,
    factories: Sequence[WriterFactory],
    sizes: Sequence[int],
    ops: int,
    scale: Scale,
    folder: Path,
) -> list[Row]:
    rows = []
    for size in sizes:
        async with opened_all(factories, folder / "sequential", dataset(size)) as stores:
            batches = [fresh(size + number * ops, ops) for number in range(scale.rounds)]
            measure = functools.partial(_sets, stores, batches, scale.budget)
            results = await round_robin(len(stores), scale.rounds, scale.budget, measure, ops)
            for store, (done, seconds) in zip(stores, results, strict=True):
                note = f"cut by the {scale.budget:g} s budget" if done < ops else ""
                rows.append(Row(workload, size, store.name, done, seconds, note=note))
    return rows


async def _sets(
    stores: list[Writer],
    batches: list[list[tuple[int, Record]]],
    budget: float,
    system: int,
    round_number: int,
) -> tuple[int, float]:
    store = stores[system]
    calls = [functools.partial(store.set, *item) for item in batches[round_number]]
    return await ops_within(calls, budget)


async def run_durable(scale: Scale, folder: Path) -> list[Row]:
    systems = DURABLE + if_enabled(PG_FSYNC)
    return await sequential("set fsync", systems, scale.sizes, scale.durable_ops, scale, folder)


async def run_flush(scale: Scale, folder: Path) -> list[Row]:
    systems = HANDED_TO_OS + if_enabled(PG_FLUSH)
    return await sequential("set flush", systems, scale.sizes, scale.flush_ops, scale, folder)


async def run_million(scale: Scale, folder: Path) -> list[Row]:
    """The write rate of AsyncJSONDB against the limits, up to a million records."""
    sizes = scale.million_sizes
    durable = await sequential(
        "1M set fsync", [FSYNC, RAW_FSYNC], sizes, scale.durable_ops, scale, folder
    )
    flush = await sequential(
        "1M set flush", [FLUSH, RAW_FLUSH], sizes, scale.flush_ops, scale, folder
    )
    return durable + flush


async def run_concurrent(
    scale: Scale, folder: Path, systems: Sequence[WriterFactory] | None = None
) -> list[Row]:
    """``asyncio.gather`` of N sets; the synchronous limit simply runs them one after another."""
    count = scale.concurrent
    batches = [fresh(number * count, count) for number in range(scale.rounds)]
    systems = systems or CONCURRENT + if_enabled(PG_FSYNC, PG_FLUSH)
    async with opened_all(systems, folder / "concurrent", {}) as stores:

        async def measure(system: int, round_number: int) -> tuple[int, float]:
            burst = functools.partial(_burst, stores[system], batches[round_number])
            seconds, _ = await timed(burst)
            return count, seconds

        results = await round_robin(len(stores), scale.rounds, scale.budget, measure)
        return [
            Row("concurrent sets", 0, store.name, done, seconds)
            for store, (done, seconds) in zip(stores, results, strict=True)
        ]


async def _burst(store: Writer, items: list[tuple[int, Record]]) -> None:
    await asyncio.gather(*(store.set(index, value) for index, value in items))

"""Reads: ``get`` of random keys from a loaded collection, and a full scan with a filter.

Every system is loaded and warmed (one read) before the timed reads, so caches are fresh:
AsyncJSONDB runs with ``cache_ttl=3600``, TinyDB+cache has its table in memory. AsyncJSONDB on
PostgreSQL caches nothing: each read is a query.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Callable, Sequence
from pathlib import Path

from ..measure import Row, ops_within, round_robin, timed
from ..peers import Store, opened_all
from ..peers.asyncjsondb_peer import AsyncJSONDBStore
from ..peers.diskcache_peer import DiskcacheStore
from ..peers.limits import DictStore
from ..peers.postgres_peer import PostgresStore, if_enabled
from ..peers.sqlite_peer import SQLiteStore
from ..peers.tinydb_peer import TinyDBStore
from ..records import dataset
from ..settings import Scale

StoreFactory = Callable[[], Store]

OURS: StoreFactory = functools.partial(AsyncJSONDBStore, "asyncjsondb", cache_ttl=3600)
READERS: list[StoreFactory] = [
    OURS,
    functools.partial(TinyDBStore, cached=False),
    functools.partial(TinyDBStore, cached=True),
    functools.partial(SQLiteStore, "FULL", name="aiosqlite"),
    DiskcacheStore,
    DictStore,
]
AGE = 50


def readers() -> list[StoreFactory]:
    """The peers, and AsyncJSONDB on PostgreSQL when a server is in use."""
    return READERS + if_enabled(PostgresStore)


async def run_get(
    scale: Scale, folder: Path, systems: Sequence[StoreFactory] | None = None
) -> list[Row]:
    size = scale.get_records
    indexes = random.Random(11).choices(range(size), k=scale.get_ops)
    async with opened_all(systems or readers(), folder / "get", dataset(size)) as stores:
        for store in stores:
            await store.get(store.key_of(indexes[0]))

        async def measure(system: int, round_number: int) -> tuple[int, float]:
            store = stores[system]
            calls = [functools.partial(store.get, store.key_of(index)) for index in indexes]
            return await ops_within(calls, scale.budget)

        results = await round_robin(len(stores), scale.rounds, scale.budget, measure, len(indexes))
    rows = []
    for store, (done, seconds) in zip(stores, results, strict=True):
        note = f"cut by the {scale.budget:g} s budget" if done < len(indexes) else ""
        rows.append(Row("get random", size, store.name, done, seconds, note=note))
    return rows


async def run_find(
    scale: Scale, folder: Path, systems: Sequence[StoreFactory] | None = None
) -> list[Row]:
    records = dataset(scale.big)
    expected = sum(1 for value in records.values() if value["age"] > AGE)
    async with opened_all(systems or readers(), folder / "find", records) as stores:
        found = [len(await store.find_age_over(AGE)) for store in stores]

        async def measure(system: int, round_number: int) -> tuple[int, float]:
            seconds, _ = await timed(functools.partial(stores[system].find_age_over, AGE))
            return 1, seconds

        results = await round_robin(len(stores), scale.rounds, scale.budget, measure)
    rows = []
    for store, count, (_, seconds) in zip(stores, found, results, strict=True):
        note = f"{count} found" + ("" if count == expected else f", expected {expected}!")
        rows.append(Row(f"find age>{AGE}", scale.big, store.name, 1, seconds, note=note))
    return rows

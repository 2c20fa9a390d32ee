"""Write latency while a large collection compacts: every sequential durable set timed alone.

AsyncJSONDB (``durability='fsync'``) holds ``scale.large`` records, compacted, plus a journal of
1000 sets; ``compact()`` starts and sequential sets of new keys run until it returns. Beside it,
in the same run: the same sets with no compaction running, aiosqlite FULL into as many rows (it
folds its WAL into the database inline, every 1000 pages: its own compaction) and the raw
append + fsync, each for as many sets as ran during the compaction (at least ``durable_ops``).
"""

from __future__ import annotations

import asyncio
import functools
import gc
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from ..measure import Row, spread
from ..peers import Writer, opened_all
from ..peers.asyncjsondb_peer import COLLECTION, AsyncJSONDBStore
from ..peers.limits import RawAppend
from ..peers.sqlite_peer import SQLiteStore
from ..records import Record, dataset
from ..settings import Scale

WORKLOAD = "set during compact"
OURS = "asyncjsondb fsync"
JOURNAL = 1_000
SYSTEMS: list[Callable[[], Writer]] = [
    functools.partial(AsyncJSONDBStore, OURS, durability="fsync"),
    functools.partial(SQLiteStore, "FULL"),
    functools.partial(RawAppend, sync=True),
]


async def _set_timed(store: Writer, index: int, value: Record) -> float:
    started = time.perf_counter()
    await store.set(index, value)
    return time.perf_counter() - started


async def _latencies(
    store: Writer, indexes: Iterator[int], value: Record, count: int
) -> list[float]:
    return [await _set_timed(store, next(indexes), value) for _ in range(count)]


async def _during_compaction(
    store: AsyncJSONDBStore, indexes: Iterator[int], value: Record
) -> tuple[list[float], float]:
    """Latencies of the sets made while ``compact()`` ran, and the seconds it took."""
    started = time.perf_counter()
    compaction = asyncio.create_task(store.database.compact())
    await asyncio.sleep(0)  # let it start before the first set
    latencies = []
    while not compaction.done():
        latencies.append(await _set_timed(store, next(indexes), value))
    compacted = await compaction
    if COLLECTION not in compacted:
        raise RuntimeError(f"compact() did not compact {COLLECTION!r}: {compacted}")
    return latencies, time.perf_counter() - started


def _row(system: str, size: int, latencies: list[float], note: str) -> Row:
    worst = max(latencies, default=0.0)
    return Row(
        WORKLOAD,
        size,
        system,
        len(latencies),
        sum(latencies),
        value=worst,
        note=note,
        spread=spread(latencies),
    )


async def run(scale: Scale, folder: Path) -> list[Row]:
    size = scale.large
    records = dataset(size)
    value = records[0]
    indexes = iter(range(size, size * 10))  # new keys, one per set, shared by every system
    async with opened_all(SYSTEMS, folder / "compaction", records) as stores:
        ours, sqlite, raw = stores
        assert isinstance(ours, AsyncJSONDBStore)
        await asyncio.gather(*(ours.set(next(indexes), value) for _ in range(JOURNAL)))
        gc.collect()
        gc.freeze()  # the loaded records stay out of the collector's scans, as elsewhere
        try:
            during, seconds = await _during_compaction(ours, indexes, value)
            count = max(len(during), scale.durable_ops)
            quiet = await _latencies(ours, indexes, value, count)
            theirs = await _latencies(sqlite, indexes, value, count)
            limit = await _latencies(raw, indexes, value, count)
        finally:
            gc.unfreeze()
    return [
        _row(OURS, size, during, f"while compact() ran ({seconds:.2f} s)"),
        _row(f"{OURS} quiet", size, quiet, "no compaction running"),
        _row(sqlite.name, size, theirs, "WAL checkpoints inline"),
        _row(raw.name, size, limit, ""),
    ]

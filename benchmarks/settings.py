"""How big each workload is: the full run (the issues' sizes), ``--quick`` and ``--million``."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Scale:
    sizes: tuple[int, ...]  # records already in the collection for the sequential sets
    durable_ops: int  # sets per round, durable
    flush_ops: int  # sets per round, flush
    rounds: int  # rounds per measurement; the median (rates) or best (times) is kept
    budget: float  # seconds one system may spend on one measurement before it is cut
    concurrent: int  # sets gathered at once
    get_records: int
    get_ops: int
    big: int  # records for find, open, journal replay and memory
    processes: int
    increments: int  # per process
    million_sizes: tuple[int, ...] = (0, 100_000, 1_000_000)
    large: int = 1_000_000  # records for the at-scale workloads: compaction, stalls, memory, open
    stale_reads: int = 200  # write-then-read round trips of the freshness workload
    import_batches: int = 20  # set_many calls of the bulk import
    import_batch: int = 50_000  # records per set_many


FULL = Scale(
    sizes=(0, 10_000, 100_000),
    durable_ops=2_000,
    flush_ops=5_000,
    rounds=3,
    budget=3.0,
    concurrent=1_000,
    get_records=10_000,
    get_ops=100_000,
    big=100_000,
    processes=4,
    increments=200,
)

QUICK = Scale(
    sizes=(0, 2_000),
    durable_ops=200,
    flush_ops=500,
    rounds=1,
    budget=0.3,
    concurrent=200,
    get_records=2_000,
    get_ops=5_000,
    big=5_000,
    processes=2,
    increments=20,
    million_sizes=(0, 20_000),
    large=100_000,
    stale_reads=50,
    import_batches=20,
    import_batch=2_500,
)

"""The at-scale benchmark workloads still run: each at a tiny scale, no timing checks.

The real run is ``python -m benchmarks.run --million`` (see benchmarks/README.md). What is checked
here is what a broken harness would get wrong: every system has its rows, the peers that never
cache never read stale, the ticker sees a stall it was given, the memory probes report the file.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import time
from pathlib import Path

from tests.conftest import require_bench_peers

require_bench_peers()  # the bench extra's peers: without them there is nothing to smoke
# ruff: noqa: E402 (the imports below need the peers)

from benchmarks import at_scale, report
from benchmarks.measure import Row
from benchmarks.peers import postgres_peer
from benchmarks.run import AT_SCALE, WORKLOADS, collect
from benchmarks.workloads import compaction, footprint, freshness, stalls
from tests.conftest import POSTGRES_URL
from tests.test_benchmarks_smoke import TINY as SMALLEST

TINY = dataclasses.replace(
    SMALLEST,
    million_sizes=(0, 20),
    large=300,
    stale_reads=4,
    import_batches=2,
    import_batch=150,
)
NEW = ["freshness", "compaction", "stalls", "footprint", "open-large"]
CALLS = [
    *("open", "get", "set", "count", "keys", "values", "items", "iter_items"),
    *("find", "find where", "count where", "get_many", "backup", "compact"),
]


def _rows_of(rows: list[Row], workload: str) -> dict[str, Row]:
    return {row.system: row for row in rows if row.workload == workload}


async def test_every_new_workload_runs_and_reports(tmp_path: Path) -> None:
    assert set(NEW) <= set(WORKLOADS) and set(NEW) - {"freshness"} <= set(AT_SCALE)
    server = None if await postgres_peer.unreachable(POSTGRES_URL) else POSTGRES_URL
    rows = await collect(TINY, NEW, tmp_path, log=lambda message: None, postgres=server)

    for workload in (freshness.ACROSS_PROCESSES, freshness.ACROSS_OBJECTS):
        fresh = _rows_of(rows, workload)
        expected = {*freshness.STORES, *([freshness.POSTGRES] if server else [])}
        assert set(fresh) == expected
        # every system with its defaults, asyncjsondb's cache included: the change counter
        # tells a reader of another process or object that a write happened
        assert {system: row.value for system, row in fresh.items()} == dict.fromkeys(fresh, 0)
        assert all(row.ops == TINY.stale_reads for row in fresh.values())

    written = _rows_of(rows, compaction.WORKLOAD)
    assert set(written) == {
        compaction.OURS,
        f"{compaction.OURS} quiet",
        "aiosqlite FULL",
        "append+fsync (limit)",
    }
    assert all(row.spread is not None and row.ops >= 1 for row in written.values())

    stalled = _rows_of(rows, stalls.WORKLOAD)
    wanted = {f"{system} {call}" for system in ("asyncjsondb", "aiosqlite") for call in CALLS}
    assert set(stalled) == wanted | {"idle loop (limit)"}

    for workload in (footprint.IMPORT, footprint.OPEN):
        memory = _rows_of(rows, workload)
        assert memory[footprint.FILE].value and memory["asyncjsondb"].value
        assert all(row.size == 300 for row in memory.values())
    parsers = {"json.loads", "orjson.loads", "json.loads (gc paused)", "orjson.loads (gc paused)"}
    assert {"asyncjsondb", "aiosqlite", *parsers} <= set(_rows_of(rows, "open + first get"))

    checks = report.verdicts(at_scale.evaluate(rows))
    for check in ("read after write, 2 procs", "worst set while 300", "loop stall of items"):
        assert check in checks
    assert "RSS peak during import, 300" in checks and "x json.loads, gc paused" in checks
    assert "max ms" in report.measurements(rows)
    assert list(tmp_path.iterdir()) == []  # every workload removed its files


async def test_the_ticker_sees_a_call_that_blocks_the_loop() -> None:
    async def blocking() -> None:
        time.sleep(0.05)  # the stall under measurement

    async with stalls.ticking() as ticker:
        _, quiet = await ticker.lateness(functools.partial(asyncio.sleep, 0.02))
        seconds, blocked = await ticker.lateness(blocking)

    # the first wake due inside the call is due at most one tick after it starts
    assert quiet and max(blocked) >= 0.05 - stalls.TICK and seconds >= 0.05

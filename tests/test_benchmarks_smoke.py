"""The benchmark script still runs: its in-process workloads at a tiny scale, no timing checks.

The full run is ``python -m benchmarks.run`` (see benchmarks/README.md); this only guards
against the script rotting as the engine and its peers change.
"""

from __future__ import annotations

from pathlib import Path

from benchmarks import report, targets
from benchmarks.run import collect
from benchmarks.settings import Scale

TINY = Scale(
    sizes=(20,),
    durable_ops=5,
    flush_ops=5,
    rounds=1,
    budget=0.05,
    concurrent=10,
    get_records=20,
    get_ops=20,
    big=40,
    processes=1,
    increments=1,
)
SYSTEMS = [
    "asyncjsondb fsync",
    "asyncjsondb flush",
    "TinyDB",
    "TinyDB+cache",
    "aiosqlite FULL",
    "aiosqlite NORMAL",
    "diskcache",
    "dict (limit)",
    "append+fsync (limit)",
    "append+flush (limit)",
]
IN_PROCESS = ["set-fsync", "set-flush", "concurrent", "get", "find", "open", "journal-open"]


async def test_every_system_gets_a_row_and_the_report_prints(tmp_path: Path) -> None:
    rows = await collect(TINY, IN_PROCESS, tmp_path, log=lambda message: None)

    assert {system for system in SYSTEMS} <= {row.system for row in rows}
    assert {row.workload for row in rows} >= {"set fsync", "set flush", "get random"}
    assert all(row.ops >= 1 and row.seconds > 0 for row in rows)
    assert not any("expected" in row.note for row in rows)  # every find agreed on the count
    table = report.measurements(rows)
    assert all(system in table for system in SYSTEMS)
    checks = report.verdicts(targets.evaluate(rows))
    assert "set fsync into 20 records" in checks and "open after 40 journaled writes" in checks
    assert list(tmp_path.iterdir()) == []  # every workload removed its files

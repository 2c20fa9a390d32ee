"""The benchmark scripts still run: their workloads at a tiny scale, no timing checks.

The full run is ``python -m benchmarks.run`` (see benchmarks/README.md); this only guards
against the scripts rotting as the engine and its peers change. AsyncJSONDB on PostgreSQL joins
when a server answers; its schemas must be gone afterwards, also after a failure.
"""

from __future__ import annotations

import dataclasses
import re
import shutil
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
import pytest

from tests.conftest import require_bench_peers

require_bench_peers()  # the bench extra's peers: without them there is nothing to smoke

from benchmarks import ab, report, targets  # noqa: E402
from benchmarks.peers import opened_all, postgres_peer  # noqa: E402
from benchmarks.peers.postgres_peer import PostgresStore, shared_schema  # noqa: E402
from benchmarks.records import dataset  # noqa: E402
from benchmarks.run import collect, postgres_server  # noqa: E402
from benchmarks.settings import Scale  # noqa: E402
from benchmarks.workloads import processes  # noqa: E402
from tests.conftest import POSTGRES_URL, require_postgres  # noqa: E402

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
POSTGRES_FSYNC = "asyncjsondb postgres fsync"
POSTGRES_SYSTEMS = [POSTGRES_FSYNC, "asyncjsondb postgres flush", "asyncjsondb postgres"]
IN_PROCESS = ["set-fsync", "set-flush", "concurrent", "get", "find", "open", "journal-open"]
ROOT = Path(__file__).resolve().parents[1]


async def _existing(schemas: list[str]) -> list[str]:
    connection = await asyncpg.connect(POSTGRES_URL)
    try:
        query = "SELECT nspname FROM pg_namespace WHERE nspname = ANY($1::text[])"
        return [row[0] for row in await connection.fetch(query, schemas)]
    finally:
        await connection.close()


async def test_every_system_gets_a_row_and_the_report_prints(tmp_path: Path) -> None:
    server = None if await postgres_peer.unreachable(POSTGRES_URL) else POSTGRES_URL
    made_before = len(postgres_peer.made)
    rows = await collect(TINY, IN_PROCESS, tmp_path, log=lambda message: None, postgres=server)

    systems = SYSTEMS + (POSTGRES_SYSTEMS if server else [])
    assert set(systems) <= {row.system for row in rows}
    assert {row.workload for row in rows} >= {"set fsync", "set flush", "get random"}
    assert all(row.ops >= 1 and row.seconds > 0 for row in rows)
    assert not any("expected" in row.note for row in rows)  # every find agreed on the count
    table = report.measurements(rows)
    assert all(system in table for system in systems)
    checks = report.verdicts(targets.evaluate(rows))
    assert "set fsync into 20 records" in checks and "open after 40 journaled writes" in checks
    assert list(tmp_path.iterdir()) == []  # every workload removed its files
    if server:
        assert "find age>50" in report.backends(rows)
        made = postgres_peer.made[made_before:]
        assert made and await _existing(made) == []  # every schema it made is gone


async def test_postgres_increments_from_4_processes_come_to_exactly_800(tmp_path: Path) -> None:
    require_postgres()
    scale = dataclasses.replace(TINY, processes=4, increments=200)
    postgres_peer.use(POSTGRES_URL)
    try:
        rows = await processes.run(scale, tmp_path, only=[POSTGRES_FSYNC])
    finally:
        postgres_peer.use(None)
    assert [(row.system, row.value) for row in rows] == [(POSTGRES_FSYNC, 800)]
    assert await _existing(postgres_peer.made[-1:]) == []


async def test_a_failing_workload_drops_its_schemas_all_the_same(tmp_path: Path) -> None:
    require_postgres()
    postgres_peer.use(POSTGRES_URL)
    try:
        with pytest.raises(RuntimeError, match="a workload failed"):
            async with opened_all([PostgresStore], tmp_path / "own", dataset(3)) as stores:
                assert await stores[0].get(stores[0].key_of(2)) == dataset(3)[2]
                async with shared_schema(tmp_path / "shared"):
                    store = PostgresStore()
                    await store.open(tmp_path / "shared")  # the schema is made on first use
                    assert len(await _existing(postgres_peer.made[-2:])) == 2
                    await store.close()  # not its own schema: it stays
                    assert len(await _existing(postgres_peer.made[-2:])) == 2
                    raise RuntimeError("a workload failed")
    finally:
        postgres_peer.use(None)
    assert await _existing(postgres_peer.made[-2:]) == []


def test_ab_runs_each_source_in_its_own_process(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = tmp_path / "other"
    shutil.copytree(ROOT / "asyncjsondb", other / "asyncjsondb")  # the child checks which it got

    assert ab.main([str(other), "--only", "get", "--rounds", "1", "--quick"]) == 0

    out = capsys.readouterr().out
    assert "working tree / other" in out and "get random" in out


async def test_without_a_server_the_run_goes_on_and_says_why() -> None:
    server, note = await postgres_server("postgresql://postgres@127.0.0.1:1/test")
    assert server is None and note.startswith("PostgreSQL rows skipped: no PostgreSQL server")
    assert await postgres_server(None) == (None, "PostgreSQL rows left out (--no-postgres)")


def test_set_cost_splits_a_set_and_leaves_the_engine_unpatched(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import os

    from asyncjsondb.backends.files import journal
    from benchmarks import set_cost

    before = (journal._sync_data, os.pwrite)
    assert set_cost.main(["--ops", "30", "--rounds", "1", "--dir", str(tmp_path)]) == 0
    assert (journal._sync_data, os.pwrite) == before
    printed = capsys.readouterr().out
    found = (re.match(r"\s+(.+?)\s{2,}(-?[\d.]+) us", line) for line in printed.splitlines())
    figures = {match[1]: float(match[2]) for match in found if match}
    assert set(figures) >= {"per set", "its fdatasync", "its pwrite", "bare fdatasync"}
    assert figures["per set"] > figures["its fdatasync"] > 0
    assert list(tmp_path.iterdir()) == []  # its temporary folder is gone

"""The query benchmark still runs, at a tiny scale and without timing checks: each part asserts
that the systems it compares found the same records."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import require_bench_peers

require_bench_peers()  # the bench extra's peers: without them there is nothing to smoke
# ruff: noqa: E402 (the imports below need the peers)

from benchmarks.workloads import query_api
from tests.conftest import POSTGRES_URL, require_postgres


async def test_the_file_parts_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    await query_api.indexed(tmp_path, 300)
    await query_api.scan(tmp_path, 300, 1)
    await query_api.writes(tmp_path, 300, 30)
    printed = capsys.readouterr().out
    for line in ("find_one by unique email", "TinyDB+cache", "2 indexes (one unique)"):
        assert line in printed


async def test_the_postgres_part_runs(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    require_postgres()
    monkeypatch.setattr(query_api, "POSTGRES_URL", POSTGRES_URL)
    await query_api.postgres(300)
    assert "raw asyncpg, same index" in capsys.readouterr().out

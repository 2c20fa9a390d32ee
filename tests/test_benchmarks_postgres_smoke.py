"""benchmarks/postgres_get.py still runs: every system has its row, its schema is dropped."""

from __future__ import annotations

import asyncpg  # type: ignore[import-untyped]

from benchmarks import postgres_get
from tests.conftest import POSTGRES_URL, require_postgres


async def test_postgres_get_reports_every_system_and_drops_its_schema() -> None:
    require_postgres()
    rows = await postgres_get.measure(POSTGRES_URL, ops=32, rounds=1)
    names = [name for name, _, _ in rows]
    assert names[:5] == [
        "raw asyncpg connection",
        "raw asyncpg connection again (A/A: noise)",
        "raw asyncpg pool",
        "asyncjsondb get, own loop",
        "asyncjsondb get, hop",
    ]
    assert len(names) == 8 and rows[0][2] == 1.0
    assert all(seconds > 0 for _, seconds, _ in rows)
    assert "ms per get" in postgres_get.table(rows)
    connection = await asyncpg.connect(POSTGRES_URL)
    try:
        left = "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'bench\\_get\\_%'"
        assert await connection.fetchval(left) == 0
    finally:
        await connection.close()

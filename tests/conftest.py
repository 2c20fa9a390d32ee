"""Shared fixtures. ``db`` is the contract fixture: each test that takes it runs on every backend
(the JSON files in both durability modes; the JSON files with ``segments.SEGMENT`` lowered to two
records, so that every collection past two records is held as ``Segments``, as one past 174,762
is; and PostgreSQL in a schema of its own)."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from asyncjsondb import AsyncJSONDB
from asyncjsondb.backends.files import segments

POSTGRES_URL = os.environ.get(
    "ASYNCJSONDB_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
HOW_TO_RUN = (
    f"no PostgreSQL at {POSTGRES_URL}: start one (or set ASYNCJSONDB_TEST_POSTGRES_URL) "
    "and install asyncjsondb[postgres] to run these tests"
)


def _postgres_reachable() -> bool:
    try:
        import asyncpg  # noqa: F401
    except ImportError:
        return False
    parts = urlsplit(POSTGRES_URL)
    try:
        socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 5432), 2).close()
    except OSError:
        return False
    return True


def require_postgres() -> None:
    """Skip without a server; in CI (CI=true) a missing server is a failure, not a skip."""
    if not _postgres_reachable():
        if os.environ.get("CI") == "true":
            pytest.fail(HOW_TO_RUN)
        pytest.skip(HOW_TO_RUN)


BENCH_PEERS = ("tinydb", "aiosqlite", "diskcache", "psutil")


def require_bench_peers() -> None:
    """Skip a benchmark smoke test module without the bench extra's peers (the README's test
    command installs them; ``.[test]`` alone leaves them out)."""
    for peer in BENCH_PEERS:
        pytest.importorskip(peer, reason="a benchmark peer: pip install -e '.[bench]'")


@dataclass
class Location:
    """Where a test's database lives, and how to open it again."""

    backend: str
    path: Path | str
    options: dict[str, Any] = field(default_factory=dict)

    def open(self, **extra: Any) -> AsyncJSONDB:
        return AsyncJSONDB(self.path, **{**self.options, **extra})


async def drop_schema(name: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(POSTGRES_URL)
    try:
        await connection.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
    finally:
        await connection.close()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "db"


@pytest.fixture(params=["fsync", "flush"])
def durability(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def postgres_schema() -> AsyncIterator[str]:
    """A schema name of the test's own, dropped afterwards."""
    require_postgres()
    name = f"test_{uuid.uuid4().hex[:16]}"
    yield name
    await drop_schema(name)


@pytest.fixture(params=["files-fsync", "files-flush", "files-segments", "postgres"])
async def location(request: pytest.FixtureRequest, db_path: Path) -> AsyncIterator[Location]:
    if request.param == "postgres":
        require_postgres()
        schema = f"test_{uuid.uuid4().hex[:16]}"
        yield Location("postgres", POSTGRES_URL, {"schema": schema})
        await drop_schema(schema)
    elif request.param == "files-segments":
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(segments, "SEGMENT", 2)
            yield Location("files", db_path, {"durability": "flush"})
    else:
        yield Location("files", db_path, {"durability": request.param.split("-")[1]})


@pytest.fixture
async def db(location: Location) -> AsyncIterator[AsyncJSONDB]:
    database = location.open()
    yield database
    await database.close()

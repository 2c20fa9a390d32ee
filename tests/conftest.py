"""Shared fixtures: a fresh database folder, and a database per durability mode."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from asyncjsondb import AsyncJSONDB


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "db"


@pytest.fixture(params=["fsync", "flush"])
def durability(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def db(db_path: Path, durability: str) -> AsyncIterator[AsyncJSONDB]:
    database = AsyncJSONDB(db_path, durability=durability)
    yield database
    await database.close()

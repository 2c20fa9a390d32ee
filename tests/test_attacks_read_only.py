"""A database on read-only media, or of a read-only account, can be read."""

from __future__ import annotations

from pathlib import Path

import pytest

from asyncjsondb import AsyncJSONDB
from tests.faults import ReadOnlyMedia


@pytest.mark.xfail(
    strict=True,
    reason="defect 12: opening needs write access to the lock files, so a read-only database "
    "cannot be read at all (and there is no read_only option)",
)
async def test_a_read_only_database_can_be_read(tmp_path: Path) -> None:
    async with AsyncJSONDB(tmp_path) as db:
        c = await db.get_collection("c")
        await c.set("folded", 1)
        await db.compact()
        await c.set("journaled", 2)
    with ReadOnlyMedia():
        async with AsyncJSONDB(tmp_path, read_only=True) as db:
            assert await db.list_collections() == ["c"]
            c = await db.get_collection("c")
            assert await c.items() == [("folded", 1), ("journaled", 2)]

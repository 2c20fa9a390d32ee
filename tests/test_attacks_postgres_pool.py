"""Every database object returns what it took from the shared PostgreSQL pool when it closes."""

from __future__ import annotations

import asyncio

from asyncjsondb import AsyncJSONDB
from tests.conftest import POSTGRES_URL
from tests.faults import open_descriptors


def _sockets() -> set[str]:
    return {fd for fd in open_descriptors() if "socket:" in fd}


async def test_concurrent_first_uses_leave_no_connection_open(postgres_schema: str) -> None:
    options = {"schema": postgres_schema, "pool_size": 3}  # a pool no other test shares
    async with AsyncJSONDB(POSTGRES_URL, **options) as warm:  # the pool's loop thread exists
        await warm.get_collection("warm")
    before = _sockets()
    db = AsyncJSONDB(POSTGRES_URL, **options)
    await asyncio.gather(db.get_collection("a"), db.get_collection("b"))
    await db.close()
    assert _sockets() == before

"""Worker of the PostgreSQL multi-process test (importable by 'spawn' children)."""

from __future__ import annotations

import asyncio

from asyncjsondb import AsyncJSONDB


def increment_many(url: str, schema: str, times: int) -> None:
    async def run() -> None:
        async with AsyncJSONDB(url, schema=schema, pool_size=4) as db:
            counters = await db.get_collection("counters")
            await asyncio.gather(*(counters.increment("hits") for _ in range(times)))

    asyncio.run(run())

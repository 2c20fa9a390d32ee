"""Bulk reads in steps are one moment while batches land from another thread's event loop.

``tests/test_bulk_reads.py`` lands batches from the reading loop itself. Here another thread, with
a loop of its own on the same database object, rewrites every record in one ``set_many`` (more
than a thousand records: planned and applied in a pool thread, between the reader's slices and
steps, with no turn of the reading loop in between), so each read must see one generation only.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest

from asyncjsondb import AsyncJSONDB
from tests.attack_scenarios import environment_long

pytestmark = pytest.mark.timeout(60)
RECORDS, GENERATIONS = 2_500, 6 if environment_long() else 3  # each read spans a rewrite either way


def generation(number: int) -> dict[str, Any]:
    return {f"k{i}": {"g": number, "i": i} for i in range(RECORDS)}


async def test_bulk_reads_see_one_generation_while_another_loop_rewrites_all(
    tmp_path: Path,
) -> None:
    async with AsyncJSONDB(tmp_path / "db", durability="flush") as db:
        c = await db.get_collection("c")
        await c.set_many(generation(0))
        keys = list(generation(0))

        def rewrite() -> None:
            async def run() -> None:
                other = await db.get_collection("c")
                for number in range(1, GENERATIONS + 1):
                    await other.set_many(generation(number))

            asyncio.run(run())

        writer = threading.Thread(target=rewrite)
        writer.start()
        moments: list[set[int]] = []
        try:
            while writer.is_alive():
                moments.append({value["g"] for value in await c.values()})
                moments.append({value["g"] for _, value in await c.items()})
                moments.append({value["g"] for value in await c.find(where={"i": {"$gte": 0}})})
                moments.append({value["g"] for value in (await c.get_many(keys)).values()})
                moments.append({value["g"] async for _, value in c.iter_items()})
                assert await c.keys() == keys
        finally:
            await asyncio.to_thread(writer.join, 30)
        assert all(len(moment) == 1 for moment in moments), moments
        assert {value["g"] for value in await c.values()} == {GENERATIONS}

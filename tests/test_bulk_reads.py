"""Bulk reads of a collection larger than one slice: the same answers as a dict, one consistent
moment even while writes land between slices, and ``iter_items`` streams on every backend."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from asyncjsondb import AsyncJSONDB
from asyncjsondb.backends.files import snapshot
from asyncjsondb.backends.files.slices import SLICE

RECORDS = 3 * SLICE + 7  # several slices and a partial one


def records(count: int = RECORDS, value: int = 0) -> dict[str, dict[str, int]]:
    return {f"k{index}": {"n": index, "v": value} for index in range(count)}


async def test_bulk_reads_answer_as_a_dict_does(db: AsyncJSONDB) -> None:
    c = await db.get_collection("c")
    expected = records()
    await c.set_many(expected)
    await c.delete("k1")
    del expected["k1"]
    assert await c.keys() == list(expected)
    assert await c.values() == list(expected.values())
    assert await c.items() == list(expected.items())
    assert [pair async for pair in c.iter_items()] == list(expected.items())
    assert await c.find(lambda value: value["n"] % 1000 == 0) == [
        value for value in expected.values() if value["n"] % 1000 == 0
    ]

    def every_third_marked(value: dict[str, int]) -> bool:  # the filter's copy is its own
        value["seen"] = 1
        return value["n"] % 3 == 0

    assert await c.find_items(every_third_marked) == [
        (key, {**value, "seen": 1}) for key, value in expected.items() if value["n"] % 3 == 0
    ]
    assert await c.items() == list(expected.items())  # the marks stayed in the copies

    def stops(value: dict[str, int]) -> bool:  # e.g. next() over a value's list, not found
        return next(iter([])) if value["n"] == 300 else True

    for limit in (None, 5000):  # a unit at a time, and one record at a time
        with pytest.raises(RuntimeError, match="StopIteration"):  # not a quietly short answer
            await c.find(stops, limit)


async def test_iter_items_can_stop_after_a_page(db: AsyncJSONDB) -> None:
    c = await db.get_collection("c")
    await c.set_many(records())
    page = []
    async for key, value in c.iter_items():
        page.append((key, value))
        if len(page) == 20:
            break
    assert page == list(records().items())[:20]
    await c.set("after", 1)  # nothing was left locked or half read
    assert await c.count() == RECORDS + 1


async def test_a_bulk_read_is_one_moment_while_batches_land_between_its_slices(
    db_path: Path,
) -> None:
    async with AsyncJSONDB(db_path, durability="flush") as db:
        c = await db.get_collection("c")
        await c.set_many(records())

        async def rewrite_every_record() -> None:
            for value in range(1, 6):
                await c.set_many(records(value=value))  # one batch: all or nothing

        writes = asyncio.create_task(rewrite_every_record())
        moments = []
        while not writes.done():
            moments.append({value["v"] for value in await c.values()})
            moments.append({value["v"] for _, value in await c.items()})
        await writes
        assert all(len(moment) == 1 for moment in moments), moments
        assert {value["v"] for value in await c.values()} == {5}


async def test_a_snapshot_of_many_blocks_reopens_in_order(db_path: Path) -> None:
    count = 20_000  # about 1.6 MB: more than one block of the parser
    async with AsyncJSONDB(db_path) as db:
        c = await db.get_collection("c")
        await c.set_many({f"k{index}": {"pad": "x" * 60, "n": index} for index in range(count)})
    raw = (db_path / "c.json").read_bytes()
    assert len(raw) > snapshot._BLOCK
    assert snapshot.parse(raw, db_path / "c.json") == {
        key: json.dumps(value, separators=(",", ":")).encode()
        for key, value in json.loads(raw).items()
    }
    async with AsyncJSONDB(db_path) as db:
        c = await db.get_collection("c")
        assert await c.keys() == [f"k{index}" for index in range(count)]
        assert await c.get(f"k{count - 1}") == {"pad": "x" * 60, "n": count - 1}

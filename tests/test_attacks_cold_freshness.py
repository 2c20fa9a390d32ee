"""Freshness on one machine, from the sides the shared change counter was not built around.

A read that starts after a write was acknowledged anywhere on the machine sees it, whatever
``cache_ttl`` is: a reader whose collection had no counter file yet when it first looked (a
read-only object, opened before any writer made the collection), and a forked process and its
parent reading each other's writes through the mapping the fork kept.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import warnings
from pathlib import Path

import pytest

from asyncjsondb import AsyncJSONDB

pytestmark = pytest.mark.timeout(60)
FOREVER = 3600.0  # only the counter can make these reads fresh


async def test_a_reader_that_looked_before_the_counter_existed_sees_later_writes(
    tmp_path: Path,
) -> None:
    path = tmp_path / "db"
    path.mkdir()
    reader = AsyncJSONDB(path, read_only=True, cache_ttl=FOREVER)
    try:
        seen = await reader.get_collection("c")
        assert await seen.items() == []  # no collection, no counter file yet
        async with AsyncJSONDB(path) as writer:
            c = await writer.get_collection("c")
            for number in range(3):
                await c.set("k", number)  # acknowledged: every later read must see it
                assert await seen.get("k") == number
                later = AsyncJSONDB(path, read_only=True, cache_ttl=FOREVER)
                async with later:  # opened after the write
                    assert await (await later.get_collection("c")).get("k") == number
            await writer.drop_collection("c")
            assert await seen.items() == []
    finally:
        await reader.close()


def _forked_child(path: str, pipe: multiprocessing.connection.Connection) -> None:
    """In the forked child: the parent's database object, used on a new loop."""

    async def run() -> None:
        async with AsyncJSONDB(path, cache_ttl=FOREVER) as db:
            c = await db.get_collection("c")
            pipe.send(await c.get("k"))  # the parent wrote it after the child's first look
            pipe.recv()  # the parent wrote again
            pipe.send(await c.get("k"))
            await c.set("child", os.getpid())
            pipe.send("written")

    asyncio.run(run())
    os._exit(0)


async def test_a_fork_and_its_parent_see_each_others_writes(tmp_path: Path) -> None:
    path = tmp_path / "db"
    async with AsyncJSONDB(path, cache_ttl=FOREVER) as db:
        c = await db.get_collection("c")
        await c.set("k", "before the fork")
        assert await c.get("k") == "before the fork"  # loaded, counter mapped
        mine, theirs = multiprocessing.Pipe()
        child = multiprocessing.get_context("fork").Process(
            target=_forked_child, args=(str(path), theirs)
        )
        with warnings.catch_warnings():  # 3.12+: a fork with the pool's threads running warns
            warnings.simplefilter("ignore", DeprecationWarning)
            child.start()
        try:
            await c.set("k", "after the fork")
            assert await asyncio.to_thread(mine.recv) in ("before the fork", "after the fork")
            await c.set("k", "again")
            mine.send("go")
            assert await asyncio.to_thread(mine.recv) == "again"
            assert await asyncio.to_thread(mine.recv) == "written"
            assert await c.get("child") == child.pid
        finally:
            await asyncio.to_thread(child.join, 30)
        assert child.exitcode == 0

"""Reads are never stale on one machine: a write acknowledged in another process (or by another
database object) is seen by the next read, however long ``cache_ttl`` is, through the collection's
shared change counter; without shared memory, ``cache_ttl`` alone bounds staleness."""

from __future__ import annotations

import errno
import mmap
from pathlib import Path
from typing import Any

import pytest

from asyncjsondb import AsyncJSONDB
from asyncjsondb.backends.files import changes
from tests.proc_workers import Peer

pytestmark = pytest.mark.timeout(60)  # real processes: never let one hang the suite

FOREVER = 3600.0  # a cache_ttl no test outlives: only the counter can make these reads fresh


def finished_without_awaiting(coroutine: Any) -> tuple[bool, Any]:
    """Step ``coroutine`` once: (True, its result) if it returned without suspending."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        return True, done.value
    coroutine.close()
    return False, None


async def test_every_change_by_another_process_is_seen_by_the_next_read(
    db_path: Path, durability: str
) -> None:
    async with AsyncJSONDB(db_path, durability=durability, cache_ttl=FOREVER) as db:
        c = await db.get_collection("c")
        assert await c.get("k") is None
        peer = Peer(str(db_path), durability=durability, cache_ttl=FOREVER)
        try:
            for number in range(20):
                peer.call("c", "set", "k", number)
                assert await c.get("k") == number
            peer.call("c", "set_many", {"k": "many", "j": 1})
            assert await c.get_many(["k", "j"]) == {"k": "many", "j": 1}
            peer.call("c", "delete", "j")
            assert not await c.exists("j")
            await c.set("mine", 1)  # and the other way round
            assert peer.call("c", "get", "mine") == 1
            peer.call("", "compact")
            peer.call("c", "increment", "after compaction")
            assert await c.get("after compaction") == {"value": 1}
            peer.call("", "backup", str(db_path.parent / "backup"))
            peer.call("c", "clear")
            assert await c.count() == 0
            peer.call("", "restore", str(db_path.parent / "backup"))
            assert await c.keys() == ["k", "mine", "after compaction"]
            peer.call("", "drop_collection", "c")
            assert await c.items() == []
        finally:
            peer.close()


async def test_two_database_objects_read_each_others_writes_at_once(db_path: Path) -> None:
    async with (
        AsyncJSONDB(db_path, cache_ttl=FOREVER) as one,
        AsyncJSONDB(db_path, cache_ttl=FOREVER) as two,
    ):
        mine, theirs = await one.get_collection("c"), await two.get_collection("c")
        for number in range(5):
            await mine.set("k", number)
            assert await theirs.get("k") == number
            await theirs.increment("n")
            assert await mine.get("n") == {"value": number + 1}


async def test_a_fresh_get_never_suspends_and_a_stale_one_catches_up(db_path: Path) -> None:
    async with AsyncJSONDB(db_path, cache_ttl=FOREVER) as db:
        c = await db.get_collection("c")
        await c.set("k", "old")
        assert finished_without_awaiting(c.get("k")) == (True, "old")  # no hop to the pool
        peer = Peer(str(db_path))
        try:
            peer.call("c", "set", "k", "new")
        finally:
            peer.close()
        assert finished_without_awaiting(c.get("k")) == (False, None)  # the counter moved
        assert await c.get("k") == "new"
        assert finished_without_awaiting(c.get("k")) == (True, "new")


def _no_shared_memory(*args: object, **kwargs: object) -> mmap.mmap:
    raise OSError(errno.ENODEV, "No such device")


@pytest.mark.parametrize("ttl", [0.0, FOREVER])
async def test_without_shared_memory_cache_ttl_bounds_staleness(
    db_path: Path, monkeypatch: pytest.MonkeyPatch, ttl: float
) -> None:
    # A file system that refuses shared mappings cannot be made real here: refuse it in mmap.
    monkeypatch.setattr(changes.mmap, "mmap", _no_shared_memory)
    async with AsyncJSONDB(db_path, cache_ttl=ttl) as db:
        c = await db.get_collection("c")
        await c.set("k", "old")
        peer = Peer(str(db_path))
        try:
            peer.call("c", "set", "k", "new")  # bumps a counter this process cannot see
            assert await c.get("k") == ("new" if ttl == 0 else "old")
            await c.set("mine", 1)  # a write catches up first, and its own writes it sees
            assert await c.get_many(["k", "mine"]) == {"k": "new", "mine": 1}
        finally:
            peer.close()

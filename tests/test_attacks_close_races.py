"""``close()`` against what races it.

Every racing operation completes before it or raises ``DatabaseClosedError``, a cancelled close is
finished by the next one, and no descriptor outlives it (counted in /proc/self/fd).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from asyncjsondb import AsyncJSONDB, DatabaseClosedError
from tests.faults import open_descriptors

ROOT = Path(__file__).resolve().parent.parent


async def _settled_descriptors() -> set[str]:
    await asyncio.sleep(0)
    return open_descriptors()


async def _with_journals(path: Path, count: int) -> AsyncJSONDB:
    db = AsyncJSONDB(path)
    for i in range(count):
        await (await db.get_collection(f"c{i}")).set("k", i)
    return db


def _journals(path: Path) -> list[str]:
    return sorted(p.name for p in path.glob("*.journal"))


async def test_get_collection_racing_close_leaves_nothing_behind(tmp_path: Path) -> None:
    async with AsyncJSONDB(tmp_path) as warm:  # the pool and codecs exist before counting
        await warm.get_collection("warm")
    before = await _settled_descriptors()
    db = AsyncJSONDB(tmp_path)
    racing = asyncio.ensure_future(db.get_collection("u"))
    await asyncio.sleep(0)
    await db.close()
    with contextlib.suppress(DatabaseClosedError):
        await racing
    later = AsyncJSONDB(tmp_path)
    await (await later.get_collection("u")).set("k", 1)
    await later.close()
    assert _journals(tmp_path) == [], "the last close did not fold"
    assert await _settled_descriptors() == before


async def test_compact_racing_close_leaks_no_descriptor(tmp_path: Path) -> None:
    async with AsyncJSONDB(tmp_path) as warm:
        await warm.get_collection("warm")
    before = await _settled_descriptors()
    db = await _with_journals(tmp_path, 20)
    compacting = asyncio.ensure_future(db.compact())
    await asyncio.sleep(0)
    await db.close()
    with contextlib.suppress(DatabaseClosedError):
        await compacting
    assert await _settled_descriptors() == before


async def test_a_second_close_finishes_a_cancelled_one(tmp_path: Path) -> None:
    async with AsyncJSONDB(tmp_path) as warm:
        await warm.get_collection("warm")
    before = await _settled_descriptors()
    db = await _with_journals(tmp_path, 20)
    closing = asyncio.ensure_future(db.close())
    while len(_journals(tmp_path)) == 20:  # cancel once folding has begun
        await asyncio.sleep(0.001)
    closing.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await closing
    await db.close()
    await asyncio.sleep(0.2)  # let a pool job that outlived the cancel finish its store
    assert _journals(tmp_path) == []
    assert await _settled_descriptors() == before


DEADLOCK = """
import asyncio, os, sys, time
from asyncjsondb import AsyncJSONDB
real = os.fdatasync
def slow(fd):  # a slow disk: every write stays in flight while the databases close
    time.sleep(0.05)
    return real(fd)
os.fdatasync = slow
async def main(root):
    dbs = [AsyncJSONDB(f"{root}/{i}") for i in range(12)]
    for db in dbs:
        await (await db.get_collection("c")).set("k", 0)
    collections = [await db.get_collection("c") for db in dbs]
    first = [asyncio.ensure_future(c.set("k", 1)) for c in collections]
    await asyncio.sleep(0.01)  # every pool worker is in a slow fsync; more drains are queued
    second = [asyncio.ensure_future(c.set("k", 2)) for c in collections]
    await asyncio.sleep(0)
    writes = first + second
    await asyncio.gather(*(db.close() for db in dbs), *writes, return_exceptions=True)
    print("all closed")
asyncio.run(main(sys.argv[1]))
os._exit(0)
"""


def test_closing_many_databases_with_writes_in_flight_finishes(tmp_path: Path) -> None:
    # In a child: a deadlocked pool would take the rest of the suite with it.
    child = subprocess.Popen(
        [sys.executable, "-c", DEADLOCK, str(tmp_path)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        out, _ = child.communicate(timeout=6)  # a hang guard, not a speed limit
    except subprocess.TimeoutExpired:
        child.kill()
        child.communicate()
        pytest.fail("12 databases closing with writes in flight never finished")
    assert b"all closed" in out

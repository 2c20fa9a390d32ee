"""A process killed while it holds a collection's locks, with another process's memory current.

The inline write path trusts the shared change counter: "the counter still holds the value this
process saw, so nobody changed the files since". A process SIGKILLed under the locks after it
changed the files and before it bumped the counter breaks that premise. These attacks kill a
child process at such a moment (the fault injection of ``tests/faults.py``, in a real process
killed by a real SIGKILL), then write in this process, whose memory and counter are current, and
check that the acknowledged write is where every later reader finds it.

The parent uses ``durability="flush"`` so that its write takes the inline path whatever the
disk's fsync times are (a fast disk does the same with ``"fsync"``): the defects are about which
file a write lands in, not about how it is synced.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from asyncjsondb import AsyncJSONDB, DatabaseError, DuplicateKeyError

pytestmark = pytest.mark.timeout(60)
ROOT = Path(__file__).resolve().parent.parent

# The child opens the folder, then runs ``action`` with the OS call named by argv[2] (and whose
# first argument ends with argv[3]) killing it with SIGKILL before the call is made. A suffix
# "+<file>" instead kills at the first such call made while <file> exists in the folder and
# ".c.json.compacting" does not.
CHILD = r"""
import asyncio, os, sys
from asyncjsondb import AsyncJSONDB
from tests.faults import SyscallFaults

path, call, suffix, action = sys.argv[1:5]

def hit(label, args):
    if label != call:
        return False
    if suffix.startswith("+"):
        there = os.listdir(path)
        return suffix[1:] in there and ".c.json.compacting" not in there
    return str(args[0]).endswith(suffix)

async def main():
    db = AsyncJSONDB(path)
    c = await db.get_collection("c")
    with SyscallFaults(action="kill", matching=hit):
        if action == "compact":
            await db.compact()
        elif action == "drop":
            await db.drop_collection("c")
        elif action == "unique index":
            await c.create_index("email", unique=True)
        elif action == "restore":
            await db.restore(path + ".backup")
        elif action == "gathered":
            await asyncio.gather(c.set("f1", "x" * 20), c.set("f2", "y" * 20))
    raise SystemExit("the fault never fired")

asyncio.run(main())
"""


def killed_child(path: Path, call: str, suffix: str, action: str) -> None:
    """Run the child; it must die by SIGKILL at the named call."""
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(path), call, suffix, action],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == -9, done.stderr


READER = r"""
import asyncio, json, sys
from asyncjsondb import AsyncJSONDB

async def main():
    async with AsyncJSONDB(sys.argv[1]) as db:
        print(json.dumps(dict(await (await db.get_collection("c")).items())))

asyncio.run(main())
"""


def read_in_another_process(path: Path) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", READER, str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return dict(json.loads(done.stdout))


async def close_and_reopen(db: AsyncJSONDB, path: Path) -> dict[str, Any]:
    """Close ``db`` (a failure to fold is reported by the read that follows) and read the
    collection as a process that never saw the folder does."""
    with contextlib.suppress(DatabaseError):
        await db.close()
    async with AsyncJSONDB(path) as again:
        return dict(await (await again.get_collection("c")).items())


KILL_POINTS = [
    pytest.param(
        "compact",
        "os.replace",
        ".c.json.compacting",
        {"a": 1, "after": 2},
        id="compaction-decided-new-file-not-in-place",
    ),
    pytest.param(
        "compact",
        "os.open",
        "+.c.journal.folded",
        {"a": 1, "after": 2},
        id="compaction-new-file-in-place-folded-journal-left",
    ),
    pytest.param(
        "drop",
        "os.unlink",
        "c.json",
        {"a": 1, "after": 2},
        id="drop-undecided",
    ),
    pytest.param(
        "drop",
        "os.unlink",
        ".c.journal.dropped",
        {"after": 2},
        id="drop-decided",
    ),
]


@pytest.mark.parametrize(("action", "call", "suffix", "expected"), KILL_POINTS)
async def test_a_write_after_a_process_died_mid_swap_is_kept(
    tmp_path: Path, action: str, call: str, suffix: str, expected: dict[str, Any]
) -> None:
    path = tmp_path / "db"
    db = AsyncJSONDB(path, durability="flush", cache_ttl=3600)
    c = await db.get_collection("c")
    await c.set("a", 1)  # in the journal; this process's memory is current
    killed_child(path, call, suffix, action)
    await c.set("after", 2)  # acknowledged
    assert await c.get("after") == 2
    assert await close_and_reopen(db, path) == expected


async def test_a_write_after_a_writer_died_before_its_bump_leaves_a_readable_journal(
    tmp_path: Path,
) -> None:
    path = tmp_path / "db"
    db = AsyncJSONDB(path, durability="flush", cache_ttl=3600)
    c = await db.get_collection("c")
    await c.set("a", 1)
    # Two writes gathered in one turn: one append of two frames, then killed at its fdatasync
    # (never acknowledged, so either may be lost; neither may break the journal).
    killed_child(path, "os.fdatasync", "", "gathered")
    await c.set("g", "z")  # a frame shorter than the child's first one
    mine = dict(await c.items())  # the child's frames are whole: this process read them first
    after = await close_and_reopen(db, path)
    assert after == mine and after["a"] == 1 and after["g"] == "z"
    assert set(after) <= {"a", "g", "f1", "f2"}


@contextlib.asynccontextmanager
async def restore_died_midway(tmp_path: Path) -> AsyncIterator[tuple[AsyncJSONDB, Any, Path]]:
    """A collection loaded in this process ({"restored": 1, "old": 2}, no journal open), and a
    restore of {"restored": 1} killed in another process after it decided (its intent written),
    before its staged file was put in place."""
    path = tmp_path / "db"
    async with AsyncJSONDB(path) as db:
        await (await db.get_collection("c")).set("restored", 1)
        await db.backup(tmp_path / "db.backup")
    db = AsyncJSONDB(path, cache_ttl=3600)
    try:
        c = await db.get_collection("c")
        await c.set_many({"old": 2})
        await db.compact()
        assert dict(await c.items()) == {"restored": 1, "old": 2}
        killed_child(path, "os.replace", ".c.json.restoring", "restore")
        yield db, c, path
    finally:
        await db.close()


async def test_a_restore_another_process_finished_is_read_by_a_process_that_loaded_before(
    tmp_path: Path,
) -> None:
    async with restore_died_midway(tmp_path) as (_, c, path):
        assert read_in_another_process(path) == {"restored": 1}  # its load finished the restore
        assert dict(await c.items()) == {"restored": 1}


async def test_a_read_after_a_restore_died_midway_finishes_it(tmp_path: Path) -> None:
    async with restore_died_midway(tmp_path) as (_, c, path):
        assert dict(await c.items()) == {"restored": 1}
        assert read_in_another_process(path) == {"restored": 1}


async def test_a_write_after_a_restore_died_midway_is_kept(tmp_path: Path) -> None:
    """The write is still there once the restore is finished: no journal that finishing the
    restore deletes."""
    async with restore_died_midway(tmp_path) as (db, c, path):
        await c.set("after", 3)  # acknowledged
        assert read_in_another_process(path) == {"restored": 1, "after": 3}
        assert await close_and_reopen(db, path) == {"restored": 1, "after": 3}


async def test_an_index_made_by_a_process_killed_before_its_bump_is_kept_by_others(
    tmp_path: Path,
) -> None:
    """A unique index written, then the process killed: another process's inline writes must
    not slip a duplicate past it."""
    path = tmp_path / "db"
    db = AsyncJSONDB(path, durability="flush", cache_ttl=3600)
    try:
        c = await db.get_collection("c")
        await c.set("a", {"email": "x@example.com"})
        killed_child(path, "os.fsync", "+.c.indexes", "unique index")
        with pytest.raises(DuplicateKeyError):
            await c.set("b", {"email": "x@example.com"})
    finally:
        await db.close()

"""A write that raises changed nothing, in memory or on disk; a drop that raises leaves the
collection whole; a compaction whose rename and undo both fail loses nothing."""

from __future__ import annotations

import contextlib
import errno
from pathlib import Path
from typing import Any

import pytest

from asyncjsondb import AsyncJSONDB, DatabaseError, StorageError
from tests.faults import SyscallFaults


async def _folded_and_journaled(path: Path) -> AsyncJSONDB:
    db = AsyncJSONDB(path)
    c = await db.get_collection("c")
    await c.set("a", 1)
    await db.compact()
    await c.set("b", 2)
    return db


async def _read_afresh(path: Path) -> dict[str, Any]:
    async with AsyncJSONDB(path) as db:
        return dict(await (await db.get_collection("c")).items())


def _fsync_of_the_journal(name: str, args: tuple[Any, ...]) -> bool:
    return name == "os.fdatasync"


async def test_a_set_whose_fsync_failed_is_undone(tmp_path: Path) -> None:
    db = await _folded_and_journaled(tmp_path)
    c = await db.get_collection("c")
    with SyscallFaults(matching=_fsync_of_the_journal), pytest.raises(StorageError):
        await c.set("a", 2)
    seen: Any = 1  # refusing use until reopened is allowed; what the disk holds is not
    with contextlib.suppress(DatabaseError):
        seen = await c.get("a")
    await db.close()
    assert seen == 1
    assert await _read_afresh(tmp_path) == {"a": 1, "b": 2}


async def test_retrying_a_failed_increment_counts_once(tmp_path: Path) -> None:
    async with AsyncJSONDB(tmp_path) as db:
        c = await db.get_collection("c")
        await c.increment("hits")
        with SyscallFaults(matching=_fsync_of_the_journal), pytest.raises(StorageError):
            await c.increment("hits")
        while True:  # the caller retries until the write is acknowledged, as a caller would
            try:
                await c.increment("hits")
                break
            except DatabaseError:
                continue
    assert await _read_afresh(tmp_path) == {"hits": {"value": 2}}


def _second_unlink(name: str, args: tuple[Any, ...]) -> bool:
    return name == "os.unlink" and str(args[0]).endswith("c.json")


async def test_a_drop_that_raises_leaves_the_collection_whole(tmp_path: Path) -> None:
    db = await _folded_and_journaled(tmp_path)
    with SyscallFaults(matching=_second_unlink), pytest.raises(DatabaseError):
        await db.drop_collection("c")
    await db.close()
    assert await _read_afresh(tmp_path) == {"a": 1, "b": 2}


def _rename_into_place_and_its_undo(name: str, args: tuple[Any, ...]) -> bool:
    return name == "os.replace" and str(args[0]).endswith((".compacting", ".folded"))


async def test_a_compaction_whose_rename_and_undo_fail_loses_nothing(tmp_path: Path) -> None:
    db = await _folded_and_journaled(tmp_path)
    faults = SyscallFaults(matching=_rename_into_place_and_its_undo, error=errno.EIO)
    with faults, pytest.raises(DatabaseError):
        await db.compact()
    await db.close()
    assert await _read_afresh(tmp_path) == {"a": 1, "b": 2}

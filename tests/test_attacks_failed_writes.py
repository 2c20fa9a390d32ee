"""A write that raises changed nothing, in memory or on disk; a drop that raises leaves the
collection whole; a compaction whose rename and undo both fail loses nothing."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import subprocess
import sys
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


READ_IN_ANOTHER_PROCESS = """
import asyncio, sys
from asyncjsondb import AsyncJSONDB
async def main():
    async with AsyncJSONDB(sys.argv[1]) as db:
        print(sorted(dict(await (await db.get_collection("c")).items())))
asyncio.run(main())
"""


def _keys_another_process_reads(path: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-c", READ_IN_ANOTHER_PROCESS, str(path)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def _the_cut_back(name: str, args: tuple[Any, ...]) -> bool:
    return name == "os.ftruncate"


def _the_fsync_and_the_cut_back(name: str, args: tuple[Any, ...]) -> bool:
    return _fsync_of_the_journal(name, args) or _the_cut_back(name, args)


@pytest.mark.parametrize("failing", ["append", "fsync"])
async def test_a_failed_write_whose_cut_back_fails_too_is_refused_and_unread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    db = await _folded_and_journaled(tmp_path)
    c = await db.get_collection("c")
    real_pwrite = os.pwrite

    def disk_full_after_one_frame(fd: int, data: bytes, offset: int) -> int:
        if b"x1" in data:  # the group of three frames: the first reaches the file
            real_pwrite(fd, data[: data.index(b"\n") + 1], offset)
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_pwrite(fd, data, offset)

    if failing == "append":
        monkeypatch.setattr(os, "pwrite", disk_full_after_one_frame)
    matching = _the_cut_back if failing == "append" else _the_fsync_and_the_cut_back
    with SyscallFaults(matching=matching):
        results = await asyncio.gather(
            *(c.set(f"x{i}", i) for i in (1, 2, 3)), return_exceptions=True
        )
    monkeypatch.undo()
    assert all(isinstance(result, StorageError) for result in results)
    with pytest.raises(StorageError, match="close and reopen"):
        await c.set("y", 0)
    assert _keys_another_process_reads(tmp_path) == "['a', 'b']"
    await db.close()
    assert await _read_afresh(tmp_path) == {"a": 1, "b": 2}


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


async def test_a_failed_write_does_not_bring_a_dropped_collection_back(tmp_path: Path) -> None:
    async with AsyncJSONDB(tmp_path) as db, AsyncJSONDB(tmp_path) as other:
        c = await db.get_collection("c")
        await c.set("s", "text")
        await other.drop_collection("c")
        with SyscallFaults(matching=_fsync_of_the_journal), pytest.raises(StorageError):
            await c.set("a", 1)
        assert not (tmp_path / "c.json").exists()
        assert await other.list_collections() == []
        await c.delete("missing")  # no record to commit: nothing to bring back either
        assert await other.list_collections() == []
        await c.set("a", 1)
        assert await other.list_collections() == ["c"]
    assert await _read_afresh(tmp_path) == {"a": 1}


async def test_a_drop_decided_before_its_folder_sync_failed_reports_success(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    decided = False

    def every_fsync_after_the_deciding_unlink(name: str, args: tuple[Any, ...]) -> bool:
        nonlocal decided
        decided = decided or (name == "os.unlink" and str(args[0]).endswith("c.json"))
        return decided and name == "os.fsync"

    db = await _folded_and_journaled(tmp_path)
    with SyscallFaults(matching=every_fsync_after_the_deciding_unlink):
        assert await db.drop_collection("c") is True
    assert "finishing the drop" in caplog.text
    assert await db.list_collections() == []
    await db.close()
    async with AsyncJSONDB(tmp_path) as again:
        assert await again.list_collections() == []
    assert not (tmp_path / "c.json").exists()  # a leftover set-aside journal is settled at use

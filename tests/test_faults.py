"""Guarantee 4: a failed write raises StorageError and leaves disk and memory as they were.

Disk full and permission errors cannot be made real for root on a normal filesystem, so they are
injected at the system calls the engine uses (``os.pwrite``, ``os.fdatasync``/``os.fsync``,
``os.replace``, ``os.open``).
"""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

import pytest

from asyncjsondb import AsyncJSONDB, StorageError


def _snapshot_of(folder: Path) -> dict[str, bytes]:
    return {
        p.name: p.read_bytes()
        for p in sorted(folder.iterdir())
        if not p.name.endswith((".lock", ".changes"))
    }


def _failing(error: int, real: Any, *, after: int = 0) -> Any:
    calls = {"n": 0}

    def fake(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] > after:
            raise OSError(error, os.strerror(error))
        return real(*args, **kwargs)

    return fake


async def _seeded(db_path: Path, **options: Any) -> tuple[AsyncJSONDB, Any]:
    db = AsyncJSONDB(db_path, **options)
    c = await db.get_collection("c")
    await c.set_many({"a": {"v": 1}, "b": {"v": 2}})
    return db, c


WRITES = [
    ("set", lambda c: c.set("a", {"v": 100})),
    ("set new", lambda c: c.set("new", 1)),
    ("delete", lambda c: c.delete("a")),
    ("update", lambda c: c.update("a", {"w": 1})),
    ("increment", lambda c: c.increment("a", "v")),
    ("set_many", lambda c: c.set_many({"x": 1, "a": 5})),
    ("delete_many", lambda c: c.delete_many(["a", "b"])),
    ("clear", lambda c: c.clear()),
]


@pytest.mark.parametrize("error", [errno.ENOSPC, errno.EACCES, errno.EIO])
@pytest.mark.parametrize(("name", "write"), WRITES, ids=[w[0] for w in WRITES])
async def test_a_failed_append_changes_nothing(
    db_path: Path, monkeypatch: pytest.MonkeyPatch, error: int, name: str, write: Any
) -> None:
    db, c = await _seeded(db_path)
    before_disk = _snapshot_of(db_path)
    before = await c.items()
    monkeypatch.setattr(os, "pwrite", _failing(error, os.pwrite))
    with pytest.raises(StorageError, match=os.strerror(error)) as caught:
        await write(c)
    assert caught.value.errno == error and caught.value.path == db_path.resolve() / "c.journal"
    assert await c.items() == before
    assert _snapshot_of(db_path) == before_disk
    monkeypatch.undo()
    await c.set("after", 1)  # the collection still works once the disk does
    await db.close()
    async with AsyncJSONDB(db_path) as again:
        assert await (await again.get_collection("c")).items() == [*before, ("after", 1)]


async def test_a_partial_append_is_cut_off(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db, c = await _seeded(db_path)
    before_disk = _snapshot_of(db_path)
    real = os.pwrite
    calls = {"n": 0}

    def half_then_full(fd: int, data: bytes, offset: int) -> int:
        calls["n"] += 1
        if calls["n"] == 1:
            return real(fd, data[: len(data) // 2], offset)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "pwrite", half_then_full)
    with pytest.raises(StorageError):
        await c.set("big", "x" * 1000)
    assert _snapshot_of(db_path) == before_disk
    assert not await c.exists("big")
    await db.close()


async def test_a_failed_fsync_is_cut_from_the_journal_and_never_seen(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db, c = await _seeded(db_path)
    journal_before = (db_path / "c.journal").read_bytes()
    monkeypatch.setattr(os, "fdatasync", _failing(errno.EIO, os.fdatasync))
    with pytest.raises(StorageError, match="could not fsync"):
        await c.set("a", {"v": 100})
    monkeypatch.undo()
    assert (db_path / "c.journal").read_bytes() == journal_before
    assert await c.get("a") == {"v": 1}
    await c.set("b", 3)  # the collection goes on working
    await db.close()
    async with AsyncJSONDB(db_path) as fresh:
        assert await (await fresh.get_collection("c")).items() == [("a", {"v": 1}), ("b", 3)]


async def test_a_failed_write_that_cannot_be_undone_refuses_use_until_reopened(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db, c = await _seeded(db_path)
    monkeypatch.setattr(os, "fdatasync", _failing(errno.EIO, os.fdatasync))
    monkeypatch.setattr(os, "ftruncate", _failing(errno.EIO, os.ftruncate))
    with pytest.raises(StorageError, match="could not fsync"):
        await c.set("a", {"v": 100})
    monkeypatch.undo()
    with pytest.raises(StorageError, match="undo a failed write"):
        await c.set("b", 3)
    await db.close()  # releases the files without folding what it cannot trust
    async with AsyncJSONDB(db_path) as reopened:
        c = await reopened.get_collection("c")
        await c.set("b", 3)
        assert await c.get("b") == 3


@pytest.mark.parametrize("error", [errno.ENOSPC, errno.EACCES, errno.EXDEV])
async def test_a_failed_compaction_keeps_the_journal_and_memory(
    db_path: Path, monkeypatch: pytest.MonkeyPatch, error: int
) -> None:
    db, c = await _seeded(db_path)
    await c.set("c", 3)
    before_disk = _snapshot_of(db_path)
    before = await c.items()
    monkeypatch.setattr(os, "replace", _failing(error, os.replace))
    with pytest.raises(StorageError):
        await db.compact()
    assert _snapshot_of(db_path) == before_disk  # temp file removed, journal kept
    assert await c.items() == before
    monkeypatch.undo()
    await c.set("d", 4)
    await db.close()
    async with AsyncJSONDB(db_path) as again:
        assert await (await again.get_collection("c")).items() == [*before, ("d", 4)]


async def test_a_folder_that_cannot_be_created_raises(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Path, "mkdir", _failing(errno.EACCES, Path.mkdir))
    db = AsyncJSONDB(tmp_path / "nope")
    with pytest.raises(StorageError, match="could not create the database folder"):
        await db.get_collection("c")
    await db.close()
    assert not (tmp_path / "nope").exists()


async def test_a_journal_that_cannot_be_created_changes_nothing(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = AsyncJSONDB(db_path)
    c = await db.get_collection("c")
    real_open = os.open

    def refuse_journal(path: Any, flags: int, *args: Any) -> int:
        if str(path).endswith(".journal") and flags & os.O_CREAT:
            raise OSError(errno.EACCES, "Permission denied")
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", refuse_journal)
    with pytest.raises(StorageError, match="Permission denied"):
        await c.set("a", 1)
    assert await c.count() == 0
    monkeypatch.undo()
    assert await c.set("a", 1)
    await db.close()

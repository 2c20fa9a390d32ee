"""Listing backups and restoring a single collection, on every backend."""

from __future__ import annotations

from pathlib import Path

import pytest

from asyncjsondb import (
    AsyncJSONDB,
    BackupError,
    CorruptFileError,
    InvalidNameError,
    ReadOnlyError,
)


async def _two_collections(db: AsyncJSONDB) -> None:
    await (await db.get_collection("users")).set_many({"alice": 1, "bob": 2})
    await (await db.get_collection("visits")).set("v1", {"n": 1})


async def test_restoring_one_collection_leaves_the_others(db: AsyncJSONDB, tmp_path: Path) -> None:
    await _two_collections(db)
    await db.backup(tmp_path / "b")
    users, visits = await db.get_collection("users"), await db.get_collection("visits")
    await users.set("carol", 3)
    await users.delete("alice")
    await visits.set("v2", {"n": 2})
    await (await db.get_collection("extra")).set("x", 1)
    assert await db.restore(tmp_path / "b", collection="users")
    assert await users.items() == [("alice", 1), ("bob", 2)]
    assert await visits.items() == [("v1", {"n": 1}), ("v2", {"n": 2})]
    assert await db.list_collections() == ["extra", "users", "visits"]


async def test_a_collection_the_backup_lacks_is_refused_by_name(
    db: AsyncJSONDB, tmp_path: Path
) -> None:
    await _two_collections(db)
    await db.backup(tmp_path / "b")
    await (await db.get_collection("users")).set("carol", 3)
    with pytest.raises(BackupError, match="no collection 'orders'.*users, visits"):
        await db.restore(tmp_path / "b", collection="orders")
    with pytest.raises(InvalidNameError):
        await db.restore(tmp_path / "b", collection="../users")
    assert await (await db.get_collection("users")).get("carol") == 3


async def test_one_collection_restores_though_another_file_of_the_backup_is_damaged(
    tmp_path: Path,
) -> None:
    """``check`` advises restoring the damaged collection: the rest of a backup need not be
    sound for that."""
    async with AsyncJSONDB(tmp_path / "db") as db:
        await _two_collections(db)
        await db.backup(tmp_path / "b")
        (tmp_path / "b" / "visits.json").write_bytes(b"{}\n")
        await (await db.get_collection("users")).set("carol", 3)
        with pytest.raises(CorruptFileError, match="visits.json"):
            await db.restore(tmp_path / "b")  # the whole backup does not verify
        await db.restore(tmp_path / "b", collection="users")
        assert await (await db.get_collection("users")).keys() == ["alice", "bob"]


async def test_backups_are_listed_oldest_first_with_their_collections(
    db: AsyncJSONDB, tmp_path: Path
) -> None:
    backups = tmp_path / "backups"
    await _two_collections(db)
    await db.backup(backups / "b-first")
    await (await db.get_collection("users")).set("carol", 3)
    await db.backup(backups / "a-second")
    (backups / "not-a-backup").mkdir()
    listed = await db.list_backups(backups)
    if listed[0].created == listed[1].created:  # within one second: then by path
        listed.reverse()
    assert [(info.path.name, info.collections) for info in listed] == [
        ("b-first", {"users": 2, "visits": 1}),
        ("a-second", {"users": 3, "visits": 1}),
    ]
    assert all(info.bytes > 0 and info.created.endswith("Z") for info in listed)
    with pytest.raises(BackupError, match="no such folder"):
        await db.list_backups(tmp_path / "missing")


async def test_a_read_only_database_lists_backups_but_does_not_restore(tmp_path: Path) -> None:
    async with AsyncJSONDB(tmp_path / "db") as db:
        await _two_collections(db)
        await db.backup(tmp_path / "b")
    async with AsyncJSONDB(tmp_path / "db", read_only=True) as db:
        assert [info.path for info in await db.list_backups(tmp_path)] == [tmp_path / "b"]
        with pytest.raises(ReadOnlyError):
            await db.restore(tmp_path / "b", collection="users")

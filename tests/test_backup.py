"""Backup and restore: consistent copies, verified before anything is replaced."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from asyncjsondb import AsyncJSONDB, BackupError, CorruptFileError, create_database
from asyncjsondb.backup import MANIFEST_NAME


async def _filled(db_path: Path) -> AsyncJSONDB:
    db = AsyncJSONDB(db_path)
    await (await db.get_collection("users")).set_many({"u1": {"n": 1}, "u2": {"n": 2}})
    await (await db.get_collection("orders")).set("o1", [1, 2])
    return db


async def test_a_backup_is_a_database_folder_with_a_manifest(db_path: Path, tmp_path: Path) -> None:
    db = await _filled(db_path)
    target = tmp_path / "backups" / "one"
    assert await db.backup(target) is True
    await db.close()
    assert sorted(p.name for p in target.iterdir()) == [MANIFEST_NAME, "orders.json", "users.json"]
    manifest = json.loads((target / MANIFEST_NAME).read_text())
    assert manifest["collections"]["users"]["records"] == 2
    async with create_database(target) as copy:
        assert await copy.list_collections() == ["orders", "users"]
        assert await (await copy.get_collection("users")).get("u2") == {"n": 2}


async def test_backup_refuses_a_folder_that_is_not_empty(db_path: Path, tmp_path: Path) -> None:
    db = await _filled(db_path)
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    with pytest.raises(BackupError, match="not an empty folder"):
        await db.backup(tmp_path / "full")
    assert [p.name for p in (tmp_path / "full").iterdir()] == ["keep.txt"]
    (tmp_path / "empty").mkdir()
    assert await db.backup(tmp_path / "empty")
    await db.close()


async def test_restore_brings_back_exactly_the_backup(db_path: Path, tmp_path: Path) -> None:
    db = await _filled(db_path)
    users = await db.get_collection("users")
    await db.backup(tmp_path / "b")
    await users.set("u3", {"n": 3})
    await users.delete("u1")
    await (await db.get_collection("extra")).set("x", 1)
    assert await db.restore(tmp_path / "b") is True
    assert await db.list_collections() == ["orders", "users"]
    assert await users.items() == [("u1", {"n": 1}), ("u2", {"n": 2})]  # an old Collection object
    await users.set("u4", {"n": 4})
    await db.close()
    async with create_database(db_path) as again:
        assert await (await again.get_collection("users")).keys() == ["u1", "u2", "u4"]


async def test_restore_is_seen_by_another_database_object(db_path: Path, tmp_path: Path) -> None:
    db = await _filled(db_path)
    await db.backup(tmp_path / "b")
    other = AsyncJSONDB(db_path, cache_ttl=0)
    users = await other.get_collection("users")
    await (await db.get_collection("users")).clear()
    assert await users.count() == 0
    await db.restore(tmp_path / "b")
    assert await users.count() == 2
    await other.close()
    await db.close()


@pytest.mark.parametrize(
    ("damage", "error", "message"),
    [
        ("flip a byte of users.json", CorruptFileError, "checksum"),
        ("garble the manifest", CorruptFileError, "not valid JSON"),
        ("delete orders.json", BackupError, "listed in the manifest but missing"),
        ("delete the manifest", BackupError, "not a backup folder"),
        ("no folder", BackupError, "no such folder"),
    ],
)
async def test_a_bad_backup_is_refused_and_nothing_changes(
    db_path: Path, tmp_path: Path, damage: str, error: type[Exception], message: str
) -> None:
    db = await _filled(db_path)
    backup = tmp_path / "b"
    await db.backup(backup)
    await (await db.get_collection("users")).set("after", True)
    if damage.startswith("flip"):
        raw = bytearray((backup / "users.json").read_bytes())
        raw[5] ^= 0x01
        (backup / "users.json").write_bytes(bytes(raw))
    elif damage.startswith("garble"):
        (backup / MANIFEST_NAME).write_text("{oops")
    elif damage == "delete orders.json":
        (backup / "orders.json").unlink()
    elif damage == "delete the manifest":
        (backup / MANIFEST_NAME).unlink()
    else:
        backup = tmp_path / "missing"
    before = {p.name: p.read_bytes() for p in db_path.iterdir()}
    with pytest.raises(error, match=message):
        await db.restore(backup)
    assert {p.name: p.read_bytes() for p in db_path.iterdir()} == before
    assert await (await db.get_collection("users")).get("after") is True
    await db.close()


async def test_backup_is_consistent_while_writes_go_on(db_path: Path, tmp_path: Path) -> None:
    """Writes go left then right: a backup taken at one moment never shows right ahead of left."""
    db = AsyncJSONDB(db_path, durability="flush")
    left, right = await db.get_collection("left"), await db.get_collection("right")
    stop = asyncio.Event()

    async def writer() -> None:
        step = 0
        while not stop.is_set():
            step += 1
            await left.set_many({"step": step, "twin": step})
            await right.set("step", step)

    task = asyncio.create_task(writer())
    for index in range(5):
        await asyncio.sleep(0.01)
        await db.backup(tmp_path / f"b{index}")
    stop.set()
    await task
    await db.close()
    for index in range(5):
        folder = tmp_path / f"b{index}"
        left_data = json.loads((folder / "left.json").read_text())
        right_step = json.loads((folder / "right.json").read_text()).get("step", 0)
        assert left_data.get("step") == left_data.get("twin")
        assert left_data.get("step", 0) - right_step in (0, 1)


async def test_restore_and_drop_recover_a_corrupt_collection(db_path: Path, tmp_path: Path) -> None:
    db = await _filled(db_path)
    await db.backup(tmp_path / "b")
    await db.close()
    (db_path / "users.json").write_bytes(b"garbage")
    (db_path / "orders.journal").write_bytes(b"not a journal line\nnor this\n")
    (db_path / "orders.json").write_bytes(b"{oops")
    db = AsyncJSONDB(db_path)
    with pytest.raises(CorruptFileError):
        await db.get_collection("users")
    await db.restore(tmp_path / "b")
    assert await (await db.get_collection("users")).get("u2") == {"n": 2}
    assert await (await db.get_collection("orders")).items() == [("o1", [1, 2])]
    assert not (db_path / "orders.journal").exists()
    (db_path / "users.json").write_bytes(b"garbage again")
    assert await db.drop_collection("users") is True
    assert await db.list_collections() == ["orders"]
    await db.close()


async def test_close_releases_every_collection_even_when_one_is_corrupt(db_path: Path) -> None:
    db = AsyncJSONDB(db_path)
    first, second = await db.get_collection("a"), await db.get_collection("b")
    await first.set("k", 1)
    await second.set("k", 2)
    (db_path / "a.json").write_bytes(b"broken while open")
    with pytest.raises(CorruptFileError, match=r"a\.json"):
        await db.close()
    assert not (db_path / "b.journal").exists()  # b was folded all the same
    assert (db_path / "a.journal").exists()  # a's journal is kept: nothing is lost silently

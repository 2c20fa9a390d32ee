"""Bad input gets a DatabaseError naming the problem, never a bare Python exception, and
changes nothing."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from asyncjsondb import AsyncJSONDB, ConfigurationError, DatabaseError, InvalidKeyError

Misuse = Callable[[Any], Awaitable[Any]]
MISUSES: list[tuple[str, Misuse]] = [
    ("set_many a 1-tuple", lambda c: c.set_many([("a",)])),
    ("set_many an int item", lambda c: c.set_many([1])),
    ("set_many None", lambda c: c.set_many(None)),
    ("get_many None", lambda c: c.get_many(None)),
    ("delete_many None", lambda c: c.delete_many(None)),
    ("delete_many 5", lambda c: c.delete_many(5)),
]


@pytest.mark.parametrize("misuse", [m for _, m in MISUSES], ids=[n for n, _ in MISUSES])
async def test_a_misused_collection_method_raises_a_database_error(
    tmp_path: Path, misuse: Misuse
) -> None:
    async with AsyncJSONDB(tmp_path) as db:
        c = await db.get_collection("c")
        await c.set("kept", 1)
        with pytest.raises(DatabaseError):
            await misuse(c)
        assert await c.items() == [("kept", 1)]


@pytest.mark.parametrize("read", ["get", "exists", "delete"])
async def test_a_lone_surrogate_key_is_an_invalid_key(db: AsyncJSONDB, read: str) -> None:
    c = await db.get_collection("c")
    with pytest.raises(InvalidKeyError):
        await getattr(c, read)("\udc80")


async def test_an_infinite_lock_timeout_is_refused_or_works(tmp_path: Path) -> None:
    try:
        db = AsyncJSONDB(tmp_path, lock_timeout=float("inf"))
    except DatabaseError:
        return
    async with db:
        await (await db.get_collection("c")).set("k", 1)


@pytest.mark.parametrize("option", ["lock_timeout", "cache_ttl", "compact_ratio"])
def test_a_nan_option_is_refused_by_name(tmp_path: Path, option: str) -> None:
    with pytest.raises(ConfigurationError, match=option):
        AsyncJSONDB(tmp_path, **{option: float("nan")})


async def test_a_lone_surrogate_key_is_refused_by_writes_and_changes_nothing(
    db: AsyncJSONDB,
) -> None:
    c = await db.get_collection("c")
    await c.set("kept", 1)
    with pytest.raises(InvalidKeyError, match="surrogate"):
        await c.set_many({"ok": 1, "\udc80": 2})
    assert await c.items() == [("kept", 1)]


async def _a_backup(tmp_path: Path) -> Path:
    async with AsyncJSONDB(tmp_path / "source") as source:
        await (await source.get_collection("c")).set("k", 1)
        await source.backup(tmp_path / "backup")
    return tmp_path / "backup"


def _manifest_a_folder(backup: Path) -> None:
    manifest = next(backup.glob("*.manifest"))
    manifest.unlink()
    manifest.mkdir()


def _manifest_a_symlink_loop(backup: Path) -> None:
    manifest = next(backup.glob("*.manifest"))
    manifest.unlink()
    os.symlink(manifest.name, manifest)


@pytest.mark.parametrize(
    "damage", [_manifest_a_folder, _manifest_a_symlink_loop], ids=["folder", "symlink-loop"]
)
async def test_restoring_from_an_odd_manifest_raises_a_database_error(
    tmp_path: Path, damage: Callable[[Path], None]
) -> None:
    backup = await _a_backup(tmp_path)
    damage(backup)
    async with AsyncJSONDB(tmp_path / "db") as db:
        await (await db.get_collection("c")).set("kept", 1)
        with pytest.raises(DatabaseError):
            await db.restore(backup)
        assert await (await db.get_collection("c")).items() == [("kept", 1)]


async def test_a_backup_under_a_file_raises_a_database_error(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")
    async with AsyncJSONDB(tmp_path / "db") as db:
        await db.get_collection("c")
        with pytest.raises(DatabaseError):
            await db.backup(tmp_path / "a-file" / "sub")

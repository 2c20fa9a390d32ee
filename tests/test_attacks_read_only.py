"""A database on read-only media, or of a read-only account, can be read: ``read_only=True``
writes nothing, takes each collection's lock through a descriptor opened for reading, and refuses
every write with a ReadOnlyError that names it."""

from __future__ import annotations

import errno
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from asyncjsondb import (
    AsyncJSONDB,
    ConfigurationError,
    LockTimeoutError,
    ReadOnlyError,
    StorageError,
)
from asyncjsondb.backends.files import journal
from asyncjsondb.backends.files.layout import CollectionFiles
from asyncjsondb.backends.files.locks import ProcessLock
from asyncjsondb.check import check_database
from asyncjsondb.codec import encode_key
from tests.faults import ReadOnlyMedia
from tests.journal_tail import tear


async def _folded_and_journaled(path: Path) -> None:
    """``folded`` in c.json and ``journaled`` in c.journal, as a process that died leaves them."""
    async with AsyncJSONDB(path) as db:
        await (await db.get_collection("c")).set("folded", 1)
    record = journal.SetRecord("journaled", encode_key("journaled"), b"2")
    (path / "c.journal").write_bytes(journal.frame(record))


def _listing(path: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(path.iterdir())}


async def test_a_read_only_database_can_be_read(tmp_path: Path) -> None:
    await _folded_and_journaled(tmp_path)
    with ReadOnlyMedia():
        async with AsyncJSONDB(tmp_path, read_only=True) as db:
            assert await db.list_collections() == ["c"]
            c = await db.get_collection("c")
            assert await c.items() == [("folded", 1), ("journaled", 2)]


Write = Callable[[AsyncJSONDB], Awaitable[Any]]


async def _in_c(db: AsyncJSONDB, method: str, *args: Any) -> Any:
    return await getattr(await db.get_collection("c"), method)(*args)


WRITES: dict[str, Write] = {
    "set": lambda db: _in_c(db, "set", "k", 1),
    "set_many": lambda db: _in_c(db, "set_many", {"k": 1}),
    "delete": lambda db: _in_c(db, "delete", "folded"),
    "delete_many": lambda db: _in_c(db, "delete_many", ["folded"]),
    "clear": lambda db: _in_c(db, "clear"),
    "update": lambda db: _in_c(db, "update", "folded", {"a": 1}),
    "increment": lambda db: _in_c(db, "increment", "folded"),
    "drop_collection": lambda db: db.drop_collection("c"),
    "compact": lambda db: db.compact(),
    "restore": lambda db: db.restore(db.db_path),  # type: ignore[arg-type]
}


@pytest.mark.parametrize("write", list(WRITES))
async def test_every_write_is_refused_by_name_and_changes_nothing(
    tmp_path: Path, write: str
) -> None:
    await _folded_and_journaled(tmp_path)
    before = _listing(tmp_path)
    with ReadOnlyMedia():
        async with AsyncJSONDB(tmp_path, read_only=True) as db:
            with pytest.raises(ReadOnlyError, match="read_only=True") as refused:
                await WRITES[write](db)
            assert write.split("_")[0][:6] in refused.value.operation
            assert await (await db.get_collection("c")).items() == [
                ("folded", 1),
                ("journaled", 2),
            ]
    assert _listing(tmp_path) == before


async def test_a_missing_collection_reads_empty_and_no_file_is_made(tmp_path: Path) -> None:
    await _folded_and_journaled(tmp_path)
    before = _listing(tmp_path)
    with ReadOnlyMedia():
        async with AsyncJSONDB(tmp_path, read_only=True) as db:
            assert await (await db.get_collection("absent")).items() == []
    assert _listing(tmp_path) == before


async def test_a_torn_journal_tail_is_skipped_not_cut(tmp_path: Path) -> None:
    await _folded_and_journaled(tmp_path)
    tear(tmp_path / "c.journal", b"0000torn")
    before = _listing(tmp_path)
    with ReadOnlyMedia():
        async with AsyncJSONDB(tmp_path, read_only=True) as db:
            assert await (await db.get_collection("c")).get("journaled") == 2
    assert _listing(tmp_path) == before


async def test_an_interrupted_compaction_is_named_not_read_in_part(tmp_path: Path) -> None:
    await _folded_and_journaled(tmp_path)
    files = CollectionFiles(tmp_path, "c")
    files.journal.rename(files.folded)  # the crash came between the journal's rename and the file's
    with ReadOnlyMedia():
        async with AsyncJSONDB(tmp_path, read_only=True) as db:
            with pytest.raises(ReadOnlyError, match="interrupted compaction"):
                await (await db.get_collection("c")).get("journaled")
    async with AsyncJSONDB(tmp_path) as db:  # a writable open finishes it
        assert await (await db.get_collection("c")).get("journaled") is None


async def test_a_reader_takes_the_writers_lock(tmp_path: Path) -> None:
    """Readers see whole commits and compactions: they wait for the collection's lock."""
    await _folded_and_journaled(tmp_path)
    writer = ProcessLock(CollectionFiles(tmp_path, "c").lock, 10)
    writer.acquire()
    try:
        async with AsyncJSONDB(tmp_path, read_only=True, lock_timeout=0.05) as db:
            with pytest.raises(LockTimeoutError):
                await (await db.get_collection("c")).get("folded")
    finally:
        writer.close()


async def test_a_read_only_database_can_be_backed_up(tmp_path: Path) -> None:
    await _folded_and_journaled(tmp_path / "db")
    CollectionFiles(tmp_path / "db", "c").changes.unlink(missing_ok=True)  # nor is it made
    before = _listing(tmp_path / "db")
    async with AsyncJSONDB(tmp_path / "db", read_only=True) as db:
        await db.backup(tmp_path / "backup")
    async with AsyncJSONDB(tmp_path / "backup") as copy:
        assert await (await copy.get_collection("c")).items() == [("folded", 1), ("journaled", 2)]
    assert _listing(tmp_path / "db") == before


def test_read_only_must_be_a_bool(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="read_only"):
        AsyncJSONDB(tmp_path, read_only="yes")


async def test_a_reader_and_a_writer_in_one_process_keep_their_own_files(tmp_path: Path) -> None:
    """Whichever opens the folder first, the writer writes under its lock and the reader reads."""
    await _folded_and_journaled(tmp_path)
    async with AsyncJSONDB(tmp_path, read_only=True, cache_ttl=0) as reader:
        assert await (await reader.get_collection("c")).get("journaled") == 2
        async with AsyncJSONDB(tmp_path) as writer:
            await (await writer.get_collection("c")).set("new", 3)
            assert await (await reader.get_collection("c")).get("new") == 3
    async with AsyncJSONDB(tmp_path) as again:
        assert await (await again.get_collection("c")).get("new") == 3


async def test_a_reader_cannot_create_or_drop_an_index(tmp_path: Path) -> None:
    async with AsyncJSONDB(tmp_path) as writer:
        await (await writer.get_collection("c")).set("a", {"n": 1})
    async with AsyncJSONDB(tmp_path, read_only=True) as reader:
        c = await reader.get_collection("c")
        with pytest.raises(ReadOnlyError):
            await c.create_index("n")
        with pytest.raises(ReadOnlyError):
            await c.drop_index("n")
        assert await c.list_indexes() == [] and await c.find(where={"n": 1}) == [{"n": 1}]
    assert not any(p.name.endswith(".indexes") for p in tmp_path.iterdir())


@pytest.mark.parametrize("counter_exists", [True, False])
async def test_a_counter_this_process_may_not_write_refuses_a_writable_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, counter_exists: bool
) -> None:
    """A writable folder whose ``.<name>.changes`` this process may not open for writing (another
    user's, or not yet made and not makable): a writer that could not bump it would change the
    collection unseen, and another process would append over its records. So every use of a
    writable database object raises StorageError naming the counter, before anything changes
    (a load may finish a compaction), and ``read_only=True`` reads it. Found by the long
    I/O-error loop (EPERM on that open let a TypeError out of the first write), and by review
    (with no counter file yet, writes were acknowledged and then overwritten by another process).
    """
    await _folded_and_journaled(tmp_path / "db")
    counter = CollectionFiles(tmp_path / "db", "c").changes
    if not counter.exists() or not counter_exists:
        counter.unlink(missing_ok=True)
    before = _listing(tmp_path / "db")
    real_open = os.open

    def refusing(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if str(path) == str(counter) and flags & os.O_RDWR:
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", refusing)
    async with AsyncJSONDB(tmp_path / "db", read_only=True) as reader:
        stored = await (await reader.get_collection("c")).items()
    assert stored == [("folded", 1), ("journaled", 2)]
    async with AsyncJSONDB(tmp_path / "db") as db:
        for use in (lambda: db.get_collection("c"), db.compact):
            with pytest.raises(StorageError, match="change counter") as refused:
                await use()
            assert str(refused.value.path) == str(counter)
    assert _listing(tmp_path / "db") == before  # the journal was not folded at close either
    if counter_exists:  # a repair would change the files under readers it could not tell
        with pytest.raises(StorageError, match="change counter"):
            check_database(tmp_path / "db", repair=True)
    else:  # no process has a counter mapped: none trusts its memory
        check_database(tmp_path / "db", repair=True)
    assert _listing(tmp_path / "db") == before
    monkeypatch.undo()
    async with AsyncJSONDB(tmp_path / "db") as again:  # nothing was left locked or lost
        assert await (await again.get_collection("c")).items() == stored

"""The consistency checker, on real files, while the database is open in this process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from asyncjsondb import CorruptFileError, LockTimeoutError, StorageError, create_database
from asyncjsondb.check import (
    CheckReport,
    CollectionStats,
    Problem,
    check_database,
    collection_stats,
)
from tests.journal_tail import tear

TEMP_NAME = ".users.json.tmp-0123456789ab"


async def make_journal(path: Path) -> None:
    """users.json plus a users.journal of acknowledged writes (the database stays usable)."""
    async with create_database(path) as db:
        users = await db.get_collection("users")
        await users.set_many({"ann": {"age": 30}, "bob": {"age": 25}})
    async with create_database(path, auto_compact=False) as db:
        users = await db.get_collection("users")
        await users.set("cid", {"age": 41})
        await users.delete("bob")
        assert (path / "users.journal").stat().st_size > 0
        # Copy the files as the crash left them; closing would fold the journal away.
        saved = {name: (path / name).read_bytes() for name in ("users.json", "users.journal")}
    for name, raw in saved.items():
        (path / name).write_bytes(raw)


def only(report: CheckReport) -> Problem:
    assert len(report.problems) == 1, report.problems
    return report.problems[0]


async def test_a_sound_database_is_ok_while_it_is_open(tmp_path: Path) -> None:
    async with create_database(tmp_path, auto_compact=False) as db:
        users = await db.get_collection("users")
        await users.set_many({"a": 1, "b": [1, 2]})
        await users.set("c", {"x": None})
        await (await db.get_collection("empty")).count()
        assert check_database(tmp_path) == CheckReport(ok=True, problems=[], repaired=[])
        sizes = (tmp_path / "users.json").stat().st_size + (
            tmp_path / "users.journal"
        ).stat().st_size
        assert collection_stats(tmp_path) == [
            CollectionStats("empty", 0, 3),
            CollectionStats("users", 3, sizes),
        ]
        assert await users.get("c") == {"x": None}


async def test_a_torn_journal_tail_is_cut_and_nothing_acknowledged_is_lost(tmp_path: Path) -> None:
    await make_journal(tmp_path)
    journal = tmp_path / "users.journal"
    valid = tear(journal, b'0badc0des5:"dan"{"age"')  # an append cut short by a crash

    problem = only(check_database(tmp_path))
    assert (problem.path, problem.position, problem.repairable) == (journal, valid, True)
    assert "torn tail" in problem.message
    assert [s.records for s in collection_stats(tmp_path)] == [2]  # read only: nothing cut
    assert journal.stat().st_size > valid

    report = check_database(tmp_path, repair=True)
    assert report.ok and report.problems == [problem]
    assert report.repaired == [f"cut the torn tail of {journal} at byte {valid} (22 bytes)"]
    assert journal.stat().st_size == valid
    assert check_database(tmp_path).ok
    async with create_database(tmp_path) as db:
        users = await db.get_collection("users")
        assert await users.items() == [("ann", {"age": 30}), ("cid", {"age": 41})]


async def test_a_bad_journal_line_before_good_ones_is_reported_not_repaired(tmp_path: Path) -> None:
    await make_journal(tmp_path)
    journal = tmp_path / "users.journal"
    raw = bytearray(journal.read_bytes())
    raw[12] ^= 0x01  # inside the first record's body: its checksum no longer matches
    journal.write_bytes(bytes(raw))

    report = check_database(tmp_path, repair=True)
    problem = only(report)
    assert not report.ok and report.repaired == []
    assert (problem.path, problem.position, problem.repairable) == (journal, 0, False)
    assert "checksum" in problem.message
    assert journal.read_bytes() == bytes(raw)
    with pytest.raises(CorruptFileError):
        collection_stats(tmp_path)


async def test_a_corrupt_collection_file_is_reported_with_its_byte_position(tmp_path: Path) -> None:
    raw = '{\n"é":1,\n"b":tru\n}\n'.encode()
    (tmp_path / "users.json").write_bytes(raw)
    async with create_database(tmp_path) as db:
        await (await db.get_collection("fine")).set("k", 1)

    report = check_database(tmp_path, repair=True)
    problem = only(report)
    assert not report.ok
    assert problem.path == tmp_path / "users.json"
    assert problem.position == raw.index(b"tru")  # bytes, though "é" is one character
    assert not problem.repairable and "not valid JSON" in problem.message
    assert str(problem).startswith(f"{tmp_path / 'users.json'} at byte {problem.position}: ")
    assert (tmp_path / "users.json").read_bytes() == raw
    with pytest.raises(CorruptFileError):
        collection_stats(tmp_path)


async def test_stale_temp_files_are_removed_by_repair(tmp_path: Path) -> None:
    async with create_database(tmp_path) as db:
        await (await db.get_collection("users")).set("k", 1)
    (tmp_path / TEMP_NAME).write_bytes(b'{\n"k":')
    (tmp_path / ".fresh.json.tmp-ba9876543210").write_bytes(b"{}")  # a collection never created

    report = check_database(tmp_path)
    assert not report.ok
    assert [(p.path.name, p.repairable) for p in report.problems] == [
        (".fresh.json.tmp-ba9876543210", True),
        (TEMP_NAME, True),
    ]
    report = check_database(tmp_path, repair=True)
    assert report.ok
    assert report.repaired == [
        f"removed {tmp_path / name}, the temp file of an interrupted write"
        for name in (".fresh.json.tmp-ba9876543210", TEMP_NAME)
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        ".fresh.lock",
        ".users.changes",
        ".users.lock",
        "users.json",
    ]


async def test_a_journal_without_its_collection_file_is_reported(tmp_path: Path) -> None:
    await make_journal(tmp_path)
    (tmp_path / "users.json").unlink()
    report = check_database(tmp_path, repair=True)
    problem = only(report)
    assert not report.ok and not problem.repairable
    assert problem.path == tmp_path / "users.journal"
    assert "journal without users.json" in problem.message


async def test_a_backup_folder_has_its_checksums_verified(tmp_path: Path) -> None:
    async with create_database(tmp_path / "db") as db:
        await (await db.get_collection("users")).set_many({"a": 1, "b": 2})
        await db.backup(tmp_path / "backup")
    assert check_database(tmp_path / "backup").ok
    (tmp_path / "backup" / "users.json").write_bytes(b'{\n"a":1,\n"b":3\n}\n')  # still valid JSON
    problem = only(check_database(tmp_path / "backup"))
    assert problem.path == tmp_path / "backup" / "users.json"
    assert "checksum" in problem.message and not problem.repairable


def test_the_checker_waits_for_the_collection_lock(tmp_path: Path) -> None:
    (tmp_path / "users.json").write_bytes(b"{}\n")
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(tmp_path / ".users.lock")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"held\n"
        with pytest.raises(LockTimeoutError):
            check_database(tmp_path, lock_timeout=0.2)
        with pytest.raises(LockTimeoutError):
            collection_stats(tmp_path, lock_timeout=0.2)
    finally:
        holder.communicate(b"", timeout=30)
    assert check_database(tmp_path, lock_timeout=0.2).ok


def test_a_path_that_is_not_a_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StorageError):
        check_database(tmp_path / "missing")
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(StorageError):
        collection_stats(tmp_path / "file")


HOLD_LOCK = """
import sys
from pathlib import Path
from asyncjsondb.backends.files.locks import ProcessLock
lock = ProcessLock(Path(sys.argv[1]), 1.0)
lock.acquire()
print("held", flush=True)
sys.stdin.read()
"""


async def test_an_interrupted_compaction_is_reported_and_finished_by_repair(tmp_path: Path) -> None:
    async with create_database(tmp_path) as db:
        await (await db.get_collection("c")).set("old", 1)
    # As a crash between the journal's rename and the new file's leaves them:
    (tmp_path / ".c.json.compacting").write_bytes(b'{\n"old":1,\n"new":2\n}\n')
    (tmp_path / ".c.journal.folded").write_bytes(b"")
    report = check_database(tmp_path)
    assert [(p.path.name, p.repairable) for p in report.problems] == [
        (".c.journal.folded", True),
        (".c.json.compacting", True),
    ]
    report = check_database(tmp_path, repair=True)
    assert report.ok and report.repaired[0].startswith("finished an interrupted compaction")
    assert json.loads((tmp_path / "c.json").read_text()) == {"old": 1, "new": 2}
    assert sorted(
        p.name for p in tmp_path.iterdir() if not p.name.endswith((".lock", ".changes"))
    ) == ["c.json"]

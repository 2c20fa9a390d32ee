"""``asyncjsondb`` backup, restore, check and compact, in subprocesses, while others write."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from asyncjsondb import create_database
from tests.cli_support import ENV, Result, Writer, cli, on_terminal
from tests.journal_tail import tear

# A process that writes and dies without closing: its writes stay in users.journal.
CRASH_AFTER_WRITES = """
import asyncio, os, sys
from asyncjsondb import create_database

async def main():
    db = create_database(sys.argv[1], auto_compact=False)
    users = await db.get_collection("users")
    await users.set_many({f"k{i}": i for i in range(10)})
    await users.set("last", {"x": 1})
    os._exit(0)

asyncio.run(main())
"""

HOLD_LOCK = """
import sys
from pathlib import Path
from asyncjsondb.backends.files.locks import ProcessLock
ProcessLock(Path(sys.argv[1]), 1.0).acquire()
print("held", flush=True)
sys.stdin.read()
"""


def crashed_writer(db: Path) -> Path:
    subprocess.run([sys.executable, "-c", CRASH_AFTER_WRITES, str(db)], env=ENV, check=True)
    journal = db / "users.journal"
    assert journal.stat().st_size > 0
    return journal


def files_of(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


def manifest(backup: Path) -> dict[str, Any]:
    return json.loads((backup / "asyncjsondb-backup.manifest").read_text())  # type: ignore[no-any-return]


# -- backup -------------------------------------------------------------------------------


def test_backup_writes_a_verified_folder_and_prints_its_path(tmp_path: Path) -> None:
    db = tmp_path / "data"
    assert cli("set", db, "users", "ann", '{"age": 30}', "--create").code == 0
    made = cli("backup", db, cwd=tmp_path)
    assert made.code == 0, made.err
    default = Path(made.out.strip())
    assert default.parent == tmp_path and default.name.startswith("data-backup-")
    assert manifest(default)["collections"]["users"]["records"] == 1

    chosen = cli("backup", db, "--output", tmp_path / "nightly")
    assert (chosen.code, chosen.out) == (0, f"{tmp_path / 'nightly'}\n")
    assert cli("check", tmp_path / "nightly").code == 0
    assert cli("get", tmp_path / "nightly", "users", "ann").out == '{"age":30}\n'  # a database too
    again = cli("backup", db, "--output", tmp_path / "nightly")
    assert again.code == 1 and "already exists" in again.err


def test_backup_names_the_folder_it_cannot_make(tmp_path: Path) -> None:
    assert cli("set", tmp_path / "db", "users", "ann", "1", "--create").code == 0
    (tmp_path / "a-file").write_text("")
    for target, culprit, reason in [
        ("/proc/nope/backup", "/proc/nope", "No such file or directory"),
        (tmp_path / "a-file" / "backup", tmp_path / "a-file", "File exists"),
    ]:
        result = cli("backup", tmp_path / "db", "-o", target)
        assert result.code == 1
        assert result.err == f"Error: could not write the backup {target}: {culprit}: {reason}\n"


def test_backups_are_consistent_while_another_process_writes(tmp_path: Path) -> None:
    db = tmp_path / "db"
    writer = Writer(db, tmp_path / "stop")
    try:
        for number in range(3):
            target = tmp_path / f"backup-{number}"
            assert cli("backup", db, "--output", target).code == 0
            a, b = (json.loads((target / f"{name}.json").read_text())["n"] for name in "ab")
            assert a - b in (0, 1)  # the writer sets a, then b: one moment of both
    finally:
        pairs = writer.stop()
    assert pairs > 0


# -- restore ------------------------------------------------------------------------------


@pytest.fixture
def backed_up(tmp_path: Path) -> tuple[Path, Path]:
    """A database changed since its backup: (database, backup)."""
    db, backup = tmp_path / "db", tmp_path / "backup"

    async def prepare() -> None:
        async with create_database(db) as database:
            users = await database.get_collection("users")
            await users.set("ann", 1)
            await database.backup(backup)
            await users.set("ann", 2)
            await (await database.get_collection("later")).set("k", 3)

    asyncio.run(prepare())
    return db, backup


def restored(db: Path) -> bool:
    """The database is the backup again: the files alone say so."""
    return sorted(p.name for p in db.glob("*.json")) == ["users.json"] and json.loads(
        (db / "users.json").read_text()
    ) == {"ann": 1}


def test_restore_needs_yes_when_not_on_a_terminal(backed_up: tuple[Path, Path]) -> None:
    db, backup = backed_up
    before = files_of(db)
    refused = cli("restore", db, backup)
    assert refused.code == 2 and "pass --yes" in refused.err
    assert files_of(db) == before

    done = cli("restore", db, backup, "--yes")
    assert (done.code, done.out) == (0, f"restored 1 collection from {backup}: users\n")
    assert restored(db)


def test_restore_one_collection_leaves_the_others(backed_up: tuple[Path, Path]) -> None:
    db, backup = backed_up
    later = (db / "later.json").read_bytes()
    refused = cli("restore", db, backup, "--collection", "users")
    assert refused.code == 2 and "pass --yes" in refused.err
    done = cli("restore", db, backup, "--collection", "users", "--yes")
    assert (done.code, done.out) == (0, f"restored users (1 record) from {backup}\n")
    assert json.loads((db / "users.json").read_text()) == {"ann": 1}
    assert (db / "later.json").read_bytes() == later
    missing = cli("restore", db, backup, "--collection", "later", "--yes")
    assert missing.code == 1 and "holds no collection 'later' (it holds: users)" in missing.err
    assert cli("restore", db, backup, "--collection", ".x", "--yes").code == 2


def test_backup_list_shows_the_backups_oldest_first(tmp_path: Path) -> None:
    db = tmp_path / "data"
    assert cli("set", db, "users", "ann", "1", "--create").code == 0
    made = Path(cli("backup", db, cwd=tmp_path).out.strip())
    cli("backup", db, "--output", tmp_path / "elsewhere" / "manual")
    listed = cli("backup", db, "--list")
    assert listed.code == 0
    header, *rows = listed.out.splitlines()
    assert header.split() == ["BACKUP", "CREATED", "COLLECTIONS", "RECORDS", "SIZE"]
    assert [row.split()[0] for row in rows] == [str(made)]  # PATH's own, beside it
    elsewhere = json.loads(cli("backup", db, "--list", "-o", tmp_path / "elsewhere", "--json").out)
    assert [(Path(b["path"]).name, b["collections"]) for b in elsewhere] == [
        ("manual", {"users": 1})
    ]
    empty = cli("backup", db, "--list", "-o", tmp_path / "nothing-here")
    assert empty.code == 1 and "no such folder" in empty.err


def test_restore_refuses_a_missing_folder_unless_create(backed_up: tuple[Path, Path]) -> None:
    _, backup = backed_up
    typo = backup.parent / "dta"
    refused = cli("restore", typo, backup, "--yes")
    assert refused.code == 2 and f"no database folder {typo}: pass --create" in refused.err
    assert not typo.exists()
    assert cli("restore", typo, backup, "--yes", "--create").code == 0
    assert restored(typo)


def test_drop_deletes_a_collection_after_asking(backed_up: tuple[Path, Path]) -> None:
    db, _ = backed_up
    before = files_of(db)
    refused = cli("drop", db, "later")
    assert refused.code == 2 and "pass --yes" in refused.err
    assert files_of(db) == before
    done = cli("drop", db, "later", "--yes")
    assert (done.code, done.out) == (0, "dropped later (1 record)\n")
    assert not list(db.glob("later.*"))
    assert cli("get", db, "users", "ann").out == "2\n"  # the other collection is kept
    again = cli("drop", db, "later", "--yes")
    assert again.code == 2 and "no collection 'later'" in again.err


@pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals are POSIX")
def test_drop_asks_on_a_terminal(backed_up: tuple[Path, Path]) -> None:
    db, _ = backed_up
    code, output = on_terminal(["drop", db, "later"], answer=b"n\n")
    assert code == 1 and "Delete the collection later" in output and "[y/N]" in output
    assert (db / "later.json").exists()


@pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals are POSIX")
def test_restore_asks_on_a_terminal(backed_up: tuple[Path, Path]) -> None:
    db, backup = backed_up
    before = files_of(db)
    code, output = on_terminal(["restore", db, backup], answer=b"n\n")
    assert code == 1 and "[y/N]" in output and "Aborted" in output
    assert files_of(db) == before
    code, output = on_terminal(["restore", db, backup], answer=b"y\n")
    assert code == 0 and "restored 1 collection" in output
    assert restored(db)


def test_a_damaged_backup_is_refused_and_changes_nothing(backed_up: tuple[Path, Path]) -> None:
    db, backup = backed_up
    (backup / "users.json").write_bytes(b'{\n"ann":7\n}\n')
    before = files_of(db)
    result = cli("restore", db, backup, "--yes")
    assert result.code == 1 and "does not match the manifest's checksum" in result.err
    assert files_of(db) == before
    assert cli("restore", db, backup.parent / "nowhere", "--yes").code == 2


async def test_restore_while_another_process_writes_is_never_half_done(tmp_path: Path) -> None:
    db, backup = tmp_path / "db", tmp_path / "backup"
    big = {f"r{i}": {"i": i} for i in range(20_000)}
    async with create_database(db) as database:
        await (await database.get_collection("big")).set_many(big)
        await database.backup(backup)  # "new": big full, no "old_only"
        await database.drop_collection("big")
        await (await database.get_collection("old_only")).set("k", 1)  # "old"

    writer = Writer(db, tmp_path / "stop")  # keeps writing collections a and b
    moments: list[dict[str, Any]] = []
    try:
        restore = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "asyncjsondb", "restore", str(db), str(backup), "--yes",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=ENV,
        )  # fmt: skip
        finishing = asyncio.ensure_future(restore.communicate())
        async with create_database(db) as database:
            while True:  # whole-database snapshots, each one moment, until after the restore
                finished = finishing.done()
                target = tmp_path / f"moment-{len(moments)}"
                await database.backup(target)
                moments.append(manifest(target)["collections"])
                if finished:
                    break
        _, err = await finishing
    finally:
        writer.stop()

    states = [("big" in m, m.get("big", {}).get("records"), "old_only" in m) for m in moments]
    assert set(states) <= {(False, None, True), (True, 20_000, False)}  # old or new, no mixture
    if restore.returncode == 0:
        assert states[-1] == (True, 20_000, False)
        result = cli("export", db, "big")
        assert json.loads(result.out) == big
    else:  # refused (a lock wait timed out): then nothing changed
        assert restore.returncode == 1 and b"could not lock" in err
        assert states[-1] == (False, None, True)


# -- check, compact -----------------------------------------------------------------------


def test_check_finds_a_corrupt_file(tmp_path: Path) -> None:
    db = tmp_path / "db"
    (db / "users.json").parent.mkdir()
    (db / "users.json").write_bytes(b'{\n"ann":1\n}\n')
    assert (ok := cli("check", db)).code == 0 and ok.out == f"{db}: ok\n"
    damaged = b'{\n"ann":1,\n"bob":{"x":\n'
    (db / "users.json").write_bytes(damaged + b"}\n")  # the "}" is where a value should be

    result = cli("check", db)
    assert result.code == 1
    first, summary = result.out.splitlines()
    assert first.startswith(f"{db / 'users.json'} at byte {len(damaged)}: not valid JSON")
    assert summary == f"{db}: 1 problem, 0 repaired: NOT OK"
    assert cli("check", db, "--repair").code == 1  # nothing a repair could do safely

    report = json.loads(cli("check", db, "--json").out)
    assert report["ok"] is False and report["repaired"] == []
    (problem,) = report["problems"]
    assert problem == {
        "path": str(db / "users.json"),
        "position": len(damaged),
        "message": problem["message"],
        "repairable": False,
    }


def test_check_repair_cuts_a_torn_journal_tail(tmp_path: Path) -> None:
    db = tmp_path / "db"
    journal = crashed_writer(db)
    valid = tear(journal, b'0badc0des6:"next"{')  # the crash interrupted an append

    found = cli("check", db)
    assert found.code == 1
    assert found.out.splitlines()[0] == (
        f"{journal} at byte {valid}: torn tail: the last 18 bytes are an append that never "
        "completed, so it was never acknowledged (repairable: run with --repair)"
    )
    repaired = cli("check", db, "--repair")
    assert repaired.code == 0
    lines = repaired.out.splitlines()
    assert lines[1] == f"repaired: cut the torn tail of {journal} at byte {valid} (18 bytes)"
    assert lines[2] == f"{db}: 1 problem, 1 repaired: ok after repair"
    assert journal.stat().st_size == valid
    assert cli("check", db).code == 0
    assert cli("get", db, "users", "last").out == '{"x":1}\n'  # every acknowledged write kept


def test_compact_folds_the_journal_into_the_json_file(tmp_path: Path) -> None:
    db = tmp_path / "db"
    crashed_writer(db)
    result = cli("compact", db)
    assert (result.code, result.out) == (0, "compacted 1 collection: users\n")
    assert not (db / "users.journal").exists()
    stored = json.loads((db / "users.json").read_text())  # the file alone is the data
    assert stored == {**{f"k{i}": i for i in range(10)}, "last": {"x": 1}}
    assert cli("compact", db).out == (
        f"{db}: nothing to compact, the .json files already hold all the data\n"
    )


def test_commands_wait_for_the_lock_an_application_holds(tmp_path: Path) -> None:
    db = tmp_path / "db"
    db.mkdir()
    (db / "users.json").write_bytes(b'{\n"ann":1\n}\n')
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(db / ".users.lock")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=ENV,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"held\n"
        results: list[Result] = [
            cli("--lock-timeout", "0.2", *args)
            for args in (["set", db, "users", "bob", "2"], ["check", db], ["backup", db])
        ]
    finally:
        holder.communicate(b"", timeout=30)
    for result in results:
        assert result.code == 1 and "could not lock" in result.err, result
    assert cli("get", db, "users", "bob").code == 1

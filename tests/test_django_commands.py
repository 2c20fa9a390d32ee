"""The management commands through ``call_command``, on real folders: output, prompts, refusals."""

from __future__ import annotations

import asyncio
import io
import os
import re
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError, SystemCheckError

from asyncjsondb.backup import read_backup
from asyncjsondb.codec import decode
from asyncjsondb_django import close_databases
from tests.django_helpers import Folders, command, contents, fill
from tests.journal_tail import tear

pytest_plugins = ["tests.django_support"]

USERS = {"ada": {"name": "Ada"}, "grace": {"name": "Grace"}}
ORDERS = {"o1": {"total": 3}}


def files_of(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


@pytest.fixture
def database(jsondb_folders: Folders) -> Folders:
    asyncio.run(fill({"users": USERS, "orders": ORDERS}))
    return jsondb_folders


@pytest.fixture
def backup(database: Folders) -> Path:
    return Path(command("jsondb_backup").strip())


# -- jsondb_collections --------------------------------------------------------------------


def test_collections_shows_names_records_and_sizes(database: Folders) -> None:
    def size(name: str) -> int:  # the snapshot and the journal the open app is appending to
        files = [database.path / f"{name}.json", database.path / f"{name}.journal"]
        return sum(path.stat().st_size for path in files if path.exists())

    orders, users = size("orders"), size("users")
    assert command("jsondb_collections") == (
        "collection  records  bytes\n"
        f"orders            1  {orders:>5}\n"
        f"users             2  {users:>5}\n"
        f"(total)           3  {orders + users:>5}\n"
    )


def test_collections_of_an_empty_database(jsondb_folders: Folders) -> None:
    jsondb_folders.path.mkdir()
    assert command("jsondb_collections") == f"No collections in {jsondb_folders.path}.\n"


@pytest.mark.parametrize("name", ["jsondb_collections", "jsondb_check", "jsondb_backup"])
def test_commands_refuse_a_missing_database_folder(jsondb_folders: Folders, name: str) -> None:
    with pytest.raises(
        CommandError, match=f"no database folder {re.escape(str(jsondb_folders.path))}"
    ):
        command(name)
    assert not jsondb_folders.path.exists()
    assert not jsondb_folders.backup_dir.exists()


def test_every_command_takes_keyword_options_as_strings(database: Folders, tmp_path: Path) -> None:
    """``call_command`` hands keyword options over as given, never through the parser's types."""
    target = tmp_path / "by-keyword"
    assert command("jsondb_backup", output=str(target)) == f"{target}\n"
    restored = command("jsondb_restore", backup=str(target), interactive=False)
    assert restored == f"Restored 2 collection(s) from {target} into {database.path}.\n"
    assert "users" in command("jsondb_collections", verbosity="1")
    assert command("jsondb_check", repair=False) == f"No problems found in {database.path}.\n"
    source, copy = str(database.path), str(tmp_path / "copy")
    migrated = command("jsondb_migrate", source=source, dest=copy, interactive=False)
    assert "Copied and verified 2 collection(s), 3 record(s)" in migrated


def test_read_only_commands_run_where_the_database_may_only_be_read(database: Folders) -> None:
    """E002/E003 (folders one cannot write) stop the commands that write, not those that read.

    Running as root, a folder cannot be made unwritable: ``os.access`` is made to say so.
    """
    writable = os.access

    def read_only(path: Any, mode: int, **kwargs: Any) -> bool:
        return not mode & os.W_OK and writable(path, mode, **kwargs)

    with mock.patch("asyncjsondb_django.checks.os.access", side_effect=read_only):
        assert "users" in command("jsondb_collections", skip_checks=False)
        assert "No problems found" in command("jsondb_check", skip_checks=False)
        for writing in (["jsondb_backup"], ["jsondb_check", "--repair"]):
            with pytest.raises(SystemCheckError, match="asyncjsondb.E002"):
                command(*writing, skip_checks=False)


# -- jsondb_check --------------------------------------------------------------------------


def test_check_passes_a_sound_database(database: Folders) -> None:
    assert command("jsondb_check") == f"No problems found in {database.path}.\n"


def test_check_fails_on_a_torn_journal_and_repair_cuts_it(database: Folders) -> None:
    journal = database.path / "users.journal"
    sound_size = tear(journal, b'\x00\x00\x00\x40{"half a record')
    out = io.StringIO()
    with pytest.raises(CommandError, match=r"^1 problem\(s\) found in "):
        call_command("jsondb_check", stdout=out)
    assert f"{journal} at byte {sound_size}: torn tail" in out.getvalue()
    assert "(repairable: run with --repair)" in out.getvalue()
    assert journal.stat().st_size > sound_size

    repaired = command("jsondb_check", "--repair")
    assert f"Repaired: cut the torn tail of {journal} at byte {sound_size}" in repaired
    assert repaired.endswith(f"Repaired; no problems left in {database.path}.\n")
    assert journal.stat().st_size == sound_size
    assert command("jsondb_check") == f"No problems found in {database.path}.\n"


def test_check_reports_a_corrupt_file_and_never_touches_it(database: Folders) -> None:
    asyncio.run(close_databases())  # corruption at rest, not under an open database
    orders = database.path / "orders.json"
    orders.write_bytes(b'{"o1": {"total": 3}')
    for args in ([], ["--repair"]):
        out = io.StringIO()
        with pytest.raises(CommandError, match="1 problem"):
            call_command("jsondb_check", *args, stdout=out)
        assert str(orders) in out.getvalue()
        assert orders.read_bytes() == b'{"o1": {"total": 3}'


# -- jsondb_backup -------------------------------------------------------------------------


def test_backup_goes_to_a_new_timestamped_folder_and_prints_it(database: Folders) -> None:
    first = Path(command("jsondb_backup").strip())
    second = Path(command("jsondb_backup").strip())
    assert first.parent == second.parent == database.backup_dir
    assert re.fullmatch(r"\d{8}T\d{6}Z(-\d+)?", first.name)
    assert first != second
    for folder in (first, second):
        saved = read_backup(folder)
        assert {name: len(data) for name, (_, data) in saved.items()} == {"orders": 1, "users": 2}
        assert decode(saved["users"][1]["ada"]) == USERS["ada"]


def test_backup_to_an_output_folder(database: Folders, tmp_path: Path) -> None:
    target = tmp_path / "manual" / "backup"
    assert command("jsondb_backup", "--output", str(target)) == f"{target}\n"
    assert set(read_backup(target)) == {"orders", "users"}
    quiet = tmp_path / "quiet"
    assert command("jsondb_backup", "--output", str(quiet), verbosity=0) == ""
    assert set(read_backup(quiet)) == {"orders", "users"}


def test_backup_names_the_folder_that_cannot_be_written(database: Folders, tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")
    with pytest.raises(CommandError) as refused:
        command("jsondb_backup", "--output", str(tmp_path / "a-file" / "backup"))
    assert str(refused.value) == (
        f"the backup folder {tmp_path / 'a-file' / 'backup'} cannot be created: "
        f"{tmp_path / 'a-file'} is not a folder"
    )
    with pytest.raises(CommandError) as vanished:
        command("jsondb_backup", "--output", "/proc/no-such-folder/backup")
    assert str(vanished.value) == (
        "could not write the backup /proc/no-such-folder/backup: /proc/no-such-folder: "
        "No such file or directory"
    )


def test_backup_refuses_an_existing_output_folder(database: Folders, backup: Path) -> None:
    before = files_of(backup)
    with pytest.raises(CommandError, match="already exists"):
        command("jsondb_backup", "--output", str(backup))
    assert files_of(backup) == before


# -- jsondb_restore ------------------------------------------------------------------------


def change_everything() -> None:
    asyncio.run(fill({"users": {"ada": {"name": "Changed"}}, "extra": {"x": 1}}))


def test_restore_with_noinput(database: Folders, backup: Path) -> None:
    change_everything()
    out = command("jsondb_restore", str(backup), "--noinput")
    assert out == f"Restored 2 collection(s) from {backup} into {database.path}.\n"
    assert asyncio.run(contents()) == {"orders": ORDERS, "users": USERS}  # the open app sees it


def test_restore_one_collection_with_keyword_options(database: Folders, backup: Path) -> None:
    change_everything()
    out = command("jsondb_restore", backup=str(backup), collection="users", interactive=False)
    assert out == f"Restored 1 collection(s) from {backup} into {database.path}.\n"
    assert asyncio.run(contents()) == {"extra": {"x": 1}, "users": USERS}
    with pytest.raises(CommandError, match="holds no collection 'extra'.*Nothing was changed"):
        command("jsondb_restore", str(backup), "--collection", "extra", "--noinput")
    with pytest.raises(CommandError, match="invalid collection name"):
        command("jsondb_restore", str(backup), "--collection", "../x", "--noinput")


def test_restore_one_collection_asks_about_that_one(database: Folders, backup: Path) -> None:
    change_everything()
    out = command("jsondb_restore", str(backup), "--collection", "users", stdin=io.StringIO("no\n"))
    assert "replaces the collection 'users':" in out
    assert [line.split()[0] for line in out.splitlines()[2:3]] == ["users"]
    assert asyncio.run(contents())["users"] == {"ada": {"name": "Changed"}}


def test_backup_list_shows_the_backups_of_backup_dir(database: Folders, backup: Path) -> None:
    header, *rows = command("jsondb_backup", "--list").splitlines()
    assert header.split() == ["backup", "created", "collections", "records", "bytes"]
    assert [row.split()[:4] for row in rows] == [[str(backup), rows[0].split()[1], "2", "3"]]
    elsewhere = database.path.parent / "elsewhere"
    command("jsondb_backup", output=str(elsewhere / "one"))
    listed = command("jsondb_backup", list=True, output=str(elsewhere))
    assert [row.split()[0] for row in listed.splitlines()[1:]] == [str(elsewhere / "one")]


def test_restore_asks_and_no_changes_nothing(database: Folders, backup: Path) -> None:
    change_everything()
    before = files_of(database.path)
    out = command("jsondb_restore", str(backup), stdin=io.StringIO("no\n"))
    assert out == (
        f"Restoring {backup} into {database.path} replaces the whole database:\n"
        "collection  records now  records after  change\n"
        "extra                 1              -  deleted\n"
        "orders                -              1  created\n"
        "users                 1              2  replaced\n"
        "Type 'yes' to continue, or 'no' to cancel: Restore cancelled; nothing was changed.\n"
    )
    assert files_of(database.path) == before
    assert asyncio.run(contents()) == {"extra": {"x": 1}, "users": {"ada": {"name": "Changed"}}}


def test_restore_asks_and_yes_restores(database: Folders, backup: Path) -> None:
    change_everything()
    out = command("jsondb_restore", str(backup), stdin=io.StringIO("yes\n"))
    assert out.endswith(f"Restored 2 collection(s) from {backup} into {database.path}.\n")
    assert asyncio.run(contents()) == {"orders": ORDERS, "users": USERS}


def test_restore_without_an_answer_refuses(database: Folders, backup: Path) -> None:
    change_everything()
    before = files_of(database.path)
    with pytest.raises(CommandError, match="no answer on standard input; pass --noinput"):
        command("jsondb_restore", str(backup), stdin=io.StringIO(""))
    assert files_of(database.path) == before


def test_restore_refuses_a_corrupt_backup_before_asking(database: Folders, backup: Path) -> None:
    users = backup / "users.json"
    users.write_bytes(users.read_bytes().replace(b"Grace", b"Grate"))
    change_everything()
    before = files_of(database.path)
    out = io.StringIO()
    with pytest.raises(CommandError, match=r"checksum.*Nothing was changed\.$"):
        call_command("jsondb_restore", str(backup), stdout=out, stdin=io.StringIO("yes\n"))
    assert out.getvalue() == ""
    assert files_of(database.path) == before


def test_restore_without_a_backup_is_a_command_error(database: Folders) -> None:
    with pytest.raises(CommandError, match=r"give the backup folder to restore, e.g. one in "):
        command("jsondb_restore", "--noinput")


def test_restore_refuses_a_missing_backup_folder(database: Folders, tmp_path: Path) -> None:
    missing = tmp_path / "no-such-backup"
    with pytest.raises(CommandError, match=f"{re.escape(str(missing))}: no such folder"):
        command("jsondb_restore", str(missing), "--noinput")


def test_restore_onto_a_new_machine_creates_the_folder(
    database: Folders, backup: Path, tmp_path: Path
) -> None:
    from django.test import override_settings

    fresh = tmp_path / "fresh" / "jsondb"
    with override_settings(ASYNCJSONDB={"PATH": fresh}):
        out = command("jsondb_restore", str(backup), stdin=io.StringIO("no\n"))
        assert "orders                -              1  created" in out
        assert not fresh.exists()
        command("jsondb_restore", str(backup), "--noinput")
        assert asyncio.run(contents()) == {"orders": ORDERS, "users": USERS}

"""``asyncjsondb`` collections/get/set/delete/find, usage errors and exit codes, in subprocesses."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from asyncjsondb import create_database
from tests.cli_support import ENV, cli, json_lines

ALICE = {"name": "Alice", "age": 30, "admin": True}
BOB = {"name": "Bob", "age": 25, "address": {"city": "Oslo"}}
CAROL = {"name": "Carol", "age": 30, "admin": 1}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A database made with the library; the commands below must read what it wrote."""

    async def fill() -> None:
        async with create_database(tmp_path / "data") as db:
            await (await db.get_collection("users")).set_many(
                {"alice": ALICE, "bob": BOB, "carol": CAROL}
            )
            await (await db.get_collection("tags")).set("t", "ünïcode")

    asyncio.run(fill())
    return tmp_path / "data"


def test_collections_lists_names_counts_and_sizes(folder: Path) -> None:
    result = cli("collections", folder)
    assert result.code == 0
    lines = result.out.splitlines()
    assert lines[0].split() == ["NAME", "RECORDS", "SIZE"]
    assert [line.split()[:2] for line in lines[1:]] == [["tags", "1"], ["users", "3"]]

    machine = json.loads(cli("collections", folder, "--json").out)
    size = (folder / "users.json").stat().st_size
    assert machine == [
        {"name": "tags", "records": 1, "bytes": (folder / "tags.json").stat().st_size},
        {"name": "users", "records": 3, "bytes": size},
    ]


def test_get_prints_the_stored_json(folder: Path) -> None:
    assert json.loads(cli("get", folder, "users", "bob").out) == BOB
    assert cli("get", folder, "tags", "t").out == '"ünïcode"\n'
    missing = cli("get", folder, "users", "nobody")
    assert (missing.code, missing.out) == (1, "")
    assert "no key 'nobody' in collection 'users'" in missing.err


def test_set_overwrites_and_delete_removes(folder: Path) -> None:
    assert cli("set", folder, "users", "bob", "[1, 2.5, null]").code == 0
    assert json.loads(cli("get", folder, "users", "bob").out) == [1, 2.5, None]
    deleted = cli("delete", folder, "users", "bob")
    assert (deleted.code, deleted.out, deleted.err) == (0, "", "")
    again = cli("delete", folder, "users", "bob")
    assert again.code == 1 and "no key 'bob'" in again.err
    assert cli("get", folder, "users", "bob").code == 1


def test_set_refuses_a_missing_folder_unless_create(tmp_path: Path) -> None:
    typo = cli("set", tmp_path / "new" / "folder", "c", "k", "{}")
    assert typo.code == 2
    assert f"no database folder {tmp_path / 'new' / 'folder'}: pass --create" in typo.err
    assert not (tmp_path / "new").exists()
    assert cli("set", tmp_path / "new" / "folder", "c", "k", "{}", "--create").code == 0
    assert (tmp_path / "new" / "folder" / "c.json").read_bytes() == b'{\n"k":{}\n}\n'


def test_find_matches_fields_with_json_kinds(folder: Path) -> None:
    def find(*args: str) -> list[object]:
        result = cli("find", folder, "users", *args)
        assert result.code == 0, result.err
        return json_lines(result.out)

    everyone = [
        {"key": "alice", "value": ALICE},
        {"key": "bob", "value": BOB},
        {"key": "carol", "value": CAROL},
    ]
    assert find() == everyone
    assert find("--where", "age=30") == [everyone[0], everyone[2]]
    assert find("--where", "age=30", "--limit", "1") == [everyone[0]]
    assert find("--limit", "0") == []
    assert find("--where", "admin=true") == [everyone[0]]  # JSON true is not the number 1
    assert find("--where", "name=Bob") == [everyone[1]]  # not JSON: compared as a string
    assert find("--where", "address.city=Oslo", "--where", "age=25") == [everyone[1]]
    assert find("--where", "address.city=Paris") == []


def test_values_are_json_or_a_bare_word_alike_for_set_and_where(folder: Path) -> None:
    for value, stored in [("hello", "hello"), ('"30"', "30"), ("30", 30), ("true", True)]:
        assert cli("set", folder, "words", "k", value, "--create").code == 0
        assert json.loads(cli("get", folder, "words", "k").out) == stored
        found = cli("find", folder, "words", "--where", f"x={value}")
        assert found.code == 0 and found.out == ""  # the same reading, no error
    for meant_as_json in ['{"name": "Ann"', "[1, 2", '"open', "12ab", "NaN"]:
        for args in (
            ["set", folder, "users", "k", meant_as_json],
            ["find", folder, "users", "--where", f"name={meant_as_json}"],
        ):
            result = cli(*args)
            assert result.code == 2, (args, result)
            assert "is not valid JSON (" in result.err
            assert "'\"a string\"', or a bare word for a string" in result.err
    assert cli("get", folder, "users", "k").code == 1  # nothing was stored


def test_keys_and_count(folder: Path) -> None:
    assert cli("keys", folder, "users").out == "alice\nbob\ncarol\n"
    assert json.loads(cli("keys", folder, "users", "--json").out) == ["alice", "bob", "carol"]
    assert cli("count", folder, "users").out == "3\n"
    assert cli("count", folder, "users", "--where", "age=30").out == "2\n"
    assert cli("count", folder, "users", "--where", "age=30", "--where", "admin=true").out == "1\n"
    missing = cli("count", folder, "nothing")
    assert missing.code == 2 and "no collection 'nothing'" in missing.err
    assert not (folder / "nothing.json").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["get", "{folder}", "../etc", "k"], "Invalid value for 'COLLECTION': '../etc'"),
        (["set", "{folder}", "a/b", "k", "1"], "only letters, digits"),
        (["get", "{folder}/missing", "users", "k"], "does not exist"),
        (["get", "{folder}", "nothing", "k"], "no collection 'nothing'"),
        (["export", "{folder}", "nothing"], "no collection 'nothing'"),
        (["set", "{folder}", "users", "k", "{bad json"], "the value is not valid JSON"),
        (["set", "{folder}", "users", "k", "NaN"], "not valid JSON"),
        (["set", "{folder}", "users", "k", "18446744073709551616"], "64"),
        (["find", "{folder}", "users", "--where", "age"], "expected FIELD=VALUE"),
        (["frobnicate", "{folder}"], "No such command"),
        (["get", "{folder}", "users"], "Missing argument 'KEY'"),
    ],
)
def test_usage_errors_exit_2_and_change_nothing(
    folder: Path, args: list[str], message: str
) -> None:
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    result = cli(*(arg.replace("{folder}", str(folder)) for arg in args))
    assert result.code == 2, result
    assert message in result.err
    assert "Traceback" not in result.err
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


def test_bad_folders_exit_2_and_are_not_created(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    for args in (["collections", tmp_path / "file"], ["check", tmp_path / "nope"]):
        result = cli(*args)
        assert result.code == 2 and "Invalid value for 'PATH'" in result.err
    assert not (tmp_path / "nope").exists()
    assert cli("set", tmp_path / "nope", "c", "k", "{oops").code == 2
    assert not (tmp_path / "nope").exists()  # refused before the database was opened


def test_a_database_error_exits_1_with_one_line(folder: Path) -> None:
    (folder / "users.json").write_bytes(b'{\n"a":1,\n"b":\n}\n')
    result = cli("get", folder, "users", "a")
    assert result.code == 1
    assert result.err.startswith("Error: corrupt file ")
    assert len(result.err.splitlines()) == 1
    assert cli("collections", folder).code == 1


def test_help_and_version(tmp_path: Path) -> None:
    result = cli("--help")
    assert result.code == 0
    for command in (
        "backup",
        "check",
        "collections",
        "compact",
        "delete",
        "export",
        "find",
        "get",
        "import",
        "restore",
        "set",
        "keys",
        "count",
        "drop",
    ):
        assert f"  {command} " in result.out
    assert cli("--version").out.startswith("asyncjsondb, version ")


def test_the_console_script_points_at_the_cli() -> None:
    (script,) = [e for e in entry_points(group="console_scripts") if e.name == "asyncjsondb"]
    assert script.value == "asyncjsondb.cli:main"


def test_importing_the_library_does_not_import_the_cli_libraries() -> None:
    probe = (
        "import sys, asyncjsondb, asyncjsondb.check\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('click', 'rich', 'tqdm')"
        " or m.startswith('asyncjsondb.cli')))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, env=ENV, check=True)
    assert done.stdout == b"[]\n"

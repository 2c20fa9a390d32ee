"""``asyncjsondb`` on a ``postgresql://`` URL, and ``migrate``, in subprocesses, on the real server.

Each test has a schema of its own (``postgres_schema``), named in the URL's query and dropped
afterwards.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

from asyncjsondb import create_database
from tests.cli_support import ENV, cli, json_lines, on_terminal
from tests.conftest import POSTGRES_URL
from tests.test_cli_transfer import SMALL, jsonl

UNREACHABLE = "postgresql://user:secret@127.0.0.1:1/x"


@pytest.fixture
def url(postgres_schema: str) -> str:
    separator = "&" if "?" in POSTGRES_URL else "?"
    return f"{POSTGRES_URL}{separator}schema={postgres_schema}"


def seed_folder(path: Path, collections: dict[str, dict[str, Any]]) -> None:
    async def write() -> None:
        async with create_database(path) as db:
            for name, records in collections.items():
                await (await db.get_collection(name)).set_many(records)

    asyncio.run(write())


def json_files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.json"))}


# -- the commands that go through the API ---------------------------------------------------


def test_records_and_collections_on_a_url(url: str) -> None:
    assert cli("set", url, "users", "ann", '{"age": 30, "tags": ["x"]}').code == 0
    assert cli("set", url, "users", "bob", "-", stdin=b'{"age": 25}').code == 0
    assert cli("set", url, "users", "cid", '{"age": 30}').code == 0
    assert (
        cli("set", url, "empty", "k", "1").code == 0 and cli("delete", url, "empty", "k").code == 0
    )

    assert cli("get", url, "users", "ann").out == '{"age":30,"tags":["x"]}\n'
    found = json_lines(cli("find", url, "users", "--where", "age=30").out)
    assert [entry["key"] for entry in found] == ["ann", "cid"]
    assert json_lines(cli("find", url, "users", "--limit", "1").out)[0]["key"] == "ann"

    table = cli("collections", url)
    assert (table.code, table.out) == (0, "NAME   RECORDS\nempty        0\nusers        3\n")
    listed = json.loads(cli("collections", url, "--json").out)
    assert listed == [
        {"name": "empty", "records": 0, "bytes": None},
        {"name": "users", "records": 3, "bytes": None},
    ]

    assert cli("delete", url, "users", "bob").code == 0
    gone = cli("get", url, "users", "bob")
    assert (gone.code, gone.err) == (1, "Error: no key 'bob' in collection 'users'\n")
    missing = cli("find", url, "nothing")
    assert missing.code == 2 and f"no collection 'nothing' in {url}" in missing.err
    refused = cli("set", url, "users", "k", "NaN")
    assert refused.code == 2 and "not valid JSON" in refused.err


def test_export_from_a_folder_and_import_into_a_url(tmp_path: Path, url: str) -> None:
    (tmp_path / "in.jsonl").write_bytes(jsonl(SMALL))
    assert cli("import", tmp_path / "db", "small", tmp_path / "in.jsonl", "--create").code == 0
    assert cli("export", tmp_path / "db", "small", "-o", tmp_path / "out.jsonl").code == 0

    imported = cli("import", url, "small", tmp_path / "out.jsonl")
    assert (imported.code, imported.err) == (0, "imported 5 records into small\n")
    exported = cli("export", url, "small", "--format", "jsonl")
    assert exported.out.encode() == (tmp_path / "out.jsonl").read_bytes()
    assert json.loads(cli("export", url, "small").out) == SMALL


def test_backup_of_a_url_restores_into_a_folder(
    tmp_path: Path, url: str, postgres_schema: str
) -> None:
    (tmp_path / "in.json").write_text(json.dumps(SMALL))
    assert cli("import", url, "small", tmp_path / "in.json").code == 0

    made = cli("backup", url, "--output", tmp_path / "backup")
    assert (made.code, made.out) == (0, f"{tmp_path / 'backup'}\n")
    default = Path(cli("backup", url, cwd=tmp_path).out.strip())
    database = urlsplit(POSTGRES_URL).path.strip("/")
    assert default.parent == tmp_path
    assert default.name.startswith(f"{database}-{postgres_schema}-backup-")

    restored = cli("restore", tmp_path / "db", tmp_path / "backup", "--yes", "--create")
    assert (restored.code, restored.out) == (
        0,
        f"restored 1 collection from {tmp_path / 'backup'}: small\n",
    )
    assert json.loads(cli("export", tmp_path / "db", "small").out) == SMALL
    assert cli("check", tmp_path / "db").code == 0


def test_check_and_compact_say_a_server_has_no_files_to_work_on(url: str) -> None:
    assert cli("set", url, "users", "ann", "1").code == 0
    for command in ("check", "compact"):
        result = cli(command, url)
        assert result.code == 0, result.err
        assert result.out.startswith(f"{url}: {command} ")
        assert "a PostgreSQL server keeps its own storage, so there is nothing to do" in result.out
        assert result.out.endswith("(the server answers: 1 collection)\n")
    report = json.loads(cli("check", url, "--json").out)
    assert (report["ok"], report["problems"], report["repaired"]) == (True, [], [])
    down = cli("check", UNREACHABLE)
    assert down.code == 1 and "cannot reach the server" in down.err


# -- migrate --------------------------------------------------------------------------------


def test_migrate_folder_to_url_to_folder_keeps_the_files_byte_for_byte(
    tmp_path: Path, url: str
) -> None:
    source, back = tmp_path / "source", tmp_path / "back"
    seed_folder(
        source,
        {
            "users": {
                f"user:{i}": {"id": i, "name": f"Ünï {i}", "score": i / 7} for i in range(10_000)
            },
            "orders": {f"o{i}": [i, None, True, 2**63 - i] for i in range(2_500)},
            "empty": {},
        },
    )

    there = cli("migrate", source, url)
    assert there.code == 0, there.err
    assert there.out.splitlines() == [
        "NAME    RECORDS",
        "empty         0",
        "orders     2500",
        "users     10000",
        f"migrated 3 collections, 12500 records from {source} to {url}; counts verified",
    ]
    assert "users: 5000/10000 records (50%)" in there.err.splitlines()  # plain lines, no bar

    returned = cli("migrate", url, back, "--json")
    assert returned.code == 0, returned.err
    assert json.loads(returned.out) == {
        "source": url,
        "destination": str(back),
        "collections": {"empty": 0, "orders": 2500, "users": 10000},
        "records": 12500,
    }
    assert json_files(back) == json_files(source)
    assert list(json_files(back)) == ["empty.json", "orders.json", "users.json"]


def test_migrate_refuses_a_destination_that_is_not_empty(tmp_path: Path, url: str) -> None:
    seed_folder(tmp_path / "source", {"users": {"ann": 1, "bob": 2}})
    assert cli("set", url, "other", "k", "1").code == 0

    refused = cli("migrate", tmp_path / "source", url)
    assert refused.code == 1
    assert refused.err == (
        f"Error: {url}: the destination already holds collections: ['other']; nothing was copied\n"
    )
    assert json.loads(cli("collections", url, "--json").out) == [
        {"name": "other", "records": 1, "bytes": None}
    ]

    seed_folder(tmp_path / "full", {"users": {"x": 0}})
    before = json_files(tmp_path / "full")
    assert cli("migrate", tmp_path / "source", tmp_path / "full").code == 1
    assert json_files(tmp_path / "full") == before


def test_migrate_refuses_a_missing_or_empty_source(tmp_path: Path, url: str) -> None:
    missing = cli("migrate", tmp_path / "nowhere", tmp_path / "dest")
    assert missing.code == 2 and "'SOURCE': Directory" in missing.err
    assert not (tmp_path / "nowhere").exists() and not (tmp_path / "dest").exists()

    (tmp_path / "blank").mkdir()
    empty = cli("migrate", tmp_path / "blank", url)
    assert empty.code == 1
    assert empty.err == f"Error: {tmp_path / 'blank'} holds no collections: nothing to migrate\n"
    assert cli("migrate", url, tmp_path / "dest").code == 1  # the server's schema is empty too
    assert not (tmp_path / "dest").exists()


@pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals are POSIX")
def test_migrate_shows_a_progress_bar_on_a_terminal(tmp_path: Path, url: str) -> None:
    seed_folder(tmp_path / "source", {"users": {f"u{i}": i for i in range(10_000)}})
    code, output = on_terminal(["migrate", tmp_path / "source", url])
    assert code == 0
    assert "copying users" in output and "━" in output  # rich's bar
    assert "users: 5000/10000" not in output  # not the plain lines
    assert "migrated 1 collection, 10000 records" in output


# -- passwords --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["collections", UNREACHABLE, "--json"],
        ["get", UNREACHABLE, "c", "k"],
        ["set", UNREACHABLE, "c", "k", "1"],
        ["find", UNREACHABLE, "c"],
        ["export", UNREACHABLE, "c"],
        ["backup", UNREACHABLE],
        ["compact", UNREACHABLE],
        ["migrate", UNREACHABLE, "{tmp}/dest"],
        ["migrate", "{tmp}/source", UNREACHABLE],
    ],
)
def test_a_password_is_never_shown(tmp_path: Path, args: list[str]) -> None:
    seed_folder(tmp_path / "source", {"users": {"ann": 1}})
    result = cli(*(arg.format(tmp=tmp_path) for arg in args))
    assert result.code == 1
    assert "postgresql://user:***@127.0.0.1:1/x: cannot reach the server" in result.err
    assert "secret" not in result.out + result.err


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("postgresql://u:secret@h:port/x", "not a valid URL"),
        ("postgresql://u:sec/ret@h/x", "not a valid URL"),
        ("postgresql://u@h/x?password=secret", "a password in the URL's query"),
        ("postgresql://u:secret@h/x?pool_size=none", "option 'pool_size'"),
        ("mysql://u:secret@h/x", "mysql:// is not supported"),
    ],
)
def test_a_bad_url_is_refused_without_its_password(path: str, message: str) -> None:
    result = cli("get", path, "c", "k")
    assert result.code == 2 and message in result.err
    assert "secret" not in result.out + result.err and "ret@" not in result.err


def with_password(url: str) -> tuple[str, str]:
    """``url`` with a password (trust authentication ignores it), and its ``user:password@``."""
    parts = urlsplit(url)
    if parts.password is None:
        host = parts.netloc.rsplit("@", 1)[-1]
        parts = parts._replace(netloc=f"{parts.username or ''}:secret@{host}")
    return urlunsplit(parts), f"{parts.username or ''}:{parts.password}@"


def test_a_password_is_not_shown_by_a_server_that_answers(tmp_path: Path, url: str) -> None:
    secured, credentials = with_password(url)
    seed_folder(tmp_path / "source", {"users": {"ann": 1}})
    migrated = cli("migrate", tmp_path / "source", secured)
    assert migrated.code == 0, migrated.err
    assert ":***@" in migrated.out
    missing = cli("get", secured, "nothing", "k")
    assert missing.code == 2 and ":***@" in missing.err
    checked = cli("check", secured)
    for result in (migrated, missing, checked):
        assert credentials not in result.out + result.err


# -- the README -------------------------------------------------------------------------------

README_URL = "postgresql://postgres@127.0.0.1:5432/test?schema=shop"


def test_the_readme_postgresql_tour_runs(tmp_path: Path, url: str) -> None:
    """The README's bash block that starts with ``URL="postgresql://``, on this test's schema."""
    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```bash\n(.*?)```", readme, re.DOTALL)
    tour = next((block for block in blocks if block.startswith('URL="postgresql://')), None)
    if tour is None:
        pytest.skip("README.md has no 'On PostgreSQL' command line block yet")
    assert README_URL in tour
    environment = {**ENV, "PATH": f"{Path(sys.executable).parent}:{ENV['PATH']}"}
    done = subprocess.run(
        ["bash", "-e", "-c", tour.replace(README_URL, url)],
        cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert '{"name":"Alice","age":30}' in done.stdout
    assert json_files(tmp_path / "shop-again") == json_files(tmp_path / "backups" / "shop")

"""``manage.py jsondb_migrate``: folder -> PostgreSQL -> folder through ``call_command``, its
refusals, and the progress bar on a real terminal (a pty) in a ``manage.py`` subprocess."""

from __future__ import annotations

import asyncio
import io
import os
import pty
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.core.management.base import CommandError
from django.test import override_settings

from asyncjsondb import AsyncJSONDB
from tests.django_helpers import EXAMPLE_PROJECT, Server, command, contents, example_env

pytest_plugins = ["tests.django_support"]

USERS = {f"u{i:04}": {"name": f"user {i}", "n": i, "tags": ["a", i % 7]} for i in range(1000)}
ORDERS = {"o2": {"total": 2.5}, "o1": {"total": 3}}  # not sorted: insertion order must survive


async def make_folder(path: Path) -> None:
    async with AsyncJSONDB(path) as db:
        await (await db.get_collection("users")).set_many(USERS)
        await (await db.get_collection("orders")).set_many(ORDERS)
        await db.get_collection("empty")


async def folder_contents(path: Path) -> dict[str, list[tuple[str, Any]]]:
    """Every collection's items in insertion order."""
    async with AsyncJSONDB(path) as db:
        return {
            name: await (await db.get_collection(name)).items()
            for name in await db.list_collections()
        }


def json_files(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.glob("*.json"))}


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "source"
    asyncio.run(make_folder(path))
    return path


def summary(source: str, dest: str) -> str:
    return (
        f"Copied and verified 3 collection(s), 1002 record(s) from {source} into {dest}:\n"
        "collection  records\n"
        "empty             0\n"
        "orders            2\n"
        "users          1000\n"
        "(total)        1002\n"
    )


def test_round_trip_folder_to_postgres_to_folder(
    source: Path, jsondb_server: Server, tmp_path: Path
) -> None:
    server = f"{jsondb_server.url} (schema {jsondb_server.schema})"
    out = command("jsondb_migrate", str(source), "--to-settings", "--noinput")
    assert out == "orders: 2/2 records (100%)\nusers: 1000/1000 records (100%)\n" + summary(
        str(source), server
    )
    assert command("jsondb_collections").splitlines()[1:4] == [
        "empty             0",
        "orders            2",
        "users          1000",
    ]

    back = tmp_path / "back"
    out = command("jsondb_migrate", "--from-settings", str(back), "--noinput")
    assert out.endswith(summary(server, str(back)))
    assert json_files(back) == json_files(source)  # byte for byte, in insertion order
    assert asyncio.run(folder_contents(back)) == asyncio.run(folder_contents(source))


def test_the_prompt_no_copies_nothing_and_yes_copies(source: Path, jsondb_server: Server) -> None:
    server = f"{jsondb_server.url} (schema {jsondb_server.schema})"
    asked = (
        f"Copying 3 collection(s), 1002 record(s) from {source} into the empty {server}.\n"
        "Type 'yes' to continue, or 'no' to cancel: "
    )
    out = command("jsondb_migrate", str(source), "--to-settings", stdin=io.StringIO("no\n"))
    assert out == asked + "Migration cancelled; nothing was copied.\n"
    assert asyncio.run(contents()) == {}
    with pytest.raises(CommandError, match="no answer on standard input; pass --noinput"):
        command("jsondb_migrate", str(source), "--to-settings", stdin=io.StringIO(""))
    out = command("jsondb_migrate", str(source), "--to-settings", stdin=io.StringIO("yes\n"))
    assert out.startswith(asked) and out.endswith(summary(str(source), server))
    assert list(asyncio.run(contents())["orders"]) == ["o2", "o1"]


def test_refuses_a_destination_that_holds_collections(source: Path, jsondb_server: Server) -> None:
    command("jsondb_migrate", str(source), "--to-settings", "--noinput")
    with pytest.raises(CommandError) as raised:
        command("jsondb_migrate", str(source), "--to-settings", "--noinput")
    assert str(raised.value) == (
        f"{jsondb_server.url} (schema {jsondb_server.schema}) already holds 3 collection(s) "
        "(empty, orders, users); jsondb_migrate copies only into an empty database. "
        "Nothing was copied."
    )
    assert asyncio.run(contents())["users"] == USERS  # copied once, not twice


def test_folder_to_folder_without_a_server(source: Path, tmp_path: Path) -> None:
    dest = tmp_path / "new" / "dest"
    out = command("jsondb_migrate", str(source), str(dest), "--noinput", verbosity=0)
    assert out == ""
    assert json_files(dest) == json_files(source)
    before = json_files(dest)
    with pytest.raises(CommandError, match="already holds 3 collection"):
        command("jsondb_migrate", str(source), str(dest), "--noinput")
    assert json_files(dest) == before


def test_refuses_a_missing_source_and_creates_nothing(tmp_path: Path) -> None:
    missing, dest = tmp_path / "no-such-db", tmp_path / "dest"
    with pytest.raises(CommandError, match=f"^no database folder {missing}$"):
        command("jsondb_migrate", str(missing), str(dest), "--noinput")
    assert not missing.exists() and not dest.exists()


def test_refuses_an_empty_source(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(CommandError, match="holds no collections: nothing to migrate"):
        command("jsondb_migrate", str(tmp_path / "empty"), str(tmp_path / "dest"), "--noinput")
    assert not (tmp_path / "dest").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "give SOURCE and DEST"),
        (["a"], "give SOURCE and DEST"),
        (["a", "b", "--to-settings"], "give SOURCE "),
        (["--from-settings"], "give DEST "),
        (["--from-settings", "--to-settings"], "name one database twice"),
        (["mysql://localhost/site", "b"], "mysql:// is not supported"),
    ],
)
def test_bad_arguments_are_command_errors(args: list[str], message: str, tmp_path: Path) -> None:
    with (
        override_settings(ASYNCJSONDB={"PATH": tmp_path / "db"}),
        pytest.raises(CommandError, match=message),
    ):
        command("jsondb_migrate", *args, "--noinput")


def test_an_unreachable_destination_is_a_command_error(source: Path) -> None:
    url = "postgresql://app:hunter2@127.0.0.1:1/site"
    with pytest.raises(CommandError, match="cannot reach the server") as raised:
        command("jsondb_migrate", str(source), url, "--noinput")
    assert "hunter2" not in str(raised.value)


# -- manage.py on a terminal ----------------------------------------------------------------


def run_on_a_terminal(args: list[str], env: dict[str, str]) -> tuple[int, str]:
    """Run ``args`` with stdout and stderr on a pseudo-terminal; its exit code and output."""
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        args, cwd=EXAMPLE_PROJECT, env=env, stdin=subprocess.DEVNULL, stdout=terminal,
        stderr=terminal,
    )  # fmt: skip
    os.close(terminal)
    output = bytearray()
    while True:
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # EIO: the process closed the terminal
            break
        if not chunk:
            break
        output += chunk
    os.close(controller)
    return process.wait(timeout=60), output.decode(errors="replace")


def test_manage_py_shows_bars_on_a_terminal(source: Path, tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    env = {**example_env(source), "COLUMNS": "100", "TERM": "xterm"}
    args = [sys.executable, "manage.py", "jsondb_migrate", str(source), str(dest), "--noinput"]
    code, output = run_on_a_terminal(args, env)
    assert code == 0, output
    assert "━" in output  # rich's bar, drawn for the terminal
    assert "1000/1000" in output
    assert "Copied and verified 3 collection(s), 1002 record(s)" in output
    assert json_files(dest) == json_files(source)

    code, output = run_on_a_terminal(args, env)
    assert code == 1
    assert "CommandError: " in output and "already holds 3 collection(s)" in output


def test_plain_progress_prints_a_line_per_tenth() -> None:
    from django.core.management.base import OutputWrapper

    from asyncjsondb_django.management.progress import progress_display

    out = io.StringIO()
    with progress_display(OutputWrapper(out), {"users": 100_000}, verbosity=1) as progress:
        for copied in range(5000, 100_001, 5000):  # migrate's batches of 5,000 records
            progress("users", copied)
        progress("late", 7)  # a collection created after the source was counted
    lines = out.getvalue().splitlines()
    assert lines[0] == "users: 5000/100000 records (5%)"
    assert lines[1:3] == ["users: 10000/100000 records (10%)", "users: 20000/100000 records (20%)"]
    assert lines[-2:] == ["users: 100000/100000 records (100%)", "late: 7 records"]
    assert len(lines) == 12

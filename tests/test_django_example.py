"""The example project as a user runs it: ``manage.py`` commands and real servers, in subprocesses.

``ASYNCJSONDB_PATH`` (read by the example's settings) points each run at a temporary folder.
"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from asyncjsondb import AsyncJSONDB
from asyncjsondb.backup import read_backup
from tests.django_helpers import EXAMPLE_PROJECT, example_env


def manage(database: Path, *args: str, stdin: int | None = subprocess.DEVNULL) -> Any:
    """Run ``python manage.py ARGS`` of the example project, as cron would (no terminal)."""
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=EXAMPLE_PROJECT,
        env=example_env(database),
        stdin=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def fill(path: Path) -> None:
    async with AsyncJSONDB(path) as db:
        await (await db.get_collection("users")).set_many({"ada": {"name": "Ada"}, "bo": {}})


@pytest.fixture
def database(tmp_path: Path) -> Path:
    path = tmp_path / "jsondb"
    asyncio.run(fill(path))
    return path


def test_manage_py_jsondb_backup_and_friends(database: Path) -> None:
    backup = manage(database, "jsondb_backup")
    assert (backup.returncode, backup.stderr) == (0, "")
    folder = Path(backup.stdout.strip())
    assert folder.parent == database.parent / "jsondb-backups"
    assert {name: len(data) for name, (_, data) in read_backup(folder).items()} == {"users": 2}

    listing = manage(database, "jsondb_collections")
    assert listing.returncode == 0
    assert listing.stdout.splitlines()[1].split()[:2] == ["users", "2"]
    assert manage(database, "jsondb_check").returncode == 0

    unattended = manage(database, "jsondb_restore", str(folder))  # no --noinput, no terminal
    assert unattended.returncode == 1
    assert "CommandError: no answer on standard input" in unattended.stderr
    restored = manage(database, "jsondb_restore", str(folder), "--noinput")
    assert (restored.returncode, restored.stderr) == (0, "")
    assert restored.stdout == f"Restored 1 collection(s) from {folder} into {database}.\n"


def test_manage_py_every_command(database: Path, tmp_path: Path) -> None:
    """Each command as an operator types it; the exit codes are those the README gives."""
    output = tmp_path / "manual"
    backup = manage(database, "jsondb_backup", "--output", str(output))
    assert (backup.returncode, backup.stdout) == (0, f"{output}\n")
    copy = manage(database, "jsondb_migrate", str(database), str(tmp_path / "copy"), "--noinput")
    assert copy.returncode == 0 and "Copied and verified 1 collection(s)" in copy.stdout
    nothing = manage(database, "jsondb_restore")
    assert nothing.returncode == 1
    assert "CommandError: give the backup folder to restore" in nothing.stderr
    restored = manage(database, "jsondb_restore", str(output), "--noinput")
    assert restored.returncode == 0
    one = manage(database, "jsondb_restore", str(output), "--collection", "users", "--noinput")
    assert (one.returncode, one.stderr) == (0, "")
    listed = manage(database, "jsondb_backup", "--list", "--output", str(tmp_path))
    assert listed.returncode == 0
    assert [row.split()[0] for row in listed.stdout.splitlines()[1:]] == [str(output)]


def test_manage_py_read_only_commands_are_not_stopped_by_an_unwritable_backup_dir(
    database: Path,
) -> None:
    backup_dir = database.parent / "jsondb-backups"  # the example's BACKUP_DIR, here a file
    backup_dir.write_text("")
    for reading in (["jsondb_collections"], ["jsondb_check"]):
        done = manage(database, *reading)
        assert (done.returncode, done.stderr) == (0, ""), reading
    listing = manage(database, "jsondb_backup", "--list")  # not stopped by E003: it says why
    assert listing.returncode == 1 and "E003" not in listing.stderr
    assert f"backup {backup_dir}: no such folder" in listing.stderr
    for writing in (["jsondb_backup"], ["jsondb_check", "--repair"]):
        refused = manage(database, *writing)
        assert refused.returncode == 1 and "asyncjsondb.E003" in refused.stderr, writing


def test_manage_py_check_fails_on_an_error(tmp_path: Path) -> None:
    a_file = tmp_path / "not-a-folder"
    a_file.write_text("")
    check = manage(a_file, "check")
    assert check.returncode == 1
    assert f"(asyncjsondb.E002) ASYNCJSONDB['PATH'] {a_file} is not a folder" in check.stderr
    # Commands run the checks first, so a cron job fails loudly instead of backing up nothing.
    backup = manage(a_file, "jsondb_backup")
    assert backup.returncode == 1
    assert "asyncjsondb.E002" in backup.stderr


def test_manage_py_check_passes(database: Path) -> None:
    check = manage(database, "check")
    assert (check.returncode, check.stderr) == (0, "")
    assert check.stdout == "System check identified no issues (0 silenced).\n"


# -- the example under real servers --------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


SERVERS = {
    "runserver (WSGI)": ["manage.py", "runserver", "--noreload", "127.0.0.1:{port}"],
    "uvicorn (ASGI)": [
        "-m",
        "uvicorn",
        "mysite.asgi:application",
        "--lifespan",
        "off",
        "--port",
        "{port}",
    ],
}


@pytest.fixture(params=list(SERVERS))
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The example served by a real server process; yields its base URL."""
    port = free_port()
    args = [arg.format(port=port) for arg in SERVERS[request.param]]
    log = tmp_path / "server.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, *args],
            cwd=EXAMPLE_PROJECT,
            env=example_env(tmp_path / "jsondb"),
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for_port(port, process, log)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=30)


def wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60  # a guard against hanging, not a measurement
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise AssertionError(f"the server did not listen on port {port}:\n{log.read_text()}")


def call(method: str, url: str, body: Any = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data, method=method)
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def test_example_serves_requests(server: str) -> None:
    status, user = call("POST", f"{server}/users/", {"name": "Ada"})
    assert status == 201
    user_url = f"{server}/users/{user['id']}/"
    assert call("GET", user_url) == (200, user)
    assert call("GET", f"{server}/users/") == (200, {"users": [user]})
    assert call("GET", f"{server}/users/nobody/") == (404, {"error": "User not found"})
    sequential = [call("POST", f"{user_url}visits/")[1]["visits"] for _ in range(5)]
    assert sequential == [1, 2, 3, 4, 5]
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: call("POST", f"{user_url}visits/"), range(20)))
    assert all(status == 200 for status, _ in answers)
    assert sorted(answer["visits"] for _, answer in answers) == list(range(6, 26))

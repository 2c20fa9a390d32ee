"""The Django app on a ``postgresql://`` PATH: the example's async views through Django's real
clients, ``get_db()``, and the management commands, against the real server (a schema per test)."""

from __future__ import annotations

import asyncio
import io
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import AsyncClient, Client, override_settings

from asyncjsondb import AsyncJSONDB
from asyncjsondb.backup import read_backup
from asyncjsondb_django import close_databases, get_db
from tests.conftest import drop_schema
from tests.django_helpers import Server, command, contents, fill

pytest_plugins = ["tests.django_support"]

JSON = "application/json"
USERS = {"ada": {"name": "Ada"}, "grace": {"name": "Grace"}}
ORDERS = {"o1": {"total": 3}}


def create_user(client: Client, name: str = "Ada") -> str:
    response = client.post("/users/", {"name": name}, JSON)
    assert response.status_code == 201
    return str(response.json()["id"])


# -- the async views -----------------------------------------------------------------------


def test_sync_client_five_times(jsondb_server: Server) -> None:
    client = Client()
    user_id = create_user(client)
    counts = [client.post(f"/users/{user_id}/visits/").json()["visits"] for _ in range(5)]
    assert counts == [1, 2, 3, 4, 5]
    for _ in range(5):
        assert client.get(f"/users/{user_id}/").json()["name"] == "Ada"
    assert [user["id"] for user in client.get("/users/").json()["users"]] == [user_id]
    probes = [client.get("/probe/").json() for _ in range(5)]
    assert [probe["hits"] for probe in probes] == [1, 2, 3, 4, 5]
    assert len({probe["loop"] for probe in probes}) == 5  # a new event loop per request


async def test_async_client_five_times_and_concurrently(jsondb_server: Server) -> None:
    client = AsyncClient()
    user_id = (await client.post("/users/", {"name": "Grace"}, JSON)).json()["id"]
    visits = f"/users/{user_id}/visits/"
    counts = [(await client.post(visits)).json()["visits"] for _ in range(5)]
    assert counts == [1, 2, 3, 4, 5]
    for _ in range(5):
        assert (await client.get(f"/users/{user_id}/")).json()["name"] == "Grace"
    responses = await asyncio.gather(*(client.post(visits) for _ in range(20)))
    assert sorted(response.json()["visits"] for response in responses) == list(range(6, 26))


def test_sync_client_from_several_threads(jsondb_server: Server) -> None:
    user_id = create_user(Client())
    threads, each = 4, 10

    def visit_repeatedly() -> list[int]:
        client = Client()
        return [client.post(f"/users/{user_id}/visits/").json()["visits"] for _ in range(each)]

    with ThreadPoolExecutor(threads) as pool:
        results = list(pool.map(lambda _: visit_repeatedly(), range(threads)))
    for counts in results:
        assert counts == sorted(counts)
    assert sorted(count for counts in results for count in counts) == list(range(1, 41))


async def in_schema(url: str, schema: str) -> dict[str, list[str]]:
    async with AsyncJSONDB(url, schema=schema) as db:
        return {
            name: await (await db.get_collection(name)).keys()
            for name in await db.list_collections()
        }


def test_get_db_is_keyed_by_the_url_and_options(jsondb_server: Server) -> None:
    db = get_db()
    with ThreadPoolExecutor(4) as pool:
        assert set(pool.map(lambda _: get_db(), range(8))) == {db}
    assert db.db_path == jsondb_server.url  # the URL as given, not made into a folder path
    other_schema = f"{jsondb_server.schema}_b"
    other = {"PATH": jsondb_server.url, "OPTIONS": {"schema": other_schema}}
    try:
        with override_settings(ASYNCJSONDB=other):
            assert get_db() is not db
            user_id = create_user(Client(), "Edsger")
        assert get_db() is db
        assert asyncio.run(in_schema(jsondb_server.url, jsondb_server.schema)) == {}
        assert asyncio.run(in_schema(jsondb_server.url, other_schema)) == {"users": [user_id]}
    finally:
        asyncio.run(close_databases())
        asyncio.run(drop_schema(other_schema))


# -- the management commands ---------------------------------------------------------------


@pytest.fixture
def server_database(jsondb_server: Server) -> Server:
    asyncio.run(fill({"users": USERS, "orders": ORDERS}))
    return jsondb_server


def test_collections_shows_names_and_records(server_database: Server) -> None:
    assert command("jsondb_collections") == (
        "collection  records\norders            1\nusers             2\n(total)           3\n"
    )


def test_collections_of_an_empty_server_database(jsondb_server: Server) -> None:
    assert command("jsondb_collections") == f"No collections in {jsondb_server.url}.\n"


def test_check_says_there_are_no_files_to_check(server_database: Server) -> None:
    expected = (
        f"Nothing to check: {server_database.url} is a PostgreSQL database, which keeps its own "
        "storage consistent; jsondb_check verifies JSON files. The server answered with 2 "
        "collection(s).\n"
    )
    assert command("jsondb_check") == expected
    assert command("jsondb_check", "--repair") == expected
    assert command("jsondb_check", verbosity=0) == ""


@pytest.mark.parametrize("name", ["jsondb_check", "jsondb_collections", "jsondb_backup"])
def test_an_unreachable_server_is_a_command_error(name: str, tmp_path: Path) -> None:
    url = "postgresql://app:hunter2@127.0.0.1:1/site"  # nothing listens on port 1
    with override_settings(ASYNCJSONDB={"PATH": url, "BACKUP_DIR": tmp_path / "backups"}):
        with pytest.raises(CommandError, match="cannot reach the server") as raised:
            command(name)
        asyncio.run(close_databases())
    assert "hunter2" not in str(raised.value)
    assert "postgresql://app:***@127.0.0.1:1/site" in str(raised.value)
    assert not (tmp_path / "backups").exists()


def test_backup_from_the_server_restores_into_a_folder(
    server_database: Server, tmp_path: Path
) -> None:
    backup = Path(command("jsondb_backup").strip())
    assert backup.parent == server_database.backup_dir
    assert re.fullmatch(r"\d{8}T\d{6}Z(-\d+)?", backup.name)
    assert {name: len(data) for name, (_, data) in read_backup(backup).items()} == {
        "orders": 1,
        "users": 2,
    }
    folder = tmp_path / "jsondb"
    with override_settings(ASYNCJSONDB={"PATH": folder}):
        out = command("jsondb_restore", str(backup), "--noinput")
        assert out == f"Restored 2 collection(s) from {backup} into {folder}.\n"
        assert asyncio.run(contents()) == {"orders": ORDERS, "users": USERS}
        asyncio.run(close_databases())
    assert sorted(path.name for path in folder.glob("*.json")) == ["orders.json", "users.json"]


def test_restore_into_the_server_asks_first(server_database: Server, tmp_path: Path) -> None:
    folder = tmp_path / "jsondb"
    with override_settings(ASYNCJSONDB={"PATH": folder}):
        asyncio.run(fill({"users": {"lin": {"name": "Lin"}}, "extra": {"x": {}}}))
        backup = Path(command("jsondb_backup", "--output", str(tmp_path / "b")).strip())
        asyncio.run(close_databases())

    out = command("jsondb_restore", str(backup), stdin=io.StringIO("no\n"))
    assert out == (
        f"Restoring {backup} into {server_database.url} replaces the whole database:\n"
        "collection  records now  records after  change\n"
        "extra                 -              1  created\n"
        "orders                1              -  deleted\n"
        "users                 2              1  replaced\n"
        "Type 'yes' to continue, or 'no' to cancel: Restore cancelled; nothing was changed.\n"
    )
    assert asyncio.run(contents()) == {"orders": ORDERS, "users": USERS}
    out = command("jsondb_restore", str(backup), "--noinput")
    assert out == f"Restored 2 collection(s) from {backup} into {server_database.url}.\n"
    assert asyncio.run(contents()) == {"extra": {"x": {}}, "users": {"lin": {"name": "Lin"}}}


def test_restore_refuses_a_corrupt_backup(server_database: Server, tmp_path: Path) -> None:
    backup = Path(command("jsondb_backup").strip())
    users = backup / "users.json"
    users.write_bytes(users.read_bytes().replace(b"Grace", b"Grate"))
    with pytest.raises(CommandError, match=r"checksum.*Nothing was changed\.$"):
        call_command("jsondb_restore", str(backup), "--noinput", stdout=io.StringIO())
    assert asyncio.run(contents()) == {"orders": ORDERS, "users": USERS}

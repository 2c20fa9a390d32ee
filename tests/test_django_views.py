"""The example's async views through Django's real clients: WSGI (a new event loop per request,
often in a new thread) and ASGI, sequentially and from several threads at once."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from django.test import AsyncClient, Client, override_settings

from asyncjsondb import AsyncJSONDB, ConfigurationError
from asyncjsondb_django import get_db
from tests.django_helpers import Folders

pytest_plugins = ["tests.django_support"]

JSON = "application/json"


def create_user(client: Client, name: str = "Ada") -> str:
    response = client.post("/users/", {"name": name, "email": "ada@example.com"}, JSON)
    assert response.status_code == 201
    return str(response.json()["id"])


def visits_url(user_id: str) -> str:
    return f"/users/{user_id}/visits/"


def test_sync_client_five_times(jsondb_folders: Folders) -> None:
    client = Client()
    user_id = create_user(client)
    counts = [client.post(visits_url(user_id)).json()["visits"] for _ in range(5)]
    assert counts == [1, 2, 3, 4, 5]
    for _ in range(5):
        assert client.get(f"/users/{user_id}/").json()["name"] == "Ada"
    assert [user["id"] for user in client.get("/users/").json()["users"]] == [user_id]
    assert (jsondb_folders.path / "users.json").exists()


def test_sync_client_runs_each_request_on_a_new_loop(jsondb_folders: Folders) -> None:
    """The WSGI path Django takes for async views: the case a loop-bound design fails on."""
    client = Client()
    answers = [client.get("/probe/").json() for _ in range(5)]
    assert [answer["hits"] for answer in answers] == [1, 2, 3, 4, 5]
    assert len({answer["loop"] for answer in answers}) == 5


async def test_async_client_five_times(jsondb_folders: Folders) -> None:
    client = AsyncClient()
    response = await client.post("/users/", {"name": "Grace"}, JSON)
    assert response.status_code == 201
    user_id = response.json()["id"]
    counts = [(await client.post(visits_url(user_id))).json()["visits"] for _ in range(5)]
    assert counts == [1, 2, 3, 4, 5]
    for _ in range(5):
        assert (await client.get(f"/users/{user_id}/")).json()["name"] == "Grace"
    probes = [(await client.get("/probe/")).json() for _ in range(5)]
    assert len({probe["loop"] for probe in probes}) == 1  # ASGI: the test's own loop


async def test_async_client_concurrent_requests(jsondb_folders: Folders) -> None:
    client = AsyncClient()
    user_id = (await client.post("/users/", {"name": "Lin"}, JSON)).json()["id"]
    responses = await asyncio.gather(*(client.post(visits_url(user_id)) for _ in range(20)))
    assert sorted(response.json()["visits"] for response in responses) == list(range(1, 21))


def test_sync_client_from_several_threads(jsondb_folders: Folders) -> None:
    user_id = create_user(Client())
    threads, each = 4, 10

    def visit_repeatedly() -> list[int]:
        client = Client()
        counts = []
        for _ in range(each):
            response = client.post(visits_url(user_id))
            assert response.status_code == 200
            counts.append(response.json()["visits"])
        return counts

    with ThreadPoolExecutor(threads) as pool:
        futures = [pool.submit(visit_repeatedly) for _ in range(threads)]
        results = [future.result() for future in futures]
    for counts in results:
        assert counts == sorted(counts)  # each thread sees its own increments in order
    assert sorted(count for counts in results for count in counts) == list(
        range(1, threads * each + 1)
    )


def test_errors_map_to_http_statuses(jsondb_folders: Folders) -> None:
    client = Client()
    assert client.get("/users/nobody/").status_code == 404
    assert client.get("/users/nobody/").json() == {"error": "User not found"}
    assert client.post(visits_url("nobody")).status_code == 404
    assert client.post("/users/", "not json", JSON).status_code == 400
    assert client.post("/users/", [1, 2], JSON).status_code == 400
    too_big = client.post("/users/", '{"name": "x", "n": 1e400}', JSON)
    assert too_big.status_code == 400
    assert "finite" in too_big.json()["error"]
    assert client.delete("/users/").status_code == 405
    assert client.get("/users/").json() == {"users": []}


def test_get_db_is_process_wide(jsondb_folders: Folders) -> None:
    db = get_db()
    with ThreadPoolExecutor(4) as pool:
        assert set(pool.map(lambda _: get_db(), range(8))) == {db}
    assert asyncio.run(_get_db_in_a_loop()) is db
    assert db.db_path == jsondb_folders.path


async def stored_users(path: Path) -> list[Any]:
    """The users in the database folder ``path``, read by a database object of its own."""
    async with AsyncJSONDB(path) as db:
        if "users" not in await db.list_collections():
            return []
        return await (await db.get_collection("users")).values()


async def _get_db_in_a_loop() -> AsyncJSONDB:
    return get_db()


def test_get_db_follows_settings(jsondb_folders: Folders, tmp_path: Path) -> None:
    first = get_db()
    other = tmp_path / "other"
    with override_settings(ASYNCJSONDB={"PATH": other}):
        second = get_db()
        assert second is not first and second.db_path == other
        create_user(Client(), "Edsger")
    assert get_db() is first
    assert [user["name"] for user in asyncio.run(stored_users(other))] == ["Edsger"]
    assert asyncio.run(stored_users(jsondb_folders.path)) == []
    with override_settings(ASYNCJSONDB={"PATH": other, "OPTIONS": {"durability": "flush"}}):
        assert get_db() not in (first, second)
        assert get_db().options.durability == "flush"


def test_get_db_rejects_unknown_options(jsondb_folders: Folders) -> None:
    with (
        override_settings(ASYNCJSONDB={"PATH": jsondb_folders.path, "OPTIONS": {"cache_tll": 1}}),
        pytest.raises(ConfigurationError, match="cache_tll"),
    ):
        get_db()

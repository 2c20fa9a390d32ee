"""``examples/fastapi_app.py`` with ``TestClient``: the reference's user-management flow, the
counter, and the two ways a test gives the app its own database."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from asyncjsondb import AsyncJSONDB
from asyncjsondb_fastapi import get_db
from examples.fastapi_app import app

from .fastapi_helpers import read_collection_sync


@pytest.fixture
def client(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.setenv("ASYNCJSONDB_PATH", str(db_path))
    with TestClient(app) as test_client:
        yield test_client


def test_user_management_flow(client: TestClient, db_path: Path) -> None:
    people = [("Alice Johnson", "admin", True), ("Bob", "user", True), ("Carol", "user", False)]
    ids = []
    for name, role, active in people:
        body = {"name": name, "email": f"{name[0].lower()}@example.com", "role": role}
        response = client.post("/users", json={**body, "active": active})
        assert response.status_code == 201
        assert response.json() == {**body, "active": active, "id": response.json()["id"]}
        ids.append(response.json()["id"])
    active = client.get("/users", params={"active": "true"}).json()
    assert [item["key"] for item in active["items"]] == ids[:2]
    assert client.put(f"/users/{ids[0]}/role", json={"role": "moderator"}).json()["role"] == (
        "moderator"
    )
    assert client.get("/stats").json() == {
        "collections": ["users"],
        "users": 3,
        "active_users": 2,
    }
    stored = read_collection_sync(db_path, "users")[ids[0]]
    assert stored["role"] == "moderator" and stored["_id"] == ids[0] and "_updated" in stored


def test_user_mistakes(client: TestClient) -> None:
    assert client.post("/users", json={"name": "X", "email": "not an email"}).status_code == 422
    assert client.put("/users/nobody/role", json={"role": "admin"}).status_code == 404
    assert client.get("/users/nobody").status_code == 404


def test_counter(client: TestClient) -> None:
    assert client.get("/counters/visits").json()["value"] == 0
    values = [client.post("/counters/visits/increment").json()["value"] for _ in range(3)]
    assert values == [1, 2, 3]
    assert client.post("/counters/visits/increment", params={"amount": 10}).json()["value"] == 13
    assert client.get("/counters/visits").json()["value"] == 13


def test_overriding_get_db_in_tests(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The README's pattern: no lifespan (no ``with``), ``get_db`` overridden; the example's
    collection dependencies and its router all follow the override."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ASYNCJSONDB_PATH", raising=False)
    test_db = AsyncJSONDB(tmp_path / "test-db")
    app.dependency_overrides[get_db] = lambda: test_db
    try:
        client = TestClient(app)
        user = {"name": "Ann", "email": "ann@example.com"}
        user_id = client.post("/users", json=user).json()["id"]
        assert client.get(f"/users/{user_id}").json()["name"] == "Ann"
        assert client.post("/counters/c/increment").json()["value"] == 1
    finally:
        app.dependency_overrides.clear()
        asyncio.run(test_db.close())
    assert set(read_collection_sync(tmp_path / "test-db", "users")) == {user_id}
    assert not (tmp_path / "data").exists()  # the lifespan's default folder was never opened


def test_a_stored_user_that_does_not_match_is_never_written_then_failed(
    client: TestClient, db_path: Path
) -> None:
    """Records another program wrote (the command line, an older version) get 409, not 500."""
    legacy = {"name": "Old", "email": "no-at-sign", "role": "user", "active": True}

    async def write() -> None:
        async with AsyncJSONDB(db_path) as db:
            await (await db.get_collection("users")).set_many({"legacy": legacy, "odd": [1]})

    asyncio.run(write())
    for method, path, body in [
        ("PUT", "/users/legacy/role", {"role": "admin"}),
        ("PATCH", "/users/legacy", {"role": "admin"}),
        ("GET", "/users/legacy", None),
    ]:
        response = client.request(method, path, json=body)
        assert response.status_code == 409, (method, path)
        assert "the stored record 'legacy' in 'users' does not match User" in response.text
    assert read_collection_sync(db_path, "users")["legacy"] == legacy  # nothing was written
    page = client.get("/users").json()
    assert [entry["key"] for entry in page["invalid"]] == ["legacy", "odd"]
    assert client.get("/stats").json()["active_users"] == 1  # the list [1] is skipped, no 500


def test_counter_amounts_are_64_bit_and_overflow_is_409(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    [amount] = schema["paths"]["/counters/{name}/increment"]["post"]["parameters"][1:]
    assert (amount["schema"]["minimum"], amount["schema"]["maximum"]) == (-(2**63), 2**63 - 1)
    too_big = client.post("/counters/c/increment", params={"amount": -36893488147419103231})
    assert too_big.status_code == 422
    assert too_big.json()["detail"][0]["loc"] == ["query", "amount"]  # HTTPValidationError
    for _ in range(2):
        assert client.post("/counters/c/increment", params={"amount": 2**63 - 1}).status_code == 200
    overflow = client.post("/counters/c/increment", params={"amount": 2**63 - 1})
    assert overflow.status_code == 409
    assert overflow.json()["detail"].startswith(f"cannot add {2**63 - 1} to the counter 'c': ")
    assert client.get("/counters/c").json()["value"] == 2 * (2**63 - 1)

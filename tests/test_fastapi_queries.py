"""``collection_router``'s list with ``where``, ``sort``, ``skip`` and ``fields``; 400 for a bad
query, 409 for a unique index's refusal, and the parameters in OpenAPI."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel

from asyncjsondb import AsyncJSONDB
from asyncjsondb_fastapi import collection_router, jsondb_lifespan


class Person(BaseModel):
    name: str
    age: int
    city: str = "Oslo"


PEOPLE = {
    "ann": {"name": "Ann", "age": 31, "city": "Oslo"},
    "bob": {"name": "Bob", "age": 25, "city": "Rome"},
    "cy": {"name": "Cy", "age": 40, "city": "Oslo"},
    "dee": {"name": "Dee", "age": 25, "city": "Oslo"},
}


@pytest.fixture
def client(db_path: Path) -> Iterator[TestClient]:
    async def unique_names() -> None:
        async with AsyncJSONDB(db_path) as db:
            await (await db.get_collection("people")).create_index("name", unique=True)

    asyncio.run(unique_names())
    app = FastAPI(lifespan=jsondb_lifespan(db_path))
    app.include_router(collection_router("people", Person, max_limit=50))
    with TestClient(app) as test_client:
        for key, person in PEOPLE.items():
            assert test_client.put(f"/people/{key}", json=person).status_code == 200
        yield test_client


def keys(client: TestClient, params: Any) -> list[str]:
    response = client.get("/people", params=params)
    assert response.status_code == 200, response.text
    return [item["key"] for item in response.json()["items"]]


def test_where_sort_skip_and_the_shorthands_together(client: TestClient) -> None:
    where = json.dumps({"age": {"$lt": 40}})
    assert keys(client, {"where": where}) == ["ann", "bob", "dee"]
    assert keys(client, {"where": where, "sort": "-age,name"}) == ["ann", "bob", "dee"]
    assert keys(client, {"where": where, "sort": "age,-name", "skip": 1}) == ["bob", "ann"]
    assert keys(client, {"where": where, "city": "Oslo"}) == ["ann", "dee"]
    page = client.get("/people", params={"where": where, "limit": 1, "offset": 1}).json()
    assert [i["key"] for i in page["items"]] == ["bob"] and page["total"] == 3


def test_fields_give_partial_records(client: TestClient) -> None:
    page = client.get("/people", params={"fields": "name", "sort": "-age", "limit": 2}).json()
    assert page["items"] == [
        {"key": "cy", "value": {"name": "Cy"}},
        {"key": "ann", "value": {"name": "Ann"}},
    ]
    assert page["invalid"] == []


@pytest.mark.parametrize(
    "params",
    [
        {"where": "not json"},
        {"where": json.dumps({"age": {"$regex": "^4"}})},
        {"where": json.dumps({"a": 1, "pad": "x" * 5000})},
        {"sort": "age,"},
        {"fields": "a..b"},
    ],
)
def test_a_bad_query_is_a_400_saying_why(client: TestClient, params: Any) -> None:
    response = client.get("/people", params=params)
    assert response.status_code == 400
    assert response.json()["detail"].startswith("invalid query")


def test_a_unique_index_refusal_is_a_409(client: TestClient) -> None:
    response = client.put("/people/eve", json={"name": "Ann", "age": 1})
    assert response.status_code == 409
    assert "unique index on 'name'" in response.json()["detail"]
    assert client.get("/people/eve").status_code == 404
    assert client.patch("/people/bob", json={"name": "Cy"}).status_code == 409


def test_openapi_documents_the_query_parameters(client: TestClient) -> None:
    listing = client.get("/openapi.json").json()["paths"]["/people"]["get"]
    described = {p["name"]: p.get("description", "") for p in listing["parameters"]}
    assert {"where", "sort", "skip", "fields", "limit", "offset"} <= set(described)
    assert "$gte" in described["where"] and "-age" in described["sort"]

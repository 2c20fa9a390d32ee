"""``collection_router``: CRUD end to end, validation, pagination, filters, names, OpenAPI."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import Depends, FastAPI, Header, HTTPException
from fastapi.testclient import TestClient
from pydantic import BaseModel, Field, model_validator

from asyncjsondb import AsyncJSONDB
from asyncjsondb_fastapi import collection_router, jsondb_lifespan

from .fastapi_helpers import files_in, read_collection_sync


class Book(BaseModel):
    title: str = Field(min_length=1)
    year: int = Field(ge=0)
    genre: str = "novel"
    available: bool = True
    isbn: str | None = Field(default=None, alias="ISBN")


def require_token(x_token: str = Header(default="")) -> None:
    if x_token != "secret":
        raise HTTPException(401, "token required")


@pytest.fixture
def client(db_path: Path) -> Iterator[TestClient]:
    """An app with a typed router, an untyped one, and a guarded one; no exception handlers."""
    app = FastAPI(lifespan=jsondb_lifespan(db_path))
    app.include_router(collection_router("books", Book, max_limit=20))
    app.include_router(collection_router("notes"))
    guarded = collection_router(
        "vault", prefix="/api/vault", tags=["secrets"], dependencies=[Depends(require_token)]
    )
    app.include_router(guarded)
    with TestClient(app) as test_client:
        yield test_client


DUNE = {"title": "Dune", "year": 1965, "genre": "sf"}


def test_crud_end_to_end_with_a_model(client: TestClient, db_path: Path) -> None:
    stored = {**DUNE, "available": True, "ISBN": None}
    assert client.put("/books/dune", json=DUNE).json() == stored
    assert client.get("/books/dune").json() == stored
    page = client.get("/books").json()
    assert page == {
        "items": [{"key": "dune", "value": stored}],
        "total": 1,
        "limit": 20,
        "offset": 0,
        "invalid": [],
    }
    patched = client.patch("/books/dune", json={"available": False, "ISBN": "978-0441013593"})
    assert patched.status_code == 200
    assert patched.json() == {**stored, "available": False, "ISBN": "978-0441013593"}
    assert (
        client.put("/books/dune", json={"title": "Dune", "year": 1965}).json()["genre"] == "novel"
    )
    assert client.delete("/books/dune").status_code == 204
    assert client.get("/books/dune").status_code == 404
    assert read_collection_sync(db_path, "books") == {}


def test_put_and_patch_validate_bodies_with_422(client: TestClient, db_path: Path) -> None:
    client.put("/books/dune", json=DUNE)
    bad_bodies = [
        {"title": "No year"},
        {"title": "", "year": 1},
        {**DUNE, "year": -1},
        {**DUNE, "year": "soon"},
        ["not", "an", "object"],
    ]
    for body in bad_bodies:
        assert client.put("/books/x", json=body).status_code == 422, body
    for body in [{"year": None}, {"title": ""}, {"available": "perhaps"}]:
        assert client.patch("/books/dune", json=body).status_code == 422, body
    assert client.put("/books/x").status_code == 422  # no body
    assert read_collection_sync(db_path, "books") == {
        "dune": {**DUNE, "available": True, "ISBN": None}
    }


def test_missing_keys_give_404(client: TestClient) -> None:
    for method in ("GET", "DELETE"):
        response = client.request(method, "/books/nothing")
        assert response.status_code == 404
        assert response.json() == {"detail": "no record 'nothing' in 'books'"}
    assert client.patch("/books/nothing", json={"year": 1}).status_code == 404
    assert client.get("/books/nothing").status_code == 404  # the PATCH created nothing


def test_pagination_keeps_insertion_order(client: TestClient) -> None:
    for i in range(25):
        client.put(f"/notes/n{i:02}", json=i)
    page = client.get("/notes", params={"limit": 10, "offset": 20}).json()
    assert [item["key"] for item in page["items"]] == [f"n{i}" for i in range(20, 25)]
    assert (page["total"], page["limit"], page["offset"]) == (25, 10, 20)
    assert len(client.get("/notes").json()["items"]) == 25  # default limit: max_limit (100)
    assert client.get("/notes", params={"offset": 30}).json()["items"] == []
    assert client.get("/notes", params={"limit": 0}).json()["items"] == []
    for bad in ({"limit": 21}, {"limit": -1}, {"offset": -1}, {"limit": "ten"}):
        assert client.get("/books", params=bad).status_code == 422, bad


def test_equality_filters_from_query_parameters(client: TestClient) -> None:
    books = {
        "dune": DUNE,
        "emma": {"title": "Emma", "year": 1815, "available": False},
        "1984": {"title": "1984", "year": 1949, "genre": "sf"},
        "neu": {"title": "Neuromancer", "year": 1984, "genre": "sf", "available": False},
    }
    for key, book in books.items():
        client.put(f"/books/{key}", json=book)

    def keys(params: Any) -> list[str]:
        return [item["key"] for item in client.get("/books", params=params).json()["items"]]

    assert keys({"genre": "sf"}) == ["dune", "1984", "neu"]
    assert keys({"genre": "sf", "available": "false"}) == ["neu"]
    assert keys({"year": "1984"}) == ["neu"]  # a number
    assert keys({"title": "1984"}) == ["1984"]  # a string that spells a number
    assert keys([("year", "1965"), ("year", "1815")]) == ["dune", "emma"]  # repeated: any of
    assert keys({"available": "1"}) == []  # booleans never match numbers
    assert keys({"ISBN": "null"}) == ["dune", "emma", "1984", "neu"]
    assert keys({"no_such_field": "x"}) == []
    page = client.get("/books", params={"genre": "sf", "limit": 1, "offset": 1}).json()
    assert [item["key"] for item in page["items"]] == ["1984"] and page["total"] == 3


def test_without_a_model_any_json_is_stored(client: TestClient) -> None:
    values: dict[str, Any] = {"n": 42, "l": [1, "two"], "o": {"a": {"b": None}}, "s": "text"}
    for key, value in values.items():
        assert client.put(f"/notes/{key}", json=value).json() == value
    assert {i["key"]: i["value"] for i in client.get("/notes").json()["items"]} == values
    assert client.patch("/notes/o", json={"c": 1}).json() == {"a": {"b": None}, "c": 1}


def test_client_mistakes_map_to_http_without_the_handlers(client: TestClient) -> None:
    client.put("/notes/n", json=42)
    response = client.patch("/notes/n", json={"c": 1})  # update of a number, not an object
    assert response.status_code == 409
    assert "notes['n']" in response.json()["detail"]
    headers = {"content-type": "application/json"}
    response = client.put("/notes/x", content=b'{"a": NaN}', headers=headers)
    assert response.status_code == 422  # in FastAPI's HTTPValidationError shape
    [error] = response.json()["detail"]
    assert error == {
        "type": "value_error",
        "loc": ["body"],
        "msg": "invalid value: nan is not a finite number",
    }
    assert client.get("/notes/x").status_code == 404
    assert client.patch("/notes/n", json=[1]).status_code == 422  # a PATCH body is an object


def test_keys_from_urls_stay_inside_the_collection(client: TestClient, db_path: Path) -> None:
    for raw, key in [
        ("%2E%2E", ".."),
        ("..%5C..%5Cx", "..\\..\\x"),
        ("a%20b%C3%BC", "a bü"),
        ("%2Ehidden", ".hidden"),
    ]:
        assert client.put(f"/notes/{raw}", json=key).status_code == 200, raw
        assert client.get(f"/notes/{raw}").json() == key
    assert client.put("/notes/..%2F..%2Fescape", json=1).status_code == 404  # no such route
    written = [Path(f) for f in files_in(db_path.parent)]
    assert {f.parent for f in written} == {Path("db")}  # nothing outside the database folder
    own = {f.name.lstrip(".").split(".")[0] for f in written}
    assert own == {"notes"}  # and only the files of the notes collection
    assert set(read_collection_sync(db_path, "notes")) == {"..", "..\\..\\x", "a bü", ".hidden"}


def test_router_options(client: TestClient) -> None:
    assert client.get("/api/vault").status_code == 401
    assert client.put("/api/vault/k", json=1, headers={"x-token": "secret"}).status_code == 200
    assert client.get("/api/vault/k", headers={"x-token": "secret"}).json() == 1
    schema = client.get("/openapi.json").json()
    assert schema["paths"]["/api/vault/{key}"]["get"]["tags"] == ["secrets"]
    assert schema["paths"]["/books"]["get"]["tags"] == ["books"]
    with pytest.raises(ValueError, match="max_limit"):
        collection_router("books", max_limit=0)


def test_openapi_is_typed_by_the_model(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    paths, components = schema["paths"], schema["components"]["schemas"]

    def body(path: str, method: str) -> Any:
        return paths[path][method]["requestBody"]["content"]["application/json"]["schema"]

    def response(path: str, method: str) -> Any:
        return paths[path][method]["responses"]["200"]["content"]["application/json"]["schema"]

    assert body("/books/{key}", "put") == {"$ref": "#/components/schemas/Book"}
    assert response("/books/{key}", "get") == {"$ref": "#/components/schemas/Book"}
    assert response("/books/{key}", "patch") == {"$ref": "#/components/schemas/Book"}
    assert body("/books/{key}", "patch") == {"$ref": "#/components/schemas/BookPatch"}
    # a page holds records, or partial records when ?fields= picks some of their fields
    page = {"$ref": "#/components/schemas/Page_Union_Book__dict_str__Any___"}
    assert response("/books", "get") == page
    assert components["Book"]["required"] == ["title", "year"]
    assert "required" not in components["BookPatch"]
    assert set(components["BookPatch"]["properties"]) == {
        "title",
        "year",
        "genre",
        "available",
        "ISBN",
    }
    assert components["BookPatch"]["properties"]["year"]["minimum"] == 0
    limit = next(p for p in paths["/books"]["get"]["parameters"] if p["name"] == "limit")
    assert limit["schema"]["maximum"] == 20
    assert set(paths["/books/{key}"]) == {"get", "put", "patch", "delete"}
    assert set(paths["/notes/{key}"]) == {"get", "put", "patch", "delete"}


def store_directly(db_path: Path, name: str, records: dict[str, Any]) -> None:
    """Records written by another program (the command line, an older model), not the router."""

    async def write() -> None:
        async with AsyncJSONDB(db_path) as db:
            await (await db.get_collection(name)).set_many(records)

    asyncio.run(write())


LEGACY = {"title": "Old", "year": "unknown"}  # year is not an int: does not match Book


def test_a_stored_record_that_does_not_match_the_model_never_gives_a_500(
    db_path: Path, client: TestClient
) -> None:
    store_directly(db_path, "books", {"dune": DUNE, "legacy": LEGACY, "list": [1, 2]})
    for key in ("legacy", "list"):
        response = client.get(f"/books/{key}")
        assert response.status_code == 409
        assert response.json()["detail"].startswith(
            f"the stored record {key!r} in 'books' does not match Book: "
        )
    assert "year: Input should be a valid integer" in client.get("/books/legacy").json()["detail"]

    patched = client.patch("/books/legacy", json={"genre": "sf"})
    assert patched.status_code == 409  # and nothing was written
    assert read_collection_sync(db_path, "books")["legacy"] == LEGACY

    page = client.get("/books").json()
    assert [item["key"] for item in page["items"]] == ["dune"]
    assert [entry["key"] for entry in page["invalid"]] == ["legacy", "list"]
    assert page["total"] == 3
    assert page["invalid"][0]["errors"] == [
        "year: Input should be a valid integer, unable to parse string as an integer"
    ]

    assert client.put("/books/legacy", json={"title": "Old", "year": 1900}).status_code == 200
    assert client.patch("/books/legacy", json={"genre": "sf"}).json()["genre"] == "sf"


class Span(BaseModel):
    start: int
    end: int

    @model_validator(mode="after")
    def ordered(self) -> Span:
        if self.end < self.start:
            raise ValueError("end is before start")
        return self


def test_a_patch_that_breaks_a_rule_of_the_whole_model_is_422_and_writes_nothing(
    db_path: Path,
) -> None:
    app = FastAPI(lifespan=jsondb_lifespan(db_path))
    app.include_router(collection_router("spans", Span))
    with TestClient(app) as client:
        client.put("/spans/s", json={"start": 1, "end": 5})
        response = client.patch("/spans/s", json={"end": 0})
        assert response.status_code == 422
        [error] = response.json()["detail"]
        assert error["loc"] == ["body"] and "end is before start" in error["msg"]
        assert client.get("/spans/s").json() == {"start": 1, "end": 5}


def test_a_nul_in_a_key_says_so_without_the_handlers(client: TestClient) -> None:
    for method in ("GET", "PUT", "PATCH", "DELETE"):
        body = {"json": {"year": 1}} if method in ("PUT", "PATCH") else {}
        response = client.request(method, "/notes/a%00b", **body)
        assert response.status_code == 400, method
        detail = "invalid key 'a\\x00b': keys must not contain NUL (\\0)"
        assert response.json() == {"detail": detail}


def test_openapi_documents_every_answer(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]

    def statuses(path: str, method: str) -> set[str]:
        return set(paths[path][method]["responses"])

    assert statuses("/books", "get") == {"200", "400", "422"}  # 400: a bad where or sort
    assert statuses("/books/{key}", "get") == {"200", "400", "404", "409", "422"}
    assert statuses("/books/{key}", "put") == {"200", "400", "409", "422"}  # 409: unique index
    assert statuses("/books/{key}", "patch") == {"200", "400", "404", "409", "422"}
    assert statuses("/books/{key}", "delete") == {"204", "400", "404", "422"}
    assert statuses("/notes/{key}", "get") == {"200", "400", "404", "422"}  # no model to mismatch
    assert statuses("/notes/{key}", "patch") == {"200", "400", "404", "409", "422"}
    not_found = paths["/books/{key}"]["get"]["responses"]["404"]["content"]["application/json"]
    assert not_found["schema"] == {"$ref": "#/components/schemas/ErrorMessage"}

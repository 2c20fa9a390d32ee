"""``get_db`` and ``get_collection``: clear error without the lifespan, one dependency per name,
and ``app.dependency_overrides`` reaching collections and routers."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

import asyncjsondb_fastapi
from asyncjsondb import AsyncJSONDB, Collection, InvalidNameError
from asyncjsondb_fastapi import (
    DatabaseDep,
    MissingLifespanError,
    collection_router,
    get_collection,
    get_db,
    install_exception_handlers,
    jsondb_lifespan,
)

from .fastapi_helpers import ROOT, files_in, read_collection_sync

NotesDep = Annotated[Collection, Depends(get_collection("notes"))]


def build_app(lifespan: Any = None) -> FastAPI:
    app = FastAPI(lifespan=lifespan)

    @app.get("/collections")
    async def collections(db: DatabaseDep) -> list[str]:
        return await db.list_collections()

    @app.put("/notes/{key}")
    async def put_note(key: str, text: str, notes: NotesDep) -> dict[str, str]:
        await notes.set(key, text)
        return {key: text}

    app.include_router(collection_router("books"))
    return app


@pytest.fixture
def own_db(tmp_path: Path) -> Iterator[AsyncJSONDB]:
    """A database the test owns (the core serves it to the test client's loop as well)."""
    db = AsyncJSONDB(tmp_path / "override")
    yield db
    asyncio.run(db.close())


def test_without_the_lifespan_the_error_says_how_to_fix_it() -> None:
    with TestClient(build_app()) as client, pytest.raises(MissingLifespanError) as info:
        client.get("/collections")
    message = str(info.value)
    assert "lifespan=jsondb_lifespan()" in message
    assert "ASGITransport(app=LifespanManager(app).app)" in message
    assert "dependency_overrides" in message


def test_without_the_lifespan_and_with_handlers_the_client_gets_a_500() -> None:
    app = build_app()
    install_exception_handlers(app)
    with TestClient(app) as client:
        response = client.get("/books")
    assert response.status_code == 500
    assert response.json() == {"detail": "database error", "error": "MissingLifespanError"}


def test_plain_starlette_get_db_without_the_lifespan() -> None:
    async def endpoint(request: Request) -> JSONResponse:
        return JSONResponse({"db": repr(get_db(request))})

    app = Starlette(routes=[Route("/", endpoint)])
    with TestClient(app) as client, pytest.raises(MissingLifespanError, match="jsondb_lifespan"):
        client.get("/")


def test_get_collection_gives_one_dependency_per_name() -> None:
    assert get_collection("users") is get_collection("users")
    assert get_collection("users") is not get_collection("orders")
    assert get_collection("users").__name__ == "get_collection('users')"


@pytest.mark.parametrize("name", ["", "../etc", "a/b", ".hidden", "a b", "x" * 129, 7])
def test_get_collection_rejects_bad_names_at_once(name: Any) -> None:
    with pytest.raises(InvalidNameError):
        get_collection(name)
    with pytest.raises(InvalidNameError):
        collection_router(name)


def test_overriding_get_db_reaches_collections_and_routers(own_db: AsyncJSONDB) -> None:
    app = build_app()  # no lifespan needed: the override provides the database
    app.dependency_overrides[get_db] = lambda: own_db
    with TestClient(app) as client:
        assert client.put("/notes/n1", params={"text": "hi"}).status_code == 200
        assert client.put("/books/b1", json={"title": "Dune"}).status_code == 200
        assert client.get("/collections").json() == ["books", "notes"]
    assert files_in(Path(own_db.db_path)) >= {"books.json", "notes.json"}


def test_overriding_one_collection_leaves_the_others(tmp_path: Path, own_db: AsyncJSONDB) -> None:
    async def other_notes() -> Collection:
        return await own_db.get_collection("notes")

    app = build_app(jsondb_lifespan(tmp_path / "app"))
    app.dependency_overrides[get_collection("notes")] = other_notes
    with TestClient(app) as client:
        client.put("/notes/n1", params={"text": "to the override"})
        client.put("/books/b1", json={"title": "to the app"})
    assert read_collection_sync(tmp_path / "app", "books") == {"b1": {"title": "to the app"}}
    assert not (tmp_path / "app" / "notes.json").exists()
    assert "books.json" not in files_in(Path(own_db.db_path))
    assert asyncio.run(_notes(own_db)) == {"n1": "to the override"}


async def _notes(db: AsyncJSONDB) -> dict[str, Any]:
    return dict(await (await db.get_collection("notes")).items())


def test_public_api_is_sorted_and_importable() -> None:
    names = asyncjsondb_fastapi.__all__
    assert names == sorted(names)
    assert all(hasattr(asyncjsondb_fastapi, name) for name in names)
    assert (ROOT / "asyncjsondb_fastapi" / "py.typed").exists()

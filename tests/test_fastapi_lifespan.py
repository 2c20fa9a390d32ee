"""``jsondb_lifespan``: opens at startup, closes at shutdown, composes, finds its path."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from asyncjsondb import AsyncJSONDB, ConfigurationError, DatabaseClosedError, StorageError
from asyncjsondb_fastapi import DatabaseDep, get_db, jsondb_lifespan, jsondb_state

from .fastapi_helpers import read_collection, read_collection_sync


def notes_app(lifespan: Any, opened: list[AsyncJSONDB] | None = None) -> FastAPI:
    """An app that writes and reads notes, and remembers the database objects it was given."""
    app = FastAPI(lifespan=lifespan)

    @app.put("/notes/{key}")
    async def put(key: str, text: str, db: DatabaseDep) -> dict[str, str]:
        await (await db.get_collection("notes")).set(key, text)
        return {key: text}

    @app.get("/notes")
    async def notes(request: Request, db: DatabaseDep) -> dict[str, Any]:
        if opened is not None:
            opened.append(db)
        extra = {k: getattr(request.state, k, None) for k in ("greeting", "mode")}
        extra = {k: v for k, v in extra.items() if v is not None}
        return {"notes": dict(await (await db.get_collection("notes")).items()), "state": extra}

    return app


def test_data_persists_across_app_restarts(db_path: Path) -> None:
    app = notes_app(jsondb_lifespan(db_path))
    with TestClient(app) as client:
        assert client.put("/notes/a", params={"text": "first run"}).status_code == 200
    with TestClient(app) as client:
        client.put("/notes/b", params={"text": "second run"})
        assert client.get("/notes").json()["notes"] == {"a": "first run", "b": "second run"}
    # Shut down cleanly: the journal was folded into notes.json.
    assert not (db_path / "notes.journal").exists()
    assert read_collection_sync(db_path, "notes") == {"a": "first run", "b": "second run"}


async def _use_after_close(db: AsyncJSONDB) -> None:
    with pytest.raises(DatabaseClosedError):
        await db.list_collections()


def test_shutdown_closes_the_database_and_each_startup_opens_a_new_one(db_path: Path) -> None:
    opened: list[AsyncJSONDB] = []
    app = notes_app(jsondb_lifespan(db_path), opened)
    for _ in range(2):
        with TestClient(app) as client:
            client.get("/notes")
            assert "open" in repr(opened[-1])
    first, second = opened
    assert first is not second
    assert "closed" in repr(first) and "closed" in repr(second)
    asyncio.run(_use_after_close(second))


def test_composition_keeps_the_apps_startup_shutdown_and_state(db_path: Path) -> None:
    events: list[str] = []

    @asynccontextmanager
    async def own_lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        events.append("startup")
        yield {"greeting": "hello", "asyncjsondb": "overridden by ours"}
        events.append("shutdown")

    app = notes_app(jsondb_lifespan(db_path, lifespan=own_lifespan))
    with TestClient(app) as client:
        assert events == ["startup"]
        client.put("/notes/a", params={"text": "x"})
        body = client.get("/notes").json()
    assert body == {"notes": {"a": "x"}, "state": {"greeting": "hello"}}
    assert events == ["startup", "shutdown"]


def test_composition_with_a_lifespan_that_yields_no_state(db_path: Path) -> None:
    events: list[str] = []

    @asynccontextmanager
    async def stateless(app: FastAPI) -> AsyncIterator[None]:
        events.append("startup")
        yield
        events.append("shutdown")

    with TestClient(notes_app(jsondb_lifespan(db_path, lifespan=stateless))) as client:
        assert client.get("/notes").json() == {"notes": {}, "state": {}}
    assert events == ["startup", "shutdown"]


async def test_a_failing_startup_still_closes_the_database(db_path: Path) -> None:
    """Closing the last database object of a process on a folder folds its journals; so a
    witness that holds a journal sees it folded at its own close only if the app's object
    (opened at startup, before the app's own lifespan failed) was closed too."""

    @asynccontextmanager
    async def failing(app: FastAPI) -> AsyncIterator[None]:
        raise RuntimeError("the app's own startup failed")
        yield

    witness = AsyncJSONDB(db_path)
    await (await witness.get_collection("notes")).set("k", "v")
    assert (db_path / "notes.journal").exists()
    app = notes_app(jsondb_lifespan(db_path, lifespan=failing))
    with pytest.raises(RuntimeError, match="own startup failed"):
        async with LifespanManager(app):
            pass
    await witness.close()
    assert not (db_path / "notes.journal").exists()
    assert await read_collection(db_path, "notes") == {"k": "v"}


def test_async_context_manager_inside_the_apps_own_lifespan(db_path: Path) -> None:
    entered: list[AsyncJSONDB] = []

    @asynccontextmanager
    async def own_lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        async with jsondb_lifespan(db_path) as db:
            entered.append(db)
            await (await db.get_collection("notes")).set("seeded", "at startup")
            yield {**jsondb_state(db), "mode": "own"}

    with TestClient(notes_app(own_lifespan)) as client:
        body = client.get("/notes").json()
    assert body == {"notes": {"seeded": "at startup"}, "state": {"mode": "own"}}
    assert "closed" in repr(entered[0])


async def test_context_manager_refuses_lifespan_and_reentry(db_path: Path) -> None:
    @asynccontextmanager
    async def other(app: object) -> AsyncIterator[None]:
        yield

    with pytest.raises(TypeError, match="without lifespan="):
        async with jsondb_lifespan(db_path, lifespan=other):
            pass
    manager = jsondb_lifespan(db_path)
    async with manager:
        with pytest.raises(RuntimeError, match="already entered"):
            async with manager:
                pass


def test_path_from_the_argument_the_environment_then_dot_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = notes_app(jsondb_lifespan())  # read at startup, not when the app is built
    monkeypatch.setenv("ASYNCJSONDB_PATH", str(tmp_path / "from_env"))
    with TestClient(app) as client:
        client.put("/notes/a", params={"text": "env"})
    monkeypatch.delenv("ASYNCJSONDB_PATH")
    monkeypatch.chdir(tmp_path)
    with TestClient(app) as client:
        client.put("/notes/a", params={"text": "default"})
    monkeypatch.setenv("ASYNCJSONDB_PATH", str(tmp_path / "from_env"))
    with TestClient(notes_app(jsondb_lifespan(tmp_path / "explicit"))) as client:
        client.put("/notes/a", params={"text": "argument"})
    assert read_collection_sync(tmp_path / "from_env", "notes") == {"a": "env"}
    assert read_collection_sync(tmp_path / "data", "notes") == {"a": "default"}
    assert read_collection_sync(tmp_path / "explicit", "notes") == {"a": "argument"}


def test_options_reach_the_core(db_path: Path) -> None:
    opened: list[AsyncJSONDB] = []
    app = notes_app(jsondb_lifespan(db_path, cache_ttl=0, durability="flush"), opened)
    with TestClient(app) as client:
        client.get("/notes")
    assert opened[0].options.cache_ttl == 0
    assert opened[0].options.durability == "flush"


def test_a_bad_option_fails_when_the_app_is_built(db_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="cache_tll"):
        jsondb_lifespan(db_path, cache_tll=1)
    with pytest.raises(ConfigurationError, match="durability"):
        jsondb_lifespan(db_path, durability="sometimes")


def test_an_unusable_path_fails_the_startup(tmp_path: Path) -> None:
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("I am a file")
    with pytest.raises(StorageError), TestClient(notes_app(jsondb_lifespan(not_a_folder))):
        pass


def test_plain_starlette_app_with_get_db(db_path: Path) -> None:
    async def hits(request: Request) -> JSONResponse:
        db = get_db(request)
        counter = await db.get_collection("counters")
        return JSONResponse({"hits": await counter.increment("hits")})

    app = Starlette(routes=[Route("/", hits)], lifespan=jsondb_lifespan(db_path))
    with TestClient(app) as client:
        assert [client.get("/").json()["hits"] for _ in range(3)] == [1, 2, 3]
    with TestClient(app) as client:
        assert client.get("/").json() == {"hits": 4}

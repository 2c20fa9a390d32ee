"""Apps, on every backend, under ``httpx2.AsyncClient`` over ``ASGITransport``, the lifespan run by
asgi-lifespan's ``LifespanManager``: the state reaches requests only through ``manager.app``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx2
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI, Request

from asyncjsondb import AsyncJSONDB
from asyncjsondb_fastapi import (
    DatabaseDep,
    MissingLifespanError,
    collection_router,
    get_db,
    install_exception_handlers,
    jsondb_lifespan,
)
from examples.fastapi_app import CountersDep, User
from examples.fastapi_app import app as example_app
from tests.conftest import Location

from .fastapi_helpers import read_collection


def backend_app(location: Location) -> FastAPI:
    """The example's counter and users router, on any backend (a folder or PostgreSQL)."""
    app = FastAPI(lifespan=jsondb_lifespan(location.path, **location.options))
    install_exception_handlers(app)

    @app.post("/counters/{name}/increment")
    async def increment(name: str, counters: CountersDep) -> int:
        return int(await counters.increment(name))

    app.include_router(collection_router("users", User))
    return app


@asynccontextmanager
async def running_client(app: FastAPI) -> AsyncIterator[httpx2.AsyncClient]:
    async with LifespanManager(app) as manager:
        transport = httpx2.ASGITransport(app=manager.app)  # not app=app: that has no state
        async with httpx2.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


async def stored(location: Location, name: str) -> dict[str, Any]:
    async with location.open(cache_ttl=0) as db:
        return dict(await (await db.get_collection(name)).items())


async def test_state_reaches_requests_only_through_the_managers_app(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ASYNCJSONDB_PATH", str(db_path))
    async with LifespanManager(example_app) as manager:
        through_manager = httpx2.ASGITransport(app=manager.app)
        async with httpx2.AsyncClient(transport=through_manager, base_url="http://t") as client:
            assert (await client.get("/counters/c")).json()["value"] == 0
        around_manager = httpx2.ASGITransport(app=example_app)
        async with httpx2.AsyncClient(transport=around_manager, base_url="http://t") as client:
            response = await client.get("/counters/c")
    # install_exception_handlers answers the misuse with a 500; the server log says what to do.
    assert response.status_code == 500
    assert response.json()["error"] == MissingLifespanError.__name__


async def test_data_persists_across_restarts(location: Location) -> None:
    app = backend_app(location)
    ann = {"name": "Ann", "email": "a@b.c", "role": "user", "active": True}
    async with running_client(app) as client:
        assert (await client.put("/users/ann", json=ann)).status_code == 200
    async with running_client(app) as client:
        assert (await client.get("/users/ann")).json() == ann
    assert await stored(location, "users") == {"ann": ann}
    if location.backend == "files":
        assert not (Path(location.path) / "users.journal").exists()  # shutdown folded it


async def test_200_concurrent_increments_lose_nothing(location: Location) -> None:
    async with running_client(backend_app(location)) as client:
        responses = await asyncio.gather(
            *(client.post("/counters/hits/increment") for _ in range(200))
        )
    values = sorted(response.json() for response in responses)
    assert values == list(range(1, 201))  # each increment saw a distinct, consecutive total
    assert await stored(location, "counters") == {"hits": {"value": 200}}


async def test_concurrent_writes_through_the_router(location: Location) -> None:
    async with running_client(backend_app(location)) as client:
        puts = [
            client.put(f"/users/u{i}", json={"name": f"U{i}", "email": f"u{i}@x.y"})
            for i in range(50)
        ]
        assert {r.status_code for r in await asyncio.gather(*puts)} == {200}
        patches = [client.patch(f"/users/u{i}", json={"active": False}) for i in range(0, 50, 2)]
        assert {r.status_code for r in await asyncio.gather(*patches)} == {200}
        inactive = (await client.get("/users", params={"active": "false", "limit": 100})).json()
    assert inactive["total"] == 25
    assert {item["key"] for item in inactive["items"]} == {f"u{i}" for i in range(0, 50, 2)}
    assert len(await stored(location, "users")) == 50


async def test_composition_and_overrides_under_asgi_transport(tmp_path: Path) -> None:
    events: list[str] = []

    @asynccontextmanager
    async def own_lifespan(app: FastAPI) -> AsyncIterator[dict[str, str]]:
        events.append("startup")
        yield {"greeting": "hello"}
        events.append("shutdown")

    composed = FastAPI(lifespan=jsondb_lifespan(tmp_path / "app", lifespan=own_lifespan))
    composed.include_router(collection_router("notes"))

    @composed.get("/greeting")
    async def greeting(request: Request, db: DatabaseDep) -> str:
        return f"{request.state.greeting} from {Path(db.db_path).name}"

    async with LifespanManager(composed) as manager:
        transport = httpx2.ASGITransport(app=manager.app)
        async with httpx2.AsyncClient(transport=transport, base_url="http://t") as client:
            assert (await client.get("/greeting")).json() == "hello from app"
            await client.put("/notes/a", json="app")
            async with AsyncJSONDB(tmp_path / "override") as test_db:
                composed.dependency_overrides[get_db] = lambda: test_db
                assert (await client.get("/greeting")).json() == "hello from override"
                await client.put("/notes/a", json="override")
                composed.dependency_overrides.clear()
        assert events == ["startup"]
    assert events == ["startup", "shutdown"]
    assert await read_collection(tmp_path / "app", "notes") == {"a": "app"}
    assert await read_collection(tmp_path / "override", "notes") == {"a": "override"}

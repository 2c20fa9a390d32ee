"""``install_exception_handlers``: the core's errors as HTTP status codes, with no file paths."""

from __future__ import annotations

import errno
import logging
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from asyncjsondb import (
    BackupError,
    ConfigurationError,
    CorruptFileError,
    DatabaseClosedError,
    DatabaseError,
    InvalidKeyError,
    InvalidNameError,
    InvalidOperationError,
    InvalidValueError,
    LockTimeoutError,
    ServerError,
    StorageError,
)
from asyncjsondb_fastapi import DatabaseDep, install_exception_handlers, jsondb_lifespan

SECRET = "/srv/secret-folder/db"

CASES: list[tuple[DatabaseError, int, str]] = [
    (InvalidNameError("../x", "must not contain '/'"), 400, "invalid collection name"),
    (InvalidKeyError(3), 400, "invalid key 3: keys must be str"),
    (InvalidKeyError("a\0b", "keys must not contain NUL"), 400, "keys must not contain NUL"),
    (InvalidValueError("NaN is not JSON", key="k"), 422, "invalid value: NaN is not JSON"),
    (InvalidOperationError("not an object", collection="c", key="k"), 409, "c['k']: not an object"),
    (LockTimeoutError(f"{SECRET}/.c.lock", 10), 503, "the database is busy, retry"),
    (DatabaseClosedError(SECRET), 503, "the database is closed"),
    (ServerError("postgresql://app@secret-host/db", "gone"), 503, "database server failed"),
    (StorageError("write", SECRET, OSError(errno.ENOSPC, "No space")), 507, "could not store"),
    (StorageError("write", SECRET, OSError(errno.EACCES, "Denied")), 500, "could not store"),
    (CorruptFileError(f"{SECRET}/c.json", "bad line", position=3), 500, "database error"),
    (BackupError(SECRET, "no manifest"), 500, "database error"),
    (ConfigurationError("cache_ttl", "negative"), 500, "database error"),
    (DatabaseError(f"something in {SECRET}"), 500, "database error"),
]


def raising_app(error: Exception) -> FastAPI:
    app = FastAPI()
    install_exception_handlers(app)

    @app.get("/")
    async def fail() -> None:
        raise error

    return app


@pytest.mark.parametrize(("error", "status", "detail"), CASES, ids=lambda c: type(c).__name__)
def test_each_error_gets_its_status_and_a_safe_detail(
    error: DatabaseError, status: int, detail: str, caplog: pytest.LogCaptureFixture
) -> None:
    with (
        caplog.at_level(logging.ERROR, "asyncjsondb_fastapi"),
        TestClient(raising_app(error)) as client,
    ):
        response = client.get("/")
    assert response.status_code == status
    body = response.json()
    assert detail in body["detail"]
    assert body["error"] == type(error).__name__
    assert "secret" not in response.text
    assert (response.headers.get("retry-after") == "1") == (status == 503)
    if status >= 500:  # the server's log keeps the whole story, paths included
        assert str(error) in caplog.text
    else:
        assert caplog.text == ""


def test_other_exceptions_are_left_alone() -> None:
    with TestClient(raising_app(KeyError("x"))) as client, pytest.raises(KeyError):
        client.get("/")


def test_a_real_corrupt_file_gives_a_500_without_its_path(db_path: Path) -> None:
    app = FastAPI(lifespan=jsondb_lifespan(db_path))
    install_exception_handlers(app)

    @app.get("/count")
    async def count(db: DatabaseDep) -> int:
        return await (await db.get_collection("users")).count()

    db_path.mkdir()
    (db_path / "users.json").write_text('{\n"a":1,\n"b": nope\n}\n')
    with TestClient(app) as client:
        response = client.get("/count")
    assert response.status_code == 500
    assert response.json() == {"detail": "database error", "error": "CorruptFileError"}
    assert str(db_path) not in response.text
    assert (db_path / "users.json").read_text() == '{\n"a":1,\n"b": nope\n}\n'  # left as it was


def test_a_real_invalid_name_from_the_url_gives_a_400(db_path: Path) -> None:
    app = FastAPI(lifespan=jsondb_lifespan(db_path))
    install_exception_handlers(app)

    @app.get("/collections/{name}/count")
    async def count(name: str, db: DatabaseDep) -> int:
        return await (await db.get_collection(name)).count()

    with TestClient(app) as client:
        assert client.get("/collections/fine/count").json() == 0
        for bad in (".hidden", "a%20b", "%2E%2E", "%2E%2E%5Cwindows", "a%00"):
            response = client.get(f"/collections/{bad}/count")
            assert response.status_code == 400, bad
            assert response.json()["error"] == "InvalidNameError"
    assert {p.name for p in db_path.parent.iterdir()} == {"db"}
    assert {p.name for p in db_path.iterdir() if not p.name.startswith(".")} == {"fine.json"}

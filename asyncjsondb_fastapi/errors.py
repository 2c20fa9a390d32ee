"""The core's errors translated to HTTP, and the integration's own misuse error.

``install_exception_handlers(app)`` is opt-in. It answers a ``DatabaseError`` with a status code and
a JSON body ``{"detail": ..., "error": <class name>}``. Details come from the error's safe fields
only: messages that name files or servers (corrupt file, lock timeout, storage, closed database,
PostgreSQL) stay in the server log, never reach the client.

    DatabaseError            500  database error
    ├── InvalidNameError     400  invalid collection name: <reason>
    ├── InvalidKeyError      400  invalid key <key>: <reason> (e.g. a NUL character)
    ├── InvalidValueError    422  invalid value: <reason>
    ├── InvalidOperationError 409 <collection>[<key>]: <reason>
    ├── InvalidQueryError    400  invalid query at <where>: <problem>
    ├── DuplicateKeyError    409  unique index on <path>: <key> would repeat <value> ...
    ├── LockTimeoutError     503  the database is busy, retry (with Retry-After)
    ├── DatabaseClosedError  503  the database is closed
    ├── ServerError          503  the database server failed or is unreachable
    ├── StorageError         507 when the disk is full, else 500
    └── others (corrupt file, backup, configuration, MissingLifespanError): 500
"""

from __future__ import annotations

import errno
import logging
from collections.abc import Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from asyncjsondb.errors import (
    DatabaseClosedError,
    DatabaseError,
    DuplicateKeyError,
    InvalidKeyError,
    InvalidNameError,
    InvalidOperationError,
    InvalidQueryError,
    InvalidValueError,
    LockTimeoutError,
    ServerError,
    StorageError,
)

logger = logging.getLogger("asyncjsondb_fastapi")

RETRY_AFTER_SECONDS = 1


class MissingLifespanError(DatabaseError, RuntimeError):
    """``get_db`` found no database in the lifespan state: the app was set up without it."""

    def __init__(self) -> None:
        super().__init__(
            "no AsyncJSONDB in the lifespan state: create the app with "
            "FastAPI(lifespan=jsondb_lifespan()) (or Starlette(lifespan=...)), or yield "
            "jsondb_state(db) from your own lifespan. In tests, run the lifespan: "
            "'with TestClient(app)', or httpx2.ASGITransport(app=LifespanManager(app).app); "
            "or override get_db in app.dependency_overrides."
        )


def _storage_status(exc: StorageError) -> int:
    return 507 if exc.cause.errno == errno.ENOSPC else 500


_RULES: dict[type[DatabaseError], tuple[int | Callable[[Any], int], Callable[[Any], str]]] = {
    InvalidNameError: (400, lambda exc: f"invalid collection name: {exc.reason}"),
    InvalidKeyError: (400, str),
    InvalidValueError: (422, lambda exc: f"invalid value: {exc.reason}"),
    InvalidOperationError: (409, str),
    InvalidQueryError: (400, str),
    DuplicateKeyError: (409, str),
    LockTimeoutError: (503, lambda exc: "the database is busy, retry"),
    DatabaseClosedError: (503, lambda exc: "the database is closed"),
    ServerError: (503, lambda exc: "the database server failed or is unreachable"),
    StorageError: (_storage_status, lambda exc: "the database could not store the data"),
    DatabaseError: (500, lambda exc: "database error"),
}


def describe_error(exc: DatabaseError) -> tuple[int, str]:
    """The HTTP status code and the client-safe detail for ``exc``."""
    for cls in type(exc).__mro__:
        rule = _RULES.get(cls)
        if rule is not None:
            status, detail = rule
            return (status(exc) if callable(status) else status), detail(exc)
    raise TypeError(f"not a DatabaseError: {exc!r}")  # pragma: no cover - DatabaseError matches


async def database_error_handler(request: Request, exc: Exception) -> Response:
    """Starlette/FastAPI exception handler for ``DatabaseError``; 5xx are logged in full."""
    if not isinstance(exc, DatabaseError):
        raise exc
    status, detail = describe_error(exc)
    if status >= 500:
        logger.error("%s %s failed: %s", request.method, request.url.path, exc, exc_info=exc)
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)} if status == 503 else None
    body = {"detail": detail, "error": type(exc).__name__}
    return JSONResponse(body, status_code=status, headers=headers)


def install_exception_handlers(app: Starlette) -> None:
    """Answer every ``DatabaseError`` raised in ``app`` with its HTTP status and a JSON body."""
    app.add_exception_handler(DatabaseError, database_error_handler)

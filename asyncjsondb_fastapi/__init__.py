"""FastAPI and Starlette integration of AsyncJSONDB.

``FastAPI(lifespan=jsondb_lifespan())`` opens the database; endpoints take ``db: DatabaseDep`` or
``Depends(get_collection("users"))``; ``collection_router("users", User)`` serves CRUD endpoints;
``install_exception_handlers(app)`` answers the core's errors with HTTP status codes;
``require_valid(Model, "users", key, value)`` answers 409 for a stored record that does not
match the model, as the router does.
"""

from __future__ import annotations

from .dependencies import DatabaseDep, get_collection, get_db
from .errors import (
    MissingLifespanError,
    database_error_handler,
    describe_error,
    install_exception_handlers,
)
from .lifespan import STATE_KEY, JSONDBLifespan, jsondb_lifespan, jsondb_state
from .router import collection_router
from .schemas import ErrorMessage, InvalidRecord, Item, Page
from .stored import require_valid

__all__ = [
    "DatabaseDep",
    "ErrorMessage",
    "InvalidRecord",
    "Item",
    "JSONDBLifespan",
    "MissingLifespanError",
    "Page",
    "STATE_KEY",
    "collection_router",
    "database_error_handler",
    "describe_error",
    "get_collection",
    "get_db",
    "install_exception_handlers",
    "jsondb_lifespan",
    "jsondb_state",
    "require_valid",
]

"""``get_db`` and ``get_collection(name)``: the database and its collections as dependencies.

``get_collection(name)`` resolves through ``get_db``, so ``app.dependency_overrides[get_db]``
reaches every collection dependency and router; and it returns the same callable for the same
name, so ``app.dependency_overrides[get_collection("users")]`` targets one collection.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends
from starlette.requests import HTTPConnection

from asyncjsondb import AsyncJSONDB, Collection
from asyncjsondb.names import validate_collection_name

from .errors import MissingLifespanError
from .lifespan import STATE_KEY


def get_db(request: HTTPConnection) -> AsyncJSONDB:
    """The app's database, from the lifespan state of ``request`` (or a websocket).

    A dependency (``db: AsyncJSONDB = Depends(get_db)``), and a plain function for Starlette
    endpoints: ``db = get_db(request)``.
    """
    db = getattr(request.state, STATE_KEY, None)
    if not isinstance(db, AsyncJSONDB):
        raise MissingLifespanError()
    return db


DatabaseDep = Annotated[AsyncJSONDB, Depends(get_db)]
"""``async def endpoint(db: DatabaseDep)``; for a collection write your own one-line alias:
``UsersDep = Annotated[Collection, Depends(get_collection("users"))]``."""


def get_collection(name: str) -> Callable[[AsyncJSONDB], Awaitable[Collection]]:
    """A dependency giving the collection ``name`` (created on first use); the same one per name.

    The name is checked by the core now, so a bad one fails at import, not on a request.
    """
    return _collection_dependency(validate_collection_name(name))


@functools.cache
def _collection_dependency(name: str) -> Callable[[AsyncJSONDB], Awaitable[Collection]]:
    async def collection_dependency(db: DatabaseDep) -> Collection:
        return await db.get_collection(name)

    collection_dependency.__name__ = collection_dependency.__qualname__ = (
        f"get_collection({name!r})"
    )
    return collection_dependency

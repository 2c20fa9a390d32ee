"""``jsondb_lifespan``: the database opened at startup, kept in the lifespan state, closed after.

The database reaches requests through Starlette's lifespan state (``request.state``), never a module
global, so two apps (or two test clients) in one process each get their own.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from types import TracebackType
from typing import Any

from starlette.types import Lifespan

from asyncjsondb import AsyncJSONDB
from asyncjsondb.options import Options

STATE_KEY = "asyncjsondb"
"""The key of the database in the lifespan state (``request.state.asyncjsondb``)."""

PATH_VARIABLE = "ASYNCJSONDB_PATH"
DEFAULT_PATH = "./data"


def resolve_db_path(db_path: str | os.PathLike[str] | None) -> str | os.PathLike[str]:
    """``db_path`` if given, else ``$ASYNCJSONDB_PATH``, else ``./data`` (read at startup)."""
    if db_path is not None:
        return db_path
    return os.environ.get(PATH_VARIABLE) or DEFAULT_PATH


def jsondb_state(db: AsyncJSONDB) -> dict[str, Any]:
    """The lifespan state that makes ``get_db`` find ``db``; yield it from your own lifespan."""
    return {STATE_KEY: db}


async def open_database(
    db_path: str | os.PathLike[str] | None, options: Mapping[str, Any]
) -> AsyncJSONDB:
    """Open the database and use it once, so that an unusable folder or an unreachable server
    fails the startup rather than the first request."""
    db = AsyncJSONDB(resolve_db_path(db_path), **options)
    try:
        await db.list_collections()
    except BaseException:
        await db.close()
        raise
    return db


class JSONDBLifespan:
    """A lifespan for ``FastAPI(lifespan=...)``/``Starlette(lifespan=...)``, and an async context
    manager (``async with jsondb_lifespan() as db``) to enter inside your own lifespan.

    Every startup opens a fresh database object, so an app can be started, stopped and started
    again (as test clients do).
    """

    def __init__(
        self,
        db_path: str | os.PathLike[str] | None,
        lifespan: Lifespan[Any] | None,
        options: Mapping[str, Any],
    ) -> None:
        Options.from_kwargs(dict(options))  # a typo in an option fails at import, not at startup
        self.db_path = db_path
        self.lifespan = lifespan
        self.options = dict(options)
        self._entered: AsyncJSONDB | None = None

    def __repr__(self) -> str:
        return f"<JSONDBLifespan {self.db_path!r}>"

    def __call__(self, app: Any) -> AbstractAsyncContextManager[dict[str, Any]]:
        return self._run(app)

    @asynccontextmanager
    async def _run(self, app: Any) -> AsyncIterator[dict[str, Any]]:
        db = await open_database(self.db_path, self.options)
        try:
            if self.lifespan is None:
                yield jsondb_state(db)
                return
            async with self.lifespan(app) as app_state:
                yield {**(app_state or {}), **jsondb_state(db)}
        finally:
            await db.close()

    async def __aenter__(self) -> AsyncJSONDB:
        if self.lifespan is not None:
            raise TypeError(
                "jsondb_lifespan(lifespan=...) composes lifespans for FastAPI(lifespan=...); "
                "inside your own lifespan, enter jsondb_lifespan() without lifespan="
            )
        if self._entered is not None:
            raise RuntimeError(
                "this jsondb_lifespan is already entered; create one per 'async with'"
            )
        self._entered = await open_database(self.db_path, self.options)
        return self._entered

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        db, self._entered = self._entered, None
        if db is not None:
            await db.close()


def jsondb_lifespan(
    db_path: str | os.PathLike[str] | None = None,
    *,
    lifespan: Lifespan[Any] | None = None,
    **options: Any,
) -> JSONDBLifespan:
    """Open an ``AsyncJSONDB`` at startup and close it at shutdown.

    ``db_path``: a folder or a ``postgresql://`` URL; None reads ``ASYNCJSONDB_PATH`` at
    startup, else ``./data``.
    ``lifespan``: the app's own lifespan, run inside this one; the state it yields is kept.
    ``options``: passed to ``AsyncJSONDB`` (``cache_ttl``, ``durability``, ...).
    """
    return JSONDBLifespan(db_path, lifespan, options)

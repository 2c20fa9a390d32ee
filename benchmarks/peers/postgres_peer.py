"""AsyncJSONDB on PostgreSQL: each store in a fresh schema of its own, dropped when it closes.

The server is chosen once per run (``use(url)``; ``None`` leaves the PostgreSQL rows out), and
each workload adds the ``if_enabled(...)`` systems to its own. A folder holding a ``postgres.url``
file (see ``shared_schema``) makes every store opened on it, in any process, use that one schema.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from .asyncjsondb_peer import AsyncJSONDBStore

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"
NAME = "asyncjsondb postgres"
SHARED_FILE = "postgres.url"
T = TypeVar("T")

_server_url: str | None = None  # None: the PostgreSQL rows are left out
_undropped: dict[str, str] = {}  # schema -> server URL: made by this process, not dropped yet
made: list[str] = []  # every schema name this process made, so a check can see them all gone


def use(url: str | None) -> None:
    """Run the PostgreSQL systems on the server at ``url`` from now on; ``None``: leave them out."""
    global _server_url
    _server_url = url


def enabled() -> bool:
    return _server_url is not None


def if_enabled(*systems: T) -> list[T]:
    """``systems`` while a server is in use, else nothing."""
    return list(systems) if enabled() else []


async def unreachable(url: str) -> str | None:
    """Why the PostgreSQL rows cannot run on ``url``; None when its server answers."""
    try:
        import asyncpg  # type: ignore[import-untyped]
    except ImportError:
        return "asyncpg is not installed (pip install -e '.[bench]')"
    try:
        connection = await asyncpg.connect(url, timeout=3)
        try:
            await connection.fetchval("SELECT 1")
        finally:
            await connection.close()
    except (OSError, ValueError, asyncio.TimeoutError, asyncpg.PostgresError) as exc:
        return f"no PostgreSQL server answers at {url} ({type(exc).__name__}: {exc})"
    return None


def with_schema(url: str, schema: str) -> str:
    """``url`` with ``schema=<schema>`` added to its query (the core reads it from there)."""
    parts = urlsplit(url)
    query = urlencode([*parse_qsl(parts.query), ("schema", schema)])
    return urlunsplit(parts._replace(query=query))


def new_schema() -> tuple[str, str]:
    """The server in use and a fresh schema name on it, recorded until ``drop_schema``."""
    if _server_url is None:
        raise RuntimeError("no PostgreSQL server in use: call postgres_peer.use(url) first")
    schema = f"bench_{uuid.uuid4().hex}"
    _undropped[schema] = _server_url
    made.append(schema)
    return _server_url, schema


async def drop_schema(url: str, schema: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(url, timeout=10)
    try:
        await connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await connection.close()
    _undropped.pop(schema, None)


async def drop_leftovers() -> None:
    """Drop every schema this process made and has not dropped (a run cut short)."""
    for schema, url in list(_undropped.items()):
        await drop_schema(url, schema)


@contextlib.asynccontextmanager
async def shared_schema(folder: Path) -> AsyncIterator[None]:
    """Meanwhile every ``PostgresStore`` opened on ``folder``, in any process, uses one fresh
    schema (its URL in ``folder/postgres.url``), dropped at the end, also on failure."""
    url, schema = new_schema()
    shared = folder / SHARED_FILE
    try:
        folder.mkdir(parents=True, exist_ok=True)
        shared.write_text(with_schema(url, schema))
        yield
    finally:
        shared.unlink(missing_ok=True)
        await drop_schema(url, schema)


class PostgresStore(AsyncJSONDBStore):
    """AsyncJSONDB on ``postgresql://...?schema=bench_<uuid>``: a schema of its own, dropped at
    ``close``, unless the folder names a shared one."""

    def __init__(self, name: str = NAME, **options: Any) -> None:
        super().__init__(name, **options)
        self._owned: tuple[str, str] | None = None  # (server URL, schema) to drop at close

    def location(self, folder: Path) -> str:
        shared = folder / SHARED_FILE
        if shared.exists():
            return shared.read_text()
        self._owned = new_schema()
        return with_schema(*self._owned)

    async def close(self) -> None:
        owned, self._owned = self._owned, None
        try:
            await super().close()
        finally:
            if owned is not None:
                await drop_schema(*owned)

"""What the ``AsyncJSONDB`` and ``Collection`` layer needs from a storage backend.

Values cross this boundary as encoded JSON (``bytes``), so the layer above decodes a private copy
for every caller whatever the backend. ``open_backend`` picks one from ``db_path``: a folder gives
the JSON-file engine.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Protocol

from .errors import ConfigurationError
from .mutations import Mutation
from .options import Options


class Stale:
    """``get_cached``'s answer when only the (async) ``get`` can tell."""


STALE = Stale()


class CollectionBackend(Protocol):
    """One collection, as a backend stores it; every listing is in insertion order."""

    def get_cached(self, key: str) -> bytes | None | Stale: ...
    async def get(self, key: str) -> bytes | None: ...
    async def get_many(self, keys: list[str]) -> dict[str, bytes]: ...
    async def contains(self, key: str) -> bool: ...
    async def keys(self) -> list[str]: ...
    async def count(self) -> int: ...
    def value_chunks(self) -> AsyncIterator[list[bytes]]: ...
    def item_chunks(self) -> AsyncIterator[list[tuple[str, bytes]]]: ...
    async def apply(self, mutation: Mutation) -> Any: ...


class Backend(Protocol):
    """A database: named collections, plus whole-database backup, restore and compaction."""

    location: str

    async def collection(self, name: str) -> CollectionBackend: ...
    async def drop(self, name: str) -> bool: ...
    async def names(self) -> list[str]: ...
    async def compact(self) -> list[str]: ...
    async def backup(self, target: Path) -> None: ...
    async def restore(self, source: Path) -> None: ...
    async def close(self) -> None: ...


URL_SCHEMES = ("postgresql", "postgres")


def open_backend(db_path: str | os.PathLike[str], options: Options) -> Backend:
    """The backend for ``db_path``: a ``postgresql://`` URL or a folder. Touches nothing yet."""
    location = os.fspath(db_path)
    if "://" in location:
        scheme = location.split("://", 1)[0]
        if scheme not in URL_SCHEMES:
            raise ConfigurationError("db_path", f"{scheme}:// is not supported; use postgresql://")
        from .postgres.backend import PostgresBackend

        return PostgresBackend(location, options)
    given = options.server_only()
    if given:
        raise ConfigurationError(given[0], "applies only to a postgresql:// database")
    from .file_backend import FileBackend

    return FileBackend(Path(location), options)

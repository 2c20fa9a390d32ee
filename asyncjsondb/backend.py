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

from .mutations import Mutation
from .options import Options


class CollectionBackend(Protocol):
    """One collection, as a backend stores it; every listing is in insertion order."""

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


def open_backend(db_path: str | os.PathLike[str], options: Options) -> Backend:
    """The backend for ``db_path``; touches nothing until first used."""
    from .file_backend import FileBackend

    return FileBackend(Path(db_path), options)

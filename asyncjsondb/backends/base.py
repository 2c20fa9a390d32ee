"""What the ``AsyncJSONDB`` and ``Collection`` layer needs from a storage backend, and the changes
it asks one to make.

Values cross this boundary as encoded JSON (``bytes``), so the layer above decodes a private copy
for every caller whatever the backend. A change is one of the frozen mutation values below: the
``Collection`` layer validates and encodes arguments into one, and each backend matches on it (the
file engine plans journal records from it, PostgreSQL runs SQL for it).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ..query import Node, Query


class Stale:
    """``get_cached``'s answer when only the (async) ``get`` can tell."""


STALE = Stale()


@dataclass(frozen=True)
class SetValue:
    key: str
    value_json: bytes


@dataclass(frozen=True)
class Delete:
    key: str


@dataclass(frozen=True)
class Clear:
    pass


@dataclass(frozen=True)
class Update:
    """Shallow-merge ``updates`` (a private, JSON-checked copy) into a stored object."""

    key: str
    updates: dict[str, Any]


@dataclass(frozen=True)
class Increment:
    key: str
    field: str
    amount: int | float


@dataclass(frozen=True)
class SetMany:
    items: tuple[tuple[str, bytes], ...]


@dataclass(frozen=True)
class DeleteMany:
    """Delete the distinct ``keys`` that exist (the caller removed duplicates)."""

    keys: tuple[str, ...]


Mutation = SetValue | Delete | Clear | Update | Increment | SetMany | DeleteMany


class CollectionBackend(Protocol):
    """One collection, as a backend stores it; every listing is in insertion order.

    ``known_to_exist`` answers without I/O; False sends ``get_collection`` to the backend again,
    which makes the collection anew if another object dropped it.
    """

    def known_to_exist(self) -> bool: ...
    def get_cached(self, key: str) -> bytes | None | Stale: ...
    async def get(self, key: str) -> bytes | None: ...
    async def get_many(self, keys: list[str]) -> dict[str, bytes]: ...
    async def contains(self, key: str) -> bool: ...
    async def keys(self) -> list[str]: ...
    async def count(self) -> int: ...
    def value_chunks(self) -> AsyncIterator[list[bytes]]: ...
    def item_chunks(self) -> AsyncIterator[list[tuple[str, bytes]]]: ...
    async def apply(self, mutation: Mutation) -> Any: ...

    # Queries answer with decoded values, private to the caller (they are decoded for it).
    async def query(self, query: Query) -> list[tuple[str, Any]]: ...
    async def count_matching(self, where: Node) -> int: ...
    async def explain(self, query: Query) -> dict[str, Any]: ...
    async def create_index(self, path: str, unique: bool) -> bool: ...
    async def drop_index(self, path: str) -> bool: ...
    async def list_indexes(self) -> list[dict[str, Any]]: ...


class Backend(Protocol):
    """A database: named collections, plus whole-database backup, restore and compaction."""

    location: str

    async def collection(self, name: str) -> CollectionBackend: ...
    async def drop(self, name: str) -> bool: ...
    async def names(self) -> list[str]: ...
    async def compact(self) -> list[str]: ...
    async def backup(self, target: Path) -> None: ...
    async def restore(self, source: Path, only: str | None = None) -> None: ...
    async def close(self) -> None: ...

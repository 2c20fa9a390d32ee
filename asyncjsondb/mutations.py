"""The changes a caller can ask for, as plain values that every storage backend understands.

The ``Collection`` layer validates and encodes arguments into these; each backend turns them into
its own form (journal plans for the files, SQL statements for PostgreSQL).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


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
    keys: tuple[str, ...]


Mutation = SetValue | Delete | Clear | Update | Increment | SetMany | DeleteMany

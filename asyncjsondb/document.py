"""``Document``: one record of a collection with ``_id`` and ``_updated`` kept for you."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .collection import Collection
from .errors import InvalidValueError
from .names import validate_key
from .utils import now


class Document:
    """The record ``doc_id`` of ``collection``; ``save`` and ``update_fields`` stamp metadata."""

    def __init__(self, collection: Collection, doc_id: str) -> None:
        self.collection = collection
        self.doc_id = validate_key(doc_id)

    def __repr__(self) -> str:
        return f"<Document {self.doc_id!r} in {self.collection.name!r}>"

    async def save(self, data: Mapping[str, Any]) -> bool:
        """Store ``data`` plus ``_id`` (the document id) and ``_updated`` (a Unix timestamp)."""
        if not isinstance(data, Mapping):
            raise InvalidValueError(
                f"a document is a mapping, not {type(data).__name__}", key=self.doc_id
            )
        return await self.collection.set(
            self.doc_id, {**data, "_id": self.doc_id, "_updated": now()}
        )

    async def load(self) -> dict[str, Any] | None:
        value = await self.collection.get(self.doc_id)
        return value if value is None or isinstance(value, dict) else {"value": value}

    async def delete(self) -> bool:
        return await self.collection.delete(self.doc_id)

    async def update_fields(self, updates: Mapping[str, Any]) -> bool:
        """Merge ``updates`` and refresh ``_updated``; False when the document does not exist."""
        if not isinstance(updates, Mapping):
            raise InvalidValueError(
                f"updates must be a mapping, not {type(updates).__name__}", key=self.doc_id
            )
        return await self.collection.update(self.doc_id, {**updates, "_updated": now()})

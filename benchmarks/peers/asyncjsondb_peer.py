"""AsyncJSONDB itself, in either durability mode."""

from __future__ import annotations

from collections.abc import Mapping
from itertools import islice
from pathlib import Path
from typing import Any

from asyncjsondb import AsyncJSONDB, Collection

from ..records import Record, key

COLLECTION = "bench"
_FILL_CHUNK = 50_000


def snapshot_path(folder: Path) -> Path:
    return folder / f"{COLLECTION}.json"


def journal_path(folder: Path) -> Path:
    return folder / f"{COLLECTION}.journal"


class AsyncJSONDBStore:
    def __init__(self, name: str = "asyncjsondb", **options: Any) -> None:
        self.name = name
        self.options = options
        self._db: AsyncJSONDB | None = None
        self._collection: Collection | None = None

    @property
    def collection(self) -> Collection:
        assert self._collection is not None, "open() first"
        return self._collection

    @property
    def database(self) -> AsyncJSONDB:
        assert self._db is not None, "open() first"
        return self._db

    def location(self, folder: Path) -> str | Path:
        """What ``AsyncJSONDB`` opens for ``folder``: the folder itself (a URL on a server)."""
        return folder

    async def open(self, folder: Path) -> None:
        self._db = AsyncJSONDB(self.location(folder), **self.options)
        self._collection = await self._db.get_collection(COLLECTION)

    async def fill(self, records: Mapping[int, Record]) -> None:
        """``set_many`` in chunks, then ``compact()``: timed writes start with an empty journal."""
        indexes = iter(records)
        while chunk := list(islice(indexes, _FILL_CHUNK)):
            await self.collection.set_many({key(index): records[index] for index in chunk})
        assert self._db is not None
        await self._db.compact()

    async def set(self, index: int, value: Record) -> None:
        await self.collection.set(key(index), value)

    def key_of(self, index: int) -> str:
        return key(index)

    async def get(self, record_key: str) -> Any:
        return await self.collection.get(record_key)

    async def find_age_over(self, age: int) -> list[Any]:
        return await self.collection.find(lambda value: value["age"] > age)

    async def increment(self, name: str) -> None:
        await self.collection.increment(name)

    async def counter(self, name: str) -> int:
        return int((await self.collection.get(name, {})).get("value", 0))

    async def close(self) -> None:
        if self._db is not None:
            await self._db.close()

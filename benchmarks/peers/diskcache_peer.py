"""diskcache's ``Cache``: SQLite in WAL mode with ``synchronous=NORMAL``, values pickled.

It has no query: ``find`` walks the keys and reads each value, the way its API allows.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import diskcache  # type: ignore[import-untyped]

from ..records import Record, key


class DiskcacheStore:
    name = "diskcache"

    def __init__(self) -> None:
        self._cache: diskcache.Cache | None = None

    @property
    def cache(self) -> diskcache.Cache:
        assert self._cache is not None, "open() first"
        return self._cache

    async def open(self, folder: Path) -> None:
        self._cache = diskcache.Cache(str(folder / "diskcache"))

    async def fill(self, records: Mapping[int, Record]) -> None:
        cache = self.cache
        with cache.transact():
            for index, value in records.items():
                cache.set(key(index), value)

    async def set(self, index: int, value: Record) -> None:
        self.cache.set(key(index), value)

    def key_of(self, index: int) -> str:
        return key(index)

    async def get(self, record_key: str) -> Any:
        return self.cache.get(record_key)

    async def find_age_over(self, age: int) -> list[Any]:
        cache = self.cache
        values = (cache.get(name) for name in cache.iterkeys())
        return [value for value in values if value is not None and value["age"] > age]

    async def increment(self, name: str) -> None:
        self.cache.incr(name)

    async def counter(self, name: str) -> int:
        return int(self.cache.get(name, 0))

    async def close(self) -> None:
        if self._cache is not None:
            self._cache.close()

"""TinyDB, with its plain ``JSONStorage`` (rewrites and fsyncs the file on every write) or behind
``CachingMiddleware`` (reads once, writes the file every 1000 writes and at close).

A set of a new key is ``insert(Document(value, doc_id=i))``: one read and one write of the file,
where ``upsert`` would cost two of each.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tinydb import TinyDB
from tinydb.middlewares import CachingMiddleware
from tinydb.storages import JSONStorage
from tinydb.table import Document, Table

from ..records import Record


class TinyDBStore:
    def __init__(self, cached: bool) -> None:
        self.name = "TinyDB+cache" if cached else "TinyDB"
        self.cached = cached
        self._db: TinyDB | None = None

    @property
    def table(self) -> Table:
        assert self._db is not None, "open() first"
        return self._db.table(self._db.default_table_name)

    async def open(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "tinydb.json"
        if self.cached:
            cache = CachingMiddleware(JSONStorage)  # type: ignore[no-untyped-call]
            self._db = TinyDB(path, storage=cache)
        else:
            self._db = TinyDB(path, storage=JSONStorage)

    async def fill(self, records: Mapping[int, Record]) -> None:
        assert self._db is not None
        documents = {str(index): value for index, value in records.items()}
        self._db.storage.write({self._db.default_table_name: documents})
        if isinstance(self._db.storage, CachingMiddleware):
            self._db.storage.flush()  # type: ignore[no-untyped-call]
        self.table.clear_cache()

    async def set(self, index: int, value: Record) -> None:
        self.table.insert(Document(value, doc_id=index))

    def key_of(self, index: int) -> int:
        return index  # TinyDB's own key: the document id

    async def get(self, doc_id: int) -> Any:
        return self.table.get(doc_id=doc_id)

    async def find_age_over(self, age: int) -> list[Any]:
        table = self.table
        table.clear_cache()  # the query cache would answer a repeated search without scanning
        return table.search(lambda value: value["age"] > age)

    async def close(self) -> None:
        if self._db is not None:
            self._db.close()

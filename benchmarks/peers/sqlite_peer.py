"""aiosqlite in WAL mode, a ``key -> JSON text`` table, one transaction per write (autocommit).

``synchronous=FULL`` fsyncs the WAL at every commit (durable, like ``durability='fsync'``);
``NORMAL`` only at checkpoints (survives a process crash, like ``'flush'``). Values are encoded
with orjson, and ``find`` filters in SQL with ``json_extract``: the fastest way SQLite offers.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import aiosqlite
import orjson

from ..records import Record, key


class SQLiteStore:
    def __init__(self, synchronous: str = "FULL", name: str | None = None) -> None:
        self.name = name or f"aiosqlite {synchronous}"
        self.synchronous = synchronous
        self._connection: aiosqlite.Connection | None = None

    @property
    def connection(self) -> aiosqlite.Connection:
        assert self._connection is not None, "open() first"
        return self._connection

    async def open(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self._connection = await aiosqlite.connect(folder / "bench.sqlite", isolation_level=None)
        await self.connection.execute("PRAGMA busy_timeout = 60000")
        await self.connection.execute("PRAGMA journal_mode = WAL")
        await self.connection.execute(f"PRAGMA synchronous = {self.synchronous}")
        await self.connection.execute(
            "CREATE TABLE IF NOT EXISTS kv (k TEXT PRIMARY KEY, v TEXT NOT NULL)"
        )

    async def fill(self, records: Mapping[int, Record]) -> None:
        rows = ((key(index), orjson.dumps(value).decode()) for index, value in records.items())
        await self.connection.execute("BEGIN")
        await self.connection.executemany("INSERT OR REPLACE INTO kv VALUES (?, ?)", rows)
        await self.connection.execute("COMMIT")

    async def set(self, index: int, value: Record) -> None:
        await self.connection.execute(
            "INSERT OR REPLACE INTO kv VALUES (?, ?)", (key(index), orjson.dumps(value).decode())
        )

    def key_of(self, index: int) -> str:
        return key(index)

    async def get(self, record_key: str) -> Any:
        rows = list(
            await self.connection.execute_fetchall("SELECT v FROM kv WHERE k = ?", (record_key,))
        )
        return orjson.loads(rows[0][0]) if rows else None

    async def find_age_over(self, age: int) -> list[Any]:
        rows = await self.connection.execute_fetchall(
            "SELECT v FROM kv WHERE json_extract(v, '$.age') > ?", (age,)
        )
        return [orjson.loads(row[0]) for row in rows]

    async def increment(self, name: str) -> None:
        """Read, add one, write back: one ``BEGIN IMMEDIATE`` transaction, like ``increment``."""
        connection = self.connection
        await connection.execute("BEGIN IMMEDIATE")
        try:
            rows = list(await connection.execute_fetchall("SELECT v FROM kv WHERE k = ?", (name,)))
            document = orjson.loads(rows[0][0]) if rows else {}
            document["value"] = document.get("value", 0) + 1
            await connection.execute(
                "INSERT OR REPLACE INTO kv VALUES (?, ?)", (name, orjson.dumps(document).decode())
            )
        except BaseException:
            await connection.execute("ROLLBACK")
            raise
        await connection.execute("COMMIT")

    async def counter(self, name: str) -> int:
        rows = list(await self.connection.execute_fetchall("SELECT v FROM kv WHERE k = ?", (name,)))
        return int(orjson.loads(rows[0][0])["value"]) if rows else 0

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.close()

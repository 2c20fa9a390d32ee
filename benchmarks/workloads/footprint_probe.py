"""Child process of the footprint workload: print the resident memory of one import or open.

Usage: ``python -m benchmarks.workloads.footprint_probe import asyncjsondb|aiosqlite FOLDER
BATCHES BATCH`` (``BATCHES`` bulk writes of ``BATCH`` new records each into an empty store), or
``... open asyncjsondb|aiosqlite FOLDER`` / ``... open orjson.loads|json.loads FILE`` (open the
store and get one record, or parse the file). Prints ``{"before", "after", "peak"}`` in bytes:
the RSS once everything is imported and the worker threads run, the RSS at the end (before the
store closes) and the process's peak RSS.
"""

from __future__ import annotations

import asyncio
import gc
import json
import resource
import shutil
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiosqlite
import orjson
import psutil  # type: ignore[import-untyped]

from asyncjsondb import AsyncJSONDB

from ..peers.asyncjsondb_peer import COLLECTION
from ..records import fresh, key

Measure = Callable[[Path, list[str]], Awaitable[dict[str, int]]]


def _rss() -> int:
    gc.collect()
    return int(psutil.Process().memory_info().rss)


def _peak() -> int:
    """This process image's highest RSS so far: ``VmHWM`` on Linux (``ru_maxrss`` there would
    carry the parent's peak across the ``exec``), ``ru_maxrss`` in bytes on macOS."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


async def _warm_asyncjsondb(beside: Path) -> None:
    """Open and close a database elsewhere, so its worker threads count in ``before``."""
    folder = Path(tempfile.mkdtemp(dir=beside.parent))
    try:
        async with AsyncJSONDB(folder) as database:
            await (await database.get_collection("warm")).set("k", 1)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


async def _import_asyncjsondb(folder: Path, arguments: list[str]) -> dict[str, int]:
    batches, batch = int(arguments[0]), int(arguments[1])
    await _warm_asyncjsondb(folder)
    before = _rss()
    async with AsyncJSONDB(folder) as database:
        collection = await database.get_collection(COLLECTION)
        for number in range(batches):
            chunk = {key(index): value for index, value in fresh(number * batch, batch)}
            await collection.set_many(chunk)
            del chunk
        return {"before": before, "after": _rss(), "peak": _peak()}


async def _connect(folder: Path) -> aiosqlite.Connection:
    connection = await aiosqlite.connect(folder / "bench.sqlite", isolation_level=None)
    await connection.execute("PRAGMA journal_mode = WAL")
    await connection.execute("PRAGMA synchronous = FULL")
    return connection


async def _import_aiosqlite(folder: Path, arguments: list[str]) -> dict[str, int]:
    batches, batch = int(arguments[0]), int(arguments[1])
    folder.mkdir(parents=True, exist_ok=True)
    await (await aiosqlite.connect(":memory:")).close()  # its thread machinery, imported
    before = _rss()
    connection = await _connect(folder)
    try:
        await connection.execute("CREATE TABLE kv (k TEXT PRIMARY KEY, v TEXT NOT NULL)")
        for number in range(batches):
            rows = [
                (key(i), orjson.dumps(value).decode()) for i, value in fresh(number * batch, batch)
            ]
            await connection.execute("BEGIN")
            await connection.executemany("INSERT OR REPLACE INTO kv VALUES (?, ?)", rows)
            await connection.execute("COMMIT")
            del rows
        return {"before": before, "after": _rss(), "peak": _peak()}
    finally:
        await connection.close()


async def _open_asyncjsondb(folder: Path, arguments: list[str]) -> dict[str, int]:
    await _warm_asyncjsondb(folder)
    before = _rss()
    async with AsyncJSONDB(folder) as database:
        collection = await database.get_collection(COLLECTION)
        if await collection.get(key(0)) is None:
            raise RuntimeError(f"{key(0)} missing from {folder}")
        return {"before": before, "after": _rss(), "peak": _peak()}


async def _open_aiosqlite(folder: Path, arguments: list[str]) -> dict[str, int]:
    await (await aiosqlite.connect(":memory:")).close()
    before = _rss()
    connection = await _connect(folder)
    try:
        rows = list(await connection.execute_fetchall("SELECT v FROM kv WHERE k = ?", (key(0),)))
        if not rows:
            raise RuntimeError(f"{key(0)} missing from {folder}")
        return {"before": before, "after": _rss(), "peak": _peak()}
    finally:
        await connection.close()


def _parser(loads: Callable[[bytes], Any]) -> Measure:
    async def parse(path: Path, arguments: list[str]) -> dict[str, int]:
        before = _rss()
        data = loads(path.read_bytes())
        after = _rss()
        del data
        return {"before": before, "after": after, "peak": _peak()}

    return parse


PROBES: dict[tuple[str, str], Measure] = {
    ("import", "asyncjsondb"): _import_asyncjsondb,
    ("import", "aiosqlite"): _import_aiosqlite,
    ("open", "asyncjsondb"): _open_asyncjsondb,
    ("open", "aiosqlite"): _open_aiosqlite,
    ("open", "orjson.loads"): _parser(orjson.loads),
    ("open", "json.loads"): _parser(json.loads),
}


def main(action: str, system: str, path: Path, arguments: list[str]) -> None:
    print(json.dumps(asyncio.run(PROBES[action, system](path, arguments))))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], Path(sys.argv[3]), sys.argv[4:])

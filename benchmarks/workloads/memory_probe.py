"""Child process of the memory workload: print the RSS that loading one collection adds.

Usage: ``python -m benchmarks.workloads.memory_probe asyncjsondb|orjson.loads|TinyDB+cache PATH``
(PATH is the database folder for asyncjsondb, the JSON file otherwise).
"""

from __future__ import annotations

import asyncio
import gc
import json
import sys
from collections.abc import Callable
from pathlib import Path

import orjson
import psutil  # type: ignore[import-untyped]
from tinydb import TinyDB
from tinydb.middlewares import CachingMiddleware
from tinydb.storages import JSONStorage

from asyncjsondb import AsyncJSONDB
from asyncjsondb.bridge import run_blocking

from ..peers.asyncjsondb_peer import COLLECTION
from ..records import key


def _rss() -> int:
    gc.collect()
    return int(psutil.Process().memory_info().rss)


async def _asyncjsondb(folder: Path) -> tuple[int, int]:
    await run_blocking(gc.collect)  # start the thread pool before the first measurement
    before = _rss()
    async with AsyncJSONDB(folder) as database:
        collection = await database.get_collection(COLLECTION)
        await collection.get(key(0))
        return before, _rss()


def _orjson(path: Path) -> tuple[int, int]:
    before = _rss()
    data = orjson.loads(path.read_bytes())
    after = _rss()
    del data
    return before, after


def _tinydb(path: Path) -> tuple[int, int]:
    before = _rss()
    cache = CachingMiddleware(JSONStorage)  # type: ignore[no-untyped-call]
    database = TinyDB(path, storage=cache)
    database.get(doc_id=1)
    after = _rss()
    database.close()
    return before, after


PROBES: dict[str, Callable[[Path], tuple[int, int]]] = {
    "asyncjsondb": lambda path: asyncio.run(_asyncjsondb(path)),
    "orjson.loads": _orjson,
    "TinyDB+cache": _tinydb,
}


def main(system: str, path: Path) -> None:
    before, after = PROBES[system](path)
    print(json.dumps({"system": system, "added": after - before}))


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]))

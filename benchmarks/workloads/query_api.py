"""Queries and indexes through the public API, on the files and on PostgreSQL (issue 13's table).

- files, ``--records`` records: ``find_one`` by a unique indexed email; a range of 100 sorted by
  an indexed age; the memory both indexes hold;
- files, ``--scan`` records: an unindexed ``find(where=...)`` beside ``find(lambda)`` and beside
  TinyDB+cache (``CachingMiddleware``) ``search(Query()...)`` over the same records;
- files: ``set`` into a collection with 2 indexes beside one without (``durability="flush"``,
  so that the fsync, the same for both, does not hide the index upkeep);
- PostgreSQL, ``--pg-records`` records: ``find_one`` by the indexed email beside raw asyncpg
  running the same lookup over the same expression index.

Run: ``python -m benchmarks.workloads.query_api [--records 1000000] [--scan 100000]
[--parts indexed,scan,writes,postgres]``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from asyncjsondb import AsyncJSONDB, Collection

from ..records import dataset, key

WHERE = {"age": {"$gt": 50}, "active": True, "tags": "premium"}
POSTGRES_URL = os.environ.get(
    "ASYNCJSONDB_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1/test"
)


async def median_of(calls: list[Callable[[], Awaitable[Any]]]) -> float:
    times = []
    for call in calls:
        start = time.perf_counter()
        await call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def people(count: int, seed: int = 5) -> dict[str, Any]:
    rng = random.Random(seed)
    return {
        key(n): {"email": f"user{n}@example.com", "age": rng.randint(18, 90), "n": n}
        for n in range(count)
    }


async def fill(collection: Collection, records: dict[str, Any]) -> None:
    items = list(records.items())
    for start in range(0, len(items), 50_000):
        await collection.set_many(items[start : start + 50_000])


async def indexed(folder: Path, count: int) -> None:
    records = people(count)
    async with AsyncJSONDB(folder / "indexed", durability="flush") as db:
        users = await db.get_collection("users")
        await fill(users, records)
        start = time.perf_counter()
        await users.create_index("email", unique=True)
        await users.create_index("age")
        built = time.perf_counter() - start
        rng = random.Random(7)
        emails = [f"user{rng.randrange(count)}@example.com" for _ in range(2000)]
        one = await median_of([lambda e=e: users.find_one({"email": e}) for e in emails])
        lows = [rng.randint(18, 80) for _ in range(200)]
        ranged = await median_of(
            [
                lambda low=low: users.find(where={"age": {"$gte": low}}, sort="age", limit=100)
                for low in lows
            ]
        )
        store = users._backend._store  # type: ignore[attr-defined]  # noqa: SLF001
        memory = store.catalog.current(store.data).memory()
    print(f"files, {count} records (both indexes built in {built:.1f} s):")
    print(f"  find_one by unique email        {one * 1e3:8.3f} ms median")
    print(f"  range of 100 sorted by age      {ranged * 1e3:8.3f} ms median")
    print(f"  memory of both indexes          {memory / 1e6:8.0f} MB (email unique, age 73 values)")


async def scan(folder: Path, count: int, rounds: int) -> None:
    from tinydb import Query, TinyDB
    from tinydb.middlewares import CachingMiddleware
    from tinydb.storages import JSONStorage

    records = {key(n): record for n, record in dataset(count).items()}
    async with AsyncJSONDB(folder / "scan", durability="flush") as db:
        users = await db.get_collection("users")
        await fill(users, records)

        def adult_premium(v: Any) -> bool:
            return bool(v["age"] > 50 and v["active"] is True and "premium" in v["tags"])

        ours = await median_of([lambda: users.find(where=WHERE)] * rounds)
        lam = await median_of([lambda: users.find(adult_premium)] * rounds)
        found = len(await users.find(where=WHERE))
        assert found == len(await users.find(adult_premium))
    tiny_path = folder / "tiny.json"
    tiny = TinyDB(tiny_path, storage=CachingMiddleware(JSONStorage))
    table = tiny.table("users")
    table.insert_multiple(records.values())
    user = Query()
    condition = (user.age > 50) & (user.active == True) & user.tags.any(["premium"])  # noqa: E712

    def tiny_search() -> list[Any]:
        table.clear_cache()  # else a repeated search is answered from its query cache
        return table.search(condition)

    times = []
    for _ in range(rounds):
        gc.collect()
        start = time.perf_counter()
        assert len(tiny_search()) == found
        times.append(time.perf_counter() - start)
    tiny.close()
    tinydb = statistics.median(times)
    print(f"unindexed where over {count} records ({found} matches), median of {rounds}:")
    print(f"  find(where=...)                 {ours * 1e3:8.1f} ms")
    print(f"  find(lambda)                    {lam * 1e3:8.1f} ms   {lam / ours:5.2f}x ours")
    print(f"  TinyDB+cache search(Query())    {tinydb * 1e3:8.1f} ms   {tinydb / ours:5.2f}x ours")


async def writes(folder: Path, count: int, sets: int) -> None:
    rates = {}
    for indexes in ([], ["email", "age"]):
        async with AsyncJSONDB(folder / f"writes{len(indexes)}", durability="flush") as db:
            users = await db.get_collection("users")
            records = people(count)
            await fill(users, records)
            for path in indexes:
                await users.create_index(path, unique=path == "email")
            rng = random.Random(3)
            changes = [(key(rng.randrange(count)), rng.randint(18, 90)) for _ in range(sets)]
            start = time.perf_counter()
            for k, age in changes:
                await users.set(k, {**records[k], "age": age})
            rates[len(indexes)] = sets / (time.perf_counter() - start)
    print(f"set into {count} records, {sets} sets one after another (durability='flush'):")
    print(f"  no index                        {rates[0]:8.0f} sets/s")
    print(f"  2 indexes (one unique)          {rates[2]:8.0f} sets/s   {rates[2] / rates[0]:.2f}x")


async def postgres(count: int) -> None:
    import asyncpg  # type: ignore[import-untyped]

    schema = f"bench_{uuid.uuid4().hex[:12]}"
    records = people(count)
    try:
        async with AsyncJSONDB(POSTGRES_URL, schema=schema) as db:
            users = await db.get_collection("users")
            await fill(users, records)
            await users.create_index("email", unique=True)
            connection = await asyncpg.connect(POSTGRES_URL)
            await connection.execute(f'ANALYZE "{schema}".asyncjsondb_records')
            collection_id = await connection.fetchval(
                f'SELECT id FROM "{schema}".asyncjsondb_collections WHERE name = $1', "users"
            )
            raw = (
                f'SELECT key, value FROM "{schema}".asyncjsondb_records '
                f"WHERE collection_id = {collection_id} "
                "AND (value::jsonb) -> 'email' = $1::jsonb LIMIT 1"
            )
            rng = random.Random(7)
            emails = [f"user{rng.randrange(count)}@example.com" for _ in range(1000)]
            ours = await median_of([lambda e=e: users.find_one({"email": e}) for e in emails])
            theirs = await median_of(
                [lambda e=e: connection.fetchrow(raw, json.dumps(e)) for e in emails]
            )
            await connection.close()
    finally:
        connection = await asyncpg.connect(POSTGRES_URL)
        await connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await connection.close()
    print(f"PostgreSQL, {count} records, find_one by unique email, median:")
    print(f"  asyncjsondb                     {ours * 1e3:8.3f} ms")
    print(f"  raw asyncpg, same index         {theirs * 1e3:8.3f} ms   ours {ours / theirs:.2f}x")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--scan", type=int, default=100_000)
    parser.add_argument("--writes", type=int, default=20_000)
    parser.add_argument("--pg-records", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--parts", default="indexed,scan,writes,postgres", help="which parts, comma-separated"
    )
    options = parser.parse_args()
    parts = options.parts.split(",")
    with tempfile.TemporaryDirectory() as temp:
        folder = Path(temp)
        if "indexed" in parts:
            await indexed(folder, options.records)
        if "scan" in parts:
            await scan(folder, options.scan, options.rounds)
        if "writes" in parts:
            await writes(folder, options.scan, options.writes)
    if "postgres" in parts:
        await postgres(options.pg_records)


if __name__ == "__main__":
    asyncio.run(main())

"""``get`` on PostgreSQL: AsyncJSONDB on the caller's own loop and through the hop, against a raw
asyncpg connection and a raw asyncpg pool running the same statement, in one run.

    python -m benchmarks.postgres_get [--postgres-url URL] [--ops 3000] [--rounds 5]

Every system reads the same key of the same table with the same SQL. The times are each system's
median round (a mean per call), the systems taking turns in every round so that a noisy moment of
a shared machine falls on all alike. Each ratio is against the raw connection; a second raw
connection's ratio (A/A) shows how noisy the machine was. The "at once" rows gather 16 gets at a
time. The schema is made for the run and dropped after.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # python benchmarks/postgres_get.py
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import asyncpg  # type: ignore[import-untyped]

from asyncjsondb import AsyncJSONDB
from asyncjsondb.backends.postgres import pools

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"
CONCURRENT = 16
Get = Callable[[], Awaitable[Any]]


async def one_round(get: Get, ops: int, together: int) -> float:
    """Seconds per call over ``ops`` calls, ``together`` gathered at a time."""
    started = time.perf_counter()
    for _ in range(ops // together):
        if together == 1:
            await get()
        else:
            await asyncio.gather(*(get() for _ in range(together)))
    return (time.perf_counter() - started) / (ops // together * together)


async def per_call(
    systems: list[tuple[str, Get]], ops: int, rounds: int, together: int
) -> list[float]:
    """Each system's median round; the systems take turns in every round (each round starting
    with the next), so a noisy moment of a shared machine falls on all of them alike. The first
    round only warms up."""
    times: list[list[float]] = [[] for _ in systems]
    for round_number in range(rounds + 1):
        for turn in range(len(systems)):  # each round starts with the next system
            which = (round_number + turn) % len(systems)
            result = await one_round(systems[which][1], ops, together)
            if round_number:
                times[which].append(result)
    return [statistics.median(seconds) for seconds in times]


async def measure(url: str, ops: int, rounds: int) -> list[tuple[str, float, float]]:
    schema = f"bench_get_{uuid.uuid4().hex[:8]}"
    direct_loops = pools.DIRECT_LOOPS
    own_db = AsyncJSONDB(url, schema=schema)
    hop_db = AsyncJSONDB(url, schema=schema, pool_size=9)  # a group of its own: it hops
    connection, again = await asyncpg.connect(url), await asyncpg.connect(url)
    pool = await asyncpg.create_pool(url, min_size=1, max_size=10)
    try:
        own = await own_db.get_collection("users")
        await own.set("user1", {"name": "Ada", "email": "ada@example.com", "age": 36})
        records, collections = (
            f'"{schema}".asyncjsondb_records',
            f'"{schema}".asyncjsondb_collections',
        )
        query = f"SELECT r.value FROM {records} r WHERE r.collection_id = "
        query += f"(SELECT id FROM {collections} WHERE name = $1) AND r.key = $2"
        pools.DIRECT_LOOPS = 0  # hop_db's loop earns no pool of its own
        hop = await hop_db.get_collection("users")
        systems: list[tuple[str, Get]] = [
            ("raw asyncpg connection", lambda: connection.fetchval(query, "users", "user1")),
            (
                "raw asyncpg connection again (A/A: noise)",
                lambda: again.fetchval(query, "users", "user1"),
            ),
            ("raw asyncpg pool", lambda: pool.fetchval(query, "users", "user1")),
            ("asyncjsondb get, own loop", lambda: own.get("user1")),
            ("asyncjsondb get, hop", lambda: hop.get("user1")),
        ]
        rows = []
        for together in (1, CONCURRENT):
            # one connection runs one statement at a time: the raw connection only in sequence
            taking = systems if together == 1 else systems[2:]
            suffix = "" if together == 1 else f", {together} at once"
            for (name, _), seconds in zip(
                taking, await per_call(taking, ops, rounds, together), strict=True
            ):
                rows.append((name + suffix, seconds, 0.0))
        base = rows[0][1]
        return [(name, seconds, seconds / base) for name, seconds, _ in rows]
    finally:
        pools.DIRECT_LOOPS = direct_loops
        await own_db.close()
        await hop_db.close()
        await connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await connection.close()
        await again.close()
        await pool.close()


def table(rows: list[tuple[str, float, float]]) -> str:
    lines = [f"{'system':44} {'ms per get':>11} {'vs raw connection':>18}"]
    lines += [f"{name:44} {seconds * 1e3:11.4f} {ratio:17.2f}x" for name, seconds, ratio in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--postgres-url", default=DEFAULT_URL)
    parser.add_argument("--ops", type=int, default=3000, help="gets per round")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    print(table(asyncio.run(measure(args.postgres_url, args.ops, args.rounds))))


if __name__ == "__main__":
    main()

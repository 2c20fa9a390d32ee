"""The query language and the indexes, measured without a storage engine around them.

- scan: the compiled ``where`` matcher over 100k decoded records, beside TinyDB's ``Query`` on
  the same dicts, TinyDB's ``search`` over an in-memory table (what TinyDB+cache does), and a
  plain lambda; decoding the records, which a real scan adds to each, is left out of all four.
- indexes on 1M records: equality ``find_one`` through a unique index, a range of 100 sorted by
  its index, the cost an index adds to a write, and the memory an index holds.

Run: ``python -m benchmarks.workloads.query [--records 1000000] [--scan 100000]``.
Figures are medians of ``--rounds`` rounds; ratios compare systems measured in the same run.
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import time
from collections.abc import Callable
from typing import Any

from asyncjsondb.backends.files.indexes import IndexSet
from asyncjsondb.backends.files.planner import run
from asyncjsondb.paths import MISSING
from asyncjsondb.query import Query, compile_where

from ..records import dataset, key

WHERE = {"age": {"$gt": 50}, "active": True, "tags": "premium"}


def median_seconds(work: Callable[[], Any], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        gc.collect()
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def scan(count: int, rounds: int) -> None:
    from tinydb import Query as TinyQuery
    from tinydb import TinyDB
    from tinydb.storages import MemoryStorage

    items = [(key(n), record) for n, record in dataset(count).items()]
    values = [value for _, value in items]
    matcher = compile_where(WHERE)
    user = TinyQuery()
    tiny = (user.age > 50) & (user.active == True) & user.tags.any(["premium"])  # noqa: E712
    table = TinyDB(storage=MemoryStorage).table("users")
    table.insert_multiple(values)

    def tinydb_search() -> list[Any]:
        table.clear_cache()  # else a repeated search is answered from its query cache
        return table.search(tiny)

    systems: dict[str, Callable[[], list[Any]]] = {
        "asyncjsondb where": lambda: [v for k, v in items if matcher(k, v)],
        "tinydb Query": lambda: [v for v in values if tiny(v)],
        "tinydb search (memory)": tinydb_search,
        "lambda": lambda: [
            v for v in values if v["age"] > 50 and v["active"] is True and "premium" in v["tags"]
        ],
    }
    found = {name: len(work()) for name, work in systems.items()}
    assert len(set(found.values())) == 1, found
    base = median_seconds(systems["asyncjsondb where"], rounds)
    print(f"scan of {count} records, {found['lambda']} matches, median of {rounds}:")
    for name, work in systems.items():
        seconds = base if name == "asyncjsondb where" else median_seconds(work, rounds)
        print(f"  {name:24} {seconds * 1000:8.1f} ms   {seconds / base:5.2f}x ours")


def indexes(count: int, rounds: int) -> None:
    rng = random.Random(5)
    records = {
        key(n): {"email": f"user{n}@example.com", "age": rng.randint(18, 90), "n": n}
        for n in range(count)
    }
    gc.collect()
    start = time.perf_counter()
    index_set = IndexSet()
    index_set.create("email", records.items(), unique=True)
    index_set.create("age", records.items())
    built = time.perf_counter() - start
    email, age = index_set.indexes["email"], index_set.indexes["age"]
    print(f"indexes on {count} records (built both in {built:.1f} s):")
    print(
        f"  memory: order {_mb(index_set.memory() - email.memory() - age.memory())}, "
        f"unique email {_mb(email.memory())}, age (73 values) {_mb(age.memory())}"
    )

    def get(k: str) -> Any:
        return records.get(k, MISSING)

    probes = [f"user{rng.randrange(count)}@example.com" for _ in range(2000)]
    lookups = [Query.parse({"email": probe}, limit=1) for probe in probes]
    times = []
    for query in lookups:
        start = time.perf_counter()
        found = run(query, index_set, records.items, get)
        times.append(time.perf_counter() - start)
        assert len(found) == 1
    print(f"  find_one by unique email: median {statistics.median(times) * 1e6:.1f} us")

    ranges = [
        Query.parse({"age": {"$gte": rng.randint(18, 80)}}, sort="age", limit=100)
        for _ in range(200)
    ]
    times = []
    for query in ranges:
        start = time.perf_counter()
        found = run(query, index_set, records.items, get)
        times.append(time.perf_counter() - start)
        assert len(found) == 100
    print(f"  range of 100 sorted by age: median {statistics.median(times) * 1e3:.2f} ms")

    writes = [(key(rng.randrange(count)), rng.randint(18, 90)) for _ in range(100_000)]

    def maintain() -> None:
        for k, new_age in writes:
            old = records[k]
            new = {"email": old["email"], "age": new_age, "n": old["n"]}
            index_set.apply(k, old, new)
            records[k] = new

    seconds = median_seconds(maintain, rounds)
    print(f"  keeping both indexes current: {seconds / len(writes) * 1e6:.2f} us per write")


def _mb(size: int) -> str:
    return f"{size / 1e6:.0f} MB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scan", type=int, default=100_000)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=5)
    options = parser.parse_args()
    scan(options.scan, options.rounds)
    indexes(options.records, options.rounds)


if __name__ == "__main__":
    main()

"""Guarantees 1 and 2: no update is lost across tasks, threads with their own loops, successive
loops, processes, and several database objects on one folder; reads honour ``cache_ttl``.

Everything runs on real files; "processes" are real OS processes (``multiprocessing`` 'spawn',
and 'fork' after the parent used the database).
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from asyncjsondb import AsyncJSONDB
from tests import proc_workers
from tests.proc_workers import JOIN_TIMEOUT, SPAWN, Peer, in_fresh_process, read_all


def _json_file(db_path: Path, name: str = "c") -> Any:
    with open(db_path / f"{name}.json", encoding="utf-8") as stream:
        return json.load(stream)


def _in_threads(count: int, work: Callable[[int], None]) -> list[BaseException]:
    """Run ``work(i)`` in ``count`` OS threads at once; return what they raised."""
    errors: list[BaseException] = []
    start = threading.Barrier(count)

    def run(index: int) -> None:
        try:
            start.wait()
            work(index)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(JOIN_TIMEOUT)
    assert not [t for t in threads if t.is_alive()], "a thread hung"
    return errors


async def _total_after_close(db_path: Path) -> Any:
    async with AsyncJSONDB(db_path, cache_ttl=0) as db:
        return await (await db.get_collection("c")).get("counter")


# -- tasks, threads and loops in one process --------------------------------------------------


@pytest.mark.timeout(60)
async def test_concurrent_increments_in_one_loop_give_exactly_n(
    db_path: Path, durability: str
) -> None:
    async with AsyncJSONDB(db_path, durability=durability) as db:
        c = await db.get_collection("c")
        returned = await asyncio.gather(*(c.increment("counter") for _ in range(300)))
        assert sorted(returned) == list(range(1, 301))  # each saw a distinct state
        assert await c.get("counter") == {"value": 300}
    assert _json_file(db_path) == {"counter": {"value": 300}}


THREADS, LOOPS, PER_LOOP = 4, 3, 25


@pytest.mark.timeout(60)
def test_threads_with_their_own_loops_share_one_db_object(db_path: Path, durability: str) -> None:
    """Django under WSGI: each request is a new thread and a new loop, the db object is global."""
    db = AsyncJSONDB(db_path, durability=durability)
    returned: list[int] = []

    async def request() -> list[int]:
        c = await db.get_collection("c")
        return list(await asyncio.gather(*(c.increment("counter") for _ in range(PER_LOOP))))

    def thread(index: int) -> None:
        for _ in range(LOOPS):
            returned.extend(asyncio.run(request()))

    assert _in_threads(THREADS, thread) == []
    total = THREADS * LOOPS * PER_LOOP
    assert sorted(returned) == list(range(1, total + 1))
    asyncio.run(db.close())
    assert _json_file(db_path) == {"counter": {"value": total}}
    assert not (db_path / "c.journal").exists()


@pytest.mark.timeout(60)
def test_threads_with_their_own_loops_and_own_db_objects(db_path: Path, durability: str) -> None:
    """A database object per request, opened and closed while other threads keep writing."""
    returned: list[int] = []

    async def request() -> list[int]:
        async with AsyncJSONDB(db_path, durability=durability) as db:
            c = await db.get_collection("c")
            return list(await asyncio.gather(*(c.increment("counter") for _ in range(PER_LOOP))))

    def thread(index: int) -> None:
        for _ in range(LOOPS):
            returned.extend(asyncio.run(request()))

    assert _in_threads(THREADS, thread) == []
    total = THREADS * LOOPS * PER_LOOP
    assert sorted(returned) == list(range(1, total + 1))
    assert asyncio.run(_total_after_close(db_path)) == {"value": total}
    assert _json_file(db_path) == {"counter": {"value": total}}
    assert not (db_path / "c.journal").exists()


@pytest.mark.timeout(60)
def test_asyncio_run_twice_on_one_db_object(db_path: Path, durability: str) -> None:
    db = AsyncJSONDB(db_path, durability=durability)
    collection: list[Any] = []

    async def first() -> list[int]:
        collection.append(await db.get_collection("c"))
        return list(await asyncio.gather(*(collection[0].increment("counter") for _ in range(50))))

    async def second() -> list[int]:
        c = collection[0]  # made on a loop that is closed now
        assert await c.get("counter") == {"value": 50}
        again = await db.get_collection("c")
        more = [again.increment("counter") for _ in range(25)]
        return list(await asyncio.gather(*more, *(c.increment("counter") for _ in range(25))))

    returned = asyncio.run(first()) + asyncio.run(second())
    assert sorted(returned) == list(range(1, 101))
    asyncio.run(db.close())
    assert _json_file(db_path) == {"counter": {"value": 100}}


async def test_two_db_objects_on_one_path_see_each_others_writes_at_once(
    db_path: Path, durability: str
) -> None:
    one = AsyncJSONDB(db_path, durability=durability, cache_ttl=3600)
    two = AsyncJSONDB(db_path, durability=durability, cache_ttl=3600)
    a, b = await one.get_collection("c"), await two.get_collection("c")
    assert await b.get("k") is None  # both caches are warm and would stay so for an hour
    await a.set("k", {"from": "one"})
    assert await b.get("k") == {"from": "one"}
    assert await b.update("k", {"by": "two"})
    assert await a.get("k") == {"from": "one", "by": "two"}
    assert await b.delete("k")
    assert not await a.exists("k")
    returned = await asyncio.gather(*(x.increment("counter") for _ in range(50) for x in (a, b)))
    assert sorted(returned) == list(range(1, 101))
    assert await a.get("counter") == await b.get("counter") == {"value": 100}
    await one.close()
    assert await b.get("counter") == {"value": 100}  # still open through the other object
    await two.close()
    assert _json_file(db_path) == {"counter": {"value": 100}}


# -- processes --------------------------------------------------------------------------------

PROCESSES, PER_PROCESS = 4, 200


@pytest.mark.timeout(90)
def test_four_spawned_processes_increment_one_key_exactly(db_path: Path, durability: str) -> None:
    barrier, results = SPAWN.Barrier(PROCESSES), SPAWN.Queue()
    workers = [
        SPAWN.Process(
            target=proc_workers.increment,
            args=(str(db_path), durability, PER_PROCESS, barrier, results),
        )
        for _ in range(PROCESSES)
    ]
    for worker in workers:
        worker.start()
    returned = [n for _ in workers for n in results.get(timeout=JOIN_TIMEOUT)]
    for worker in workers:
        worker.join(JOIN_TIMEOUT)
        assert worker.exitcode == 0
    total = PROCESSES * PER_PROCESS
    assert sorted(returned) == list(range(1, total + 1))  # no two increments saw the same state
    assert in_fresh_process(read_all, str(db_path), "c") == {"counter": {"value": total}}
    assert _json_file(db_path) == {"counter": {"value": total}}
    assert not (db_path / "c.journal").exists()


def _forked_increments(db: AsyncJSONDB, own_object: bool, results: Any) -> None:
    async def work() -> list[int]:
        user = AsyncJSONDB(db.db_path, durability="flush") if own_object else db
        try:
            c = await user.get_collection("c")
            return list(await asyncio.gather(*(c.increment("counter") for _ in range(PER_PROCESS))))
        finally:
            await user.close()

    results.put(asyncio.run(work()))


@pytest.mark.timeout(60)
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_forked_processes_after_the_parent_used_the_db(db_path: Path, durability: str) -> None:
    """Children inherit the parent's open descriptors, locks, pool and loaded stores."""
    fork = multiprocessing.get_context("fork")
    db = AsyncJSONDB(db_path, durability=durability, cache_ttl=0)

    async def warm_up() -> None:
        c = await db.get_collection("c")
        await asyncio.gather(*(c.increment("counter") for _ in range(10)))
        await c.set("other", 1)

    asyncio.run(warm_up())
    results = fork.Queue()
    children = [
        fork.Process(target=_forked_increments, args=(db, i % 2 == 1, results))
        for i in range(PROCESSES)
    ]
    for child in children:
        child.start()
    returned = [n for _ in children for n in results.get(timeout=JOIN_TIMEOUT)]
    for child in children:
        child.join(JOIN_TIMEOUT)
        assert child.exitcode == 0
    total = 10 + PROCESSES * PER_PROCESS
    assert sorted(returned) == list(range(11, total + 1))

    async def after() -> None:
        c = await db.get_collection("c")
        assert await c.get("counter") == {"value": total}
        assert await c.increment("counter") == total + 1
        await db.close()

    asyncio.run(after())
    assert _json_file(db_path) == {"counter": {"value": total + 1}, "other": 1}


@pytest.mark.timeout(60)
async def test_cache_ttl_zero_sees_another_process_write_at_the_next_read(
    db_path: Path, durability: str
) -> None:
    async with AsyncJSONDB(db_path, durability=durability, cache_ttl=0) as db:
        c = await db.get_collection("c")
        assert await c.get("k") is None
        peer = Peer(str(db_path), durability=durability)
        try:
            peer.call("c", "set", "k", 1)  # appended to the journal
            assert await c.get("k") == 1
            peer.call("c", "set_many", {"k": 2, "j": 3})
            assert await c.items() == [("k", 2), ("j", 3)]
            peer.call("c", "delete", "j")
            assert await c.keys() == ["k"]
        finally:
            peer.close()  # folds the journal into a new c.json
        assert await c.get("k") == 2
        assert await c.count() == 1
        crashed = Peer(str(db_path), durability=durability)
        crashed.call("c", "increment", "k2")
        crashed.vanish()  # leaves its journal behind, never closed
        assert await c.get("k2") == {"value": 1}


@pytest.mark.timeout(60)
async def test_a_long_cache_ttl_may_be_stale_but_never_for_own_writes(
    db_path: Path, durability: str
) -> None:
    async with AsyncJSONDB(db_path, durability=durability, cache_ttl=3600) as db:
        c = await db.get_collection("c")
        await c.set("theirs", "old")
        peer = Peer(str(db_path), durability=durability, cache_ttl=0)
        try:
            peer.call("c", "set", "theirs", "new")
            assert await c.get("theirs") in ("old", "new")  # allowed to be stale for an hour
            await c.set("mine", 1)
            assert await c.get("mine") == 1
            assert await c.increment("mine_too") == 1
            assert await c.get("mine_too") == {"value": 1}
            # A write catches up with the files first, so the other write is not overwritten.
            assert peer.call("c", "get", "mine") == 1
            assert await c.get("theirs") == "new"
        finally:
            peer.close()


@pytest.mark.timeout(60)
async def test_a_short_cache_ttl_bounds_staleness(db_path: Path, durability: str) -> None:
    ttl = 0.2
    async with AsyncJSONDB(db_path, durability=durability, cache_ttl=ttl) as db:
        c = await db.get_collection("c")
        assert await c.get("k") is None
        peer = Peer(str(db_path), durability=durability)
        try:
            peer.call("c", "set", "k", "new")
            written = time.monotonic()
            while time.monotonic() - written <= ttl:
                await asyncio.sleep(ttl / 4)
            assert await c.get("k") == "new"
        finally:
            peer.close()


MIXERS, MIX_STEPS = 3, 120


@pytest.mark.timeout(90)
def test_increments_mixed_with_set_delete_update_across_processes(
    db_path: Path, durability: str
) -> None:
    async def prepare() -> None:
        async with AsyncJSONDB(db_path, durability=durability) as db:
            c = await db.get_collection("c")
            await c.set_many({"doc": {}, "bare": 0})

    asyncio.run(prepare())
    barrier, results = SPAWN.Barrier(MIXERS), SPAWN.Queue()
    workers = [
        SPAWN.Process(
            target=proc_workers.mixed,
            args=(str(db_path), durability, i, MIX_STEPS, barrier, results),
        )
        for i in range(MIXERS)
    ]
    for worker in workers:
        worker.start()
    reports = [results.get(timeout=JOIN_TIMEOUT) for _ in workers]
    for worker in workers:
        worker.join(JOIN_TIMEOUT)
        assert worker.exitcode == 0
    stored = in_fresh_process(read_all, str(db_path), "c")
    assert stored == _json_file(db_path)
    shared = {f"p{r['index']}": r["bumps"]["shared"] for r in reports if r["bumps"]["shared"]}
    if shared:
        shared["total"] = sum(shared.values())
    assert stored.get("shared", {}) == shared
    assert stored["bare"] == sum(r["bumps"]["bare"] for r in reports)
    own = {k: v for r in reports for k, v in r["own"].items()}
    assert {k: v for k, v in stored.items() if k.startswith("p")} == own
    doc = {f"p{r['index']}": r["doc_step"] for r in reports if r["doc_step"] is not None}
    assert {k: v for k, v in stored["doc"].items() if k != "last"} == doc
    assert stored["doc"].get("last") in (doc.keys() or {None})

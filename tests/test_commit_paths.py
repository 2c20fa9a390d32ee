"""The two ways a write commits (``commits.py``): inline on the caller's event loop when the
collection is free, through the pool when a lock is busy or memory is not current. Which way was
taken is read from the queue's counters (``inline``, ``pooled``), never from timings."""

from __future__ import annotations

import asyncio
import fcntl
import os
import threading
from collections.abc import AsyncIterator, Iterator
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import pytest

from asyncjsondb import AsyncJSONDB, Collection, DuplicateKeyError, StorageError
from asyncjsondb.backends.files import commits, compaction, segments, turns
from asyncjsondb.backends.files.commits import CommitQueue
from asyncjsondb.backends.files.segments import Segments
from tests.attack_scenarios import ATTACKS, BEFORE, PATHS_TAKEN, read_view
from tests.faults import SyscallFaults
from tests.proc_workers import JOIN_TIMEOUT, SPAWN, Peer
from tests.test_freshness import FOREVER, finished_without_awaiting

pytestmark = pytest.mark.timeout(60)  # real processes: never let one hang the suite


def queue_of(collection: Collection) -> CommitQueue:
    queue = collection._backend._commits  # type: ignore[attr-defined]
    assert isinstance(queue, CommitQueue)
    return queue


async def until(condition: Any) -> None:
    """Let the loop run until ``condition()`` holds (the pool works meanwhile)."""
    for _ in range(10_000):
        if condition():
            return
        await asyncio.sleep(0.001)
    raise AssertionError("the condition never held")


@pytest.fixture(autouse=True)
def fast_syncs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every fsync counts as fast, so that durable writes take the inline path whatever this
    disk does (a test that wants slow ones says so)."""
    monkeypatch.setattr(commits, "_FAST_SYNC", float("inf"))


@pytest.fixture
async def files_db(db_path: Path, durability: str) -> AsyncIterator[AsyncJSONDB]:
    async with AsyncJSONDB(db_path, durability=durability, cache_ttl=FOREVER) as opened:
        await (await opened.get_collection("c")).set("seed", 0)  # files open, memory current
        yield opened


async def test_an_uncontended_write_commits_inline_without_suspending(
    files_db: AsyncJSONDB,
) -> None:
    c = await files_db.get_collection("c")
    queue = queue_of(c)
    inline, pooled = queue.inline, queue.pooled
    done, _ = finished_without_awaiting(c.set("k", 1))
    assert done
    assert (queue.inline, queue.pooled) == (inline + 1, pooled)
    assert await c.get("k") == 1


async def test_a_write_that_makes_a_collection_segments_goes_to_the_pool(
    files_db: AsyncJSONDB, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Turning a dict into ``Segments`` is a copy of ~175k records: the pool's work, never an
    event loop's, even when the collection is free."""
    monkeypatch.setattr(segments, "SEGMENT", 3)
    c = await files_db.get_collection("c")
    queue = queue_of(c)
    await c.set_many({"a": 1, "b": 2})  # three records: still a dict
    inline, pooled = queue.inline, queue.pooled
    done, _ = finished_without_awaiting(c.set("d", 4))
    assert not done
    await until(lambda: queue.pooled == pooled + 1)
    assert queue.inline == inline
    assert isinstance(c._backend._store.data, Segments)  # type: ignore[attr-defined]
    done, _ = finished_without_awaiting(c.set("e", 5))  # Segments from now on: inline again
    assert done and queue.inline == inline + 1
    assert await c.keys() == ["seed", "a", "b", "d", "e"]


async def test_writes_ready_in_one_turn_share_one_append_and_one_sync(
    files_db: AsyncJSONDB,
) -> None:
    c = await files_db.get_collection("c")
    queue = queue_of(c)
    inline = queue.inline
    with SyscallFaults() as counted:
        results = await asyncio.gather(
            *(c.set(f"k{n}", n) for n in range(50)), c.increment("seed"), c.delete("k0")
        )
    assert results[-1] is True
    assert queue.inline == inline + 1
    assert counted.calls.count("os.pwrite") == 1
    syncs = [call for call in counted.calls if call in ("os.fdatasync", "os.fsync")]
    assert len(syncs) == (1 if files_db.options.durable else 0)
    assert await c.get_many(["k0", "k1", "k49", "seed"]) == {"k1": 1, "k49": 49, "seed": 1}


async def test_a_lock_held_by_another_thread_sends_the_write_to_the_pool(
    files_db: AsyncJSONDB,
) -> None:
    c = await files_db.get_collection("c")
    queue = queue_of(c)
    inline, pooled = queue.inline, queue.pooled
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with queue.store.mutex:
            held.set()
            release.wait(JOIN_TIMEOUT)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        held.wait(JOIN_TIMEOUT)
        write = asyncio.ensure_future(c.set("k", 1))
        await until(lambda: queue._scheduled)  # queued for the pool, whose worker waits
        assert queue.inline == inline
    finally:
        release.set()
        holder.join(JOIN_TIMEOUT)
    assert await write is True
    assert (queue.inline, queue.pooled) == (inline, pooled + 1)
    assert await c.get("k") == 1


def hold_the_lock(lock_file: str, conn: Connection) -> None:
    """In another process: take the collection's ``flock``, say so, hold it until told."""
    fd = os.open(lock_file, os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX)
    conn.send("held")
    conn.recv()
    fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)


async def test_a_lock_held_by_another_process_sends_the_write_to_the_pool(
    files_db: AsyncJSONDB, db_path: Path
) -> None:
    c = await files_db.get_collection("c")
    queue = queue_of(c)
    inline, pooled = queue.inline, queue.pooled
    conn, child_end = SPAWN.Pipe()
    holder = SPAWN.Process(target=hold_the_lock, args=(str(db_path / ".c.lock"), child_end))
    holder.start()
    try:
        assert conn.poll(JOIN_TIMEOUT) and conn.recv() == "held"
        write = asyncio.ensure_future(c.set("k", 1))
        await until(lambda: queue._scheduled)
        await asyncio.sleep(0.01)  # the worker is waiting for the lock, not done
        assert not write.done()
        conn.send("release")
        assert await write is True
    finally:
        holder.join(JOIN_TIMEOUT)
    assert (queue.inline, queue.pooled) == (inline, pooled + 1)
    assert await c.get("k") == 1


@pytest.fixture
def peer(db_path: Path, durability: str) -> Iterator[Peer]:
    """Another process with the folder open, its memory trusted for as long as its counter says."""
    other = Peer(str(db_path), durability=durability, cache_ttl=FOREVER)
    yield other
    other.close()


async def test_a_write_after_another_process_wrote_catches_up_in_the_pool(
    files_db: AsyncJSONDB, peer: Peer
) -> None:
    c = await files_db.get_collection("c")
    queue = queue_of(c)
    peer.call("c", "set", "theirs", 1)
    inline, pooled = queue.inline, queue.pooled
    assert await c.increment("theirs") == 2  # planned on their value: caught up first
    assert (queue.inline, queue.pooled) == (inline, pooled + 1)
    await c.set("mine", 1)  # memory is current again
    assert queue.inline == inline + 1
    assert peer.call("c", "get", "mine") == 1  # and the peer's next read sees it
    assert peer.call("c", "get", "theirs") == 2


async def test_a_write_inline_in_one_process_is_seen_by_the_next_read_of_another(
    files_db: AsyncJSONDB, peer: Peer
) -> None:
    c = await files_db.get_collection("c")
    queue = queue_of(c)
    assert peer.call("c", "get", "seed") == 0  # the peer's memory is loaded, and trusted
    inline = queue.inline
    for number in range(1, 11):
        await c.set("seed", number)
        assert peer.call("c", "get", "seed") == number
    await asyncio.gather(c.set("a", 1), c.set("b", 2))
    assert peer.call("c", "get_many", ["a", "b"]) == {"a": 1, "b": 2}
    assert queue.inline == inline + 11


async def test_a_failed_inline_sync_changes_nothing_and_fails_every_waiter(
    db_path: Path,
) -> None:
    async with AsyncJSONDB(db_path, durability="fsync", cache_ttl=FOREVER) as db:
        c = await db.get_collection("c")
        await c.set("seed", 0)
        queue = queue_of(c)
        journal = db_path / "c.journal"
        size, inline = journal.stat().st_size, queue.inline
        syncs = 0

        def first_sync(name: str, _: Any) -> bool:
            nonlocal syncs
            syncs += name in ("os.fdatasync", "os.fsync")
            return syncs == 1 and name in ("os.fdatasync", "os.fsync")

        with SyscallFaults(matching=first_sync):
            outcomes = await asyncio.gather(
                c.set("a", 1), c.set("b", 2), c.increment("seed"), return_exceptions=True
            )
        assert all(isinstance(outcome, StorageError) for outcome in outcomes), outcomes
        assert len({id(outcome) for outcome in outcomes}) == 1  # the one failure, to each
        assert queue.inline == inline + 1
        assert journal.stat().st_size == size
        assert await c.items() == [("seed", 0)]
        assert await c.set("a", 1) is True  # and the collection goes on
    async with AsyncJSONDB(db_path) as again:
        assert await (await again.get_collection("c")).items() == [("seed", 0), ("a", 1)]


async def test_slow_syncs_send_durable_writes_to_the_pool(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(commits, "_FAST_SYNC", 0.0)  # every fsync counts as slow
    async with AsyncJSONDB(db_path, durability="fsync", cache_ttl=FOREVER) as db:
        c = await db.get_collection("c")
        await c.set("seed", 0)  # one fsync measured
        queue = queue_of(c)
        inline, pooled = queue.inline, queue.pooled
        for n in range(3):
            await c.set(f"k{n}", n)
        assert (queue.inline, queue.pooled) == (inline, pooled + 3)


async def test_a_batch_of_too_many_records_for_the_loop_goes_to_the_pool(
    files_db: AsyncJSONDB, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(commits, "_LARGEST_INLINE", 2)
    c = await files_db.get_collection("c")
    queue = queue_of(c)
    inline, pooled = queue.inline, queue.pooled
    await asyncio.gather(*(c.set(f"k{n}", n) for n in range(3)))  # three writes, one batch
    assert await c.set_many({"a": 1, "b": 2, "c": 3}) == 3  # one write, three records
    await c.delete_many(["a", "b"])  # two records: small enough
    assert (queue.inline, queue.pooled) == (inline + 1, pooled + 2)
    assert await c.count() == 5


async def test_a_unique_index_is_built_in_the_pool_not_on_the_loop(
    files_db: AsyncJSONDB, db_path: Path
) -> None:
    c = await files_db.get_collection("c")
    await c.set_many({"a": {"email": "a@x"}, "b": {"email": "b@x"}})
    await c.create_index("email", unique=True)
    queue = queue_of(c)
    queue.store.catalog.forget()  # as after a reload: built again at the next write
    inline, pooled = queue.inline, queue.pooled
    await c.set("c", {"email": "c@x"})  # builds it: in the pool
    await c.set("d", {"email": "d@x"})  # built: inline
    assert (queue.inline, queue.pooled) == (inline + 1, pooled + 1)
    with pytest.raises(DuplicateKeyError):
        await c.set("e", {"email": "a@x"})
    assert queue.inline == inline + 2


async def test_back_to_back_inline_writes_give_the_loop_turns(
    files_db: AsyncJSONDB, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = await files_db.get_collection("c")
    queue = queue_of(c)
    suspended = 0  # writes that waited for the end of the loop's turn
    close_batch = CommitQueue._close_batch

    def counting(self: CommitQueue, loop: asyncio.AbstractEventLoop) -> None:
        nonlocal suspended
        suspended += 1
        close_batch(self, loop)

    monkeypatch.setattr(CommitQueue, "_close_batch", counting)
    monkeypatch.setattr(turns, "BUDGET", float("inf"))
    await asyncio.sleep(0)
    inline, suspended = queue.inline, 0
    for n in range(50):
        await c.set(f"k{n}", n)
    assert (suspended, queue.inline) == (0, inline + 50)
    monkeypatch.setattr(turns, "BUDGET", 0.0)  # spent at once: every other write suspends
    await asyncio.sleep(0)
    suspended = 0
    for n in range(50):
        await c.set(f"k{n}", n)
    assert suspended >= 20


async def test_compaction_after_an_inline_commit_runs_in_the_pool(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads: list[str] = []
    folded: list[bool] = []
    real = compaction.compact

    def compact(store: Any, **options: Any) -> bool:
        threads.append(threading.current_thread().name)
        folded.append(real(store, **options))
        return folded[-1]

    monkeypatch.setattr(compaction, "compact", compact)
    async with AsyncJSONDB(db_path, cache_ttl=FOREVER, compact_min_bytes=300) as db:
        c = await db.get_collection("c")
        await c.set("seed", 0)  # through the pool: it makes the journal
        queue = queue_of(c)
        written = 0
        while not threads:  # inline writes until one finds compaction due
            await c.set(f"k{written}", "x" * 20)
            written += 1
            assert written < 100, "never compacted"
        assert queue.inline >= 5
        await until(lambda: folded)
        assert folded[0]
    assert all(name.startswith("asyncjsondb") for name in threads), threads
    async with AsyncJSONDB(db_path) as again:
        assert await (await again.get_collection("c")).count() == written + 1


async def test_close_lets_a_gathering_batch_finish(db_path: Path, durability: str) -> None:
    db = AsyncJSONDB(db_path, durability=durability)
    c = await db.get_collection("c")
    await c.set("seed", 0)
    writes = [asyncio.ensure_future(c.set(f"k{n}", n)) for n in range(5)]
    await asyncio.sleep(0)  # they have joined this turn's batch; its callback has not run
    assert queue_of(c)._gathering
    await db.close()
    assert await asyncio.gather(*writes) == [True] * 5
    async with AsyncJSONDB(db_path) as again:
        assert await (await again.get_collection("c")).count() == 6


@pytest.mark.parametrize(("name", "path"), [("set_gathered", "inline"), ("set_contended", "pool")])
async def test_the_attack_scenarios_take_the_path_they_attack(
    name: str, path: str, tmp_path: Path
) -> None:
    """The I/O-error and crash-point loops attack each path only if the scenario takes it."""
    attack = next(attack for attack in ATTACKS if attack.name == name)
    db = await attack.prepare(tmp_path / "db")
    try:
        await attack.run(db, tmp_path / "db")
        assert PATHS_TAKEN[-1] == path
        assert await read_view(db) == attack.expect(BEFORE)
    finally:
        await db.close()


async def test_writes_go_on_while_an_automatic_compaction_renders(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An automatic compaction runs in a pool job of its own: writes made while its child
    renders commit (inline or in the pool) instead of queueing behind it, and are carried."""
    from asyncjsondb.backends.files import rewrite

    monkeypatch.setattr(compaction, "OFF_LOCK_MIN_BYTES", 0)
    rendering, release = threading.Event(), threading.Event()
    real_render = rewrite.render

    def render(taken: Any) -> Any:
        rendering.set()
        assert release.wait(30), "the test never released the render"
        return real_render(taken)

    monkeypatch.setattr(rewrite, "render", render)
    async with AsyncJSONDB(db_path, cache_ttl=FOREVER, compact_min_bytes=300) as db:
        c = await db.get_collection("c")
        written = 0
        while not rendering.is_set():  # until one write finds compaction due
            await c.set(f"k{written}", "x" * 20)
            written += 1
            assert written < 100, "never compacted"
        try:
            for n in range(20):  # each would wait for the render if it queued behind it
                await asyncio.wait_for(c.set(f"during{n}", n), timeout=5)
            await asyncio.wait_for(c.set_many({f"many{n}": n for n in range(300)}), 5)
        finally:
            release.set()
        assert await c.count() == written + 320
    async with AsyncJSONDB(db_path) as again:
        assert await (await again.get_collection("c")).count() == written + 320

"""The PostgreSQL pools (``backends/postgres/pools.py``) leak no connection and survive the server.

Each test names its connections (``application_name``) so the server's ``pg_stat_activity`` can
count them: a pool of its own for the test, and a count that no other test disturbs.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import pytest

from asyncjsondb import AsyncJSONDB, ServerError
from asyncjsondb.backends.postgres import pools
from tests.conftest import POSTGRES_URL
from tests.faults import open_descriptors


def _sockets() -> set[str]:
    return {fd for fd in open_descriptors() if "socket:" in fd}


@pytest.fixture
async def app(postgres_schema: str) -> AsyncIterator[str]:
    """An application name of the test's own; its connections are terminated afterwards."""
    name = f"pooltest_{uuid.uuid4().hex[:12]}"
    yield name
    await _server(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1",
        name,
    )


def _open(app: str, schema: str, **options: Any) -> AsyncJSONDB:
    separator = "&" if "?" in POSTGRES_URL else "?"
    return AsyncJSONDB(f"{POSTGRES_URL}{separator}application_name={app}", schema=schema, **options)


async def _server(query: str, *args: Any) -> Any:
    connection = await asyncpg.connect(POSTGRES_URL)
    try:
        return await connection.fetchval(query, *args)
    finally:
        await connection.close()


async def _connections(app: str) -> int:
    query = "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1"
    return int(await _server(query, app))


async def _settled(app: str) -> int:
    """The connections left once the server has seen our disconnects (it notices them a moment
    later: polled, up to a generous bound that only a leak reaches)."""
    for _ in range(400):
        if (count := await _connections(app)) == 0:
            return 0
        await asyncio.sleep(0.025)
    return count


def _in_thread(work: Callable[[], Awaitable[Any]]) -> Any:
    """``asyncio.run(work())`` in a thread of its own: a loop that is not the test's."""
    result: list[Any] = []
    thread = threading.Thread(target=lambda: result.append(asyncio.run(work())))
    thread.start()
    thread.join()
    return result[0]


async def test_concurrent_first_uses_leave_no_connection_open(postgres_schema: str) -> None:
    options = {"schema": postgres_schema, "pool_size": 3}  # a pool no other test shares
    async with AsyncJSONDB(POSTGRES_URL, **options) as warm:  # the pool's loop thread exists
        await warm.get_collection("warm")
    before = _sockets()
    db = AsyncJSONDB(POSTGRES_URL, **options)
    await asyncio.gather(db.get_collection("a"), db.get_collection("b"))
    await db.close()
    assert _sockets() == before


async def test_a_cancelled_first_call_leaves_the_opening_pool_to_the_others(
    app: str, postgres_schema: str
) -> None:
    db = _open(app, postgres_schema)
    first = asyncio.ensure_future(db.get_collection("a"))
    second = asyncio.ensure_future(db.get_collection("b"))
    await asyncio.sleep(0)  # both wait for the pool the first one started to open
    first.cancel()
    await (await second).set("k", 1)
    with pytest.raises(asyncio.CancelledError):
        await first
    assert await (await db.get_collection("a")).count() == 0
    await db.close()
    assert await _settled(app) == 0


async def test_a_loop_shutting_down_closes_its_pool_and_others_go_on(
    app: str, postgres_schema: str
) -> None:
    db = _open(app, postgres_schema)

    async def first() -> bool:
        await (await db.get_collection("c")).set("k", 1)
        return asyncio.get_running_loop() in db._backend._group.pools  # type: ignore[attr-defined]

    assert await asyncio.to_thread(_in_thread, first)  # the first loop had a pool of its own
    assert await _settled(app) == 0  # asyncio.run's shutdown closed it; the database is open
    assert await (await db.get_collection("c")).get("k") == 1  # this loop hops
    await db.close()
    assert await _settled(app) == 0


def test_a_loop_closed_without_shutdown_leaks_no_connection(app: str, postgres_schema: str) -> None:
    db = _open(app, postgres_schema)
    before = _sockets()
    loop = asyncio.new_event_loop()
    loop.run_until_complete(db.get_collection("c"))  # the first loop: a pool of its own
    theirs = asyncio.run(_server_pids(app))
    assert theirs
    loop.close()  # without shutdown_asyncgens: nothing told the pool
    asyncio.run(_call_then_wait(db, app, theirs))  # a call from another loop sweeps it
    assert loop not in db._backend._group.pools  # type: ignore[attr-defined]
    asyncio.run(db.close())
    assert asyncio.run(_settled(app)) == 0
    assert _sockets() == before


async def _server_pids(app: str) -> set[int]:
    connection = await asyncpg.connect(POSTGRES_URL)
    try:
        query = "SELECT pid FROM pg_stat_activity WHERE application_name = $1"
        return {row[0] for row in await connection.fetch(query, app)}
    finally:
        await connection.close()


async def _call_then_wait(db: AsyncJSONDB, app: str, gone: set[int]) -> None:
    await (await db.get_collection("c")).count()
    await _wait_gone(app, gone)


async def _wait_gone(app: str, gone: set[int]) -> None:
    """Until the server has seen ``gone`` disconnect (polled up to a bound only a leak reaches)."""
    for _ in range(400):
        if not await _server_pids(app) & gone:
            return
        await asyncio.sleep(0.025)
    raise AssertionError(f"still connected: {await _server_pids(app) & gone}")


def test_closing_the_database_closes_a_loop_that_is_not_running(
    app: str, postgres_schema: str
) -> None:
    db = _open(app, postgres_schema)
    before = _sockets()
    loop = asyncio.new_event_loop()
    loop.run_until_complete(db.get_collection("c"))  # then the loop stays idle, not closed
    asyncio.run(db.close())
    assert asyncio.run(_settled(app)) == 0
    loop.run_until_complete(asyncio.sleep(0))  # what abort() scheduled: it finds nothing to do
    loop.close()
    assert _sockets() == before


async def test_closing_the_database_from_another_loop_closes_every_pool(
    app: str, postgres_schema: str
) -> None:
    other = asyncio.new_event_loop()
    thread = threading.Thread(target=other.run_forever)
    thread.start()
    db = _open(app, postgres_schema)

    async def use() -> None:
        await (await db.get_collection("c")).set("k", 1)

    await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(use(), other))
    await (await db.get_collection("c")).get("k")  # the hop loop's pool too
    group = db._backend._group  # type: ignore[attr-defined]
    assert other in group.pools and pools.HOP.loop() in group.pools
    await db.close()  # from this loop: each pool closes on its own loop
    assert group.pools == {}
    assert await _settled(app) == 0
    other.call_soon_threadsafe(other.stop)
    await asyncio.to_thread(thread.join)
    other.close()


@pytest.mark.parametrize("path", ["own loop", "hop"])
async def test_a_connection_killed_mid_call_is_a_server_error_then_recovers(
    app: str, postgres_schema: str, path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if path == "hop":
        monkeypatch.setattr(pools, "DIRECT_LOOPS", 0)
    db = _open(app, postgres_schema)
    c = await db.get_collection("c")
    await c.set("k", {"n": 1})
    locker = await asyncpg.connect(POSTGRES_URL)
    await locker.execute("BEGIN")
    await locker.execute(f'SELECT 1 FROM "{postgres_schema}".asyncjsondb_records FOR UPDATE')
    blocked = asyncio.ensure_future(c.increment("k", "n"))  # waits on the row lock
    waiting = (
        "SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'"
    )
    for _ in range(1000):  # until the increment waits on the lock (a bound only a bug reaches)
        if (pid := await locker.fetchval(waiting, app)) is not None or blocked.done():
            break
        await asyncio.sleep(0.01)
    assert pid is not None, blocked
    await locker.fetchval("SELECT pg_terminate_backend($1)", pid)
    with pytest.raises(ServerError):
        await blocked
    await locker.execute("ROLLBACK")
    await locker.close()
    assert await c.increment("k", "n") == 2  # the killed increment did not happen
    assert await c.get("k") == {"n": 2}
    await db.close()


async def test_every_connection_killed_between_calls_recovers(
    app: str, postgres_schema: str
) -> None:
    """What a server restart leaves: every pooled connection gone while idle."""
    db = _open(app, postgres_schema)
    c = await db.get_collection("c")
    await c.set("k", 1)
    killed = await _server_pids(app)
    kill = (
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1"
    )
    assert await _server(kill, app) == len(killed) >= 1
    await _wait_gone(app, killed)
    with contextlib.suppress(ServerError):  # if the loop had not yet seen the disconnect
        await c.get("k")
    assert await c.get("k") == 1
    assert await c.set("k", 2) and await c.get("k") == 2
    await db.close()


async def test_many_loops_at_once_stay_within_the_pool_limits(
    app: str, postgres_schema: str
) -> None:
    size, threads, calls = 2, 6, pools.DIRECT_AFTER_CALLS + 20
    db = _open(app, postgres_schema, pool_size=size)
    c = await db.get_collection("c")  # this loop is the first: a pool of its own
    await c.set_many({f"k{i}": i for i in range(10)})
    group = db._backend._group  # type: ignore[attr-defined]
    own: list[bool] = []
    peak = 0
    together = threading.Barrier(threads)

    async def busy() -> bool:
        for i in range(calls):
            values = await asyncio.gather(*(c.get(f"k{(i + j) % 10}") for j in range(4)))
            assert values == [(i + j) % 10 for j in range(4)]
        mine = asyncio.get_running_loop() in group.pools
        await asyncio.to_thread(together.wait)  # every loop alive until all have counted
        return mine

    workers = [
        threading.Thread(target=lambda: own.append(asyncio.run(busy()))) for _ in range(threads)
    ]
    for worker in workers:
        worker.start()
    while any(worker.is_alive() for worker in workers):
        peak = max(peak, await _connections(app))
        await asyncio.sleep(0.01)
    assert len(own) == threads  # every worker finished its checks
    assert own.count(True) == pools.DIRECT_LOOPS - 1  # the rest hopped to the shared pool
    assert 0 < peak <= (pools.DIRECT_LOOPS + 1) * size
    await db.close()
    assert await _settled(app) == 0

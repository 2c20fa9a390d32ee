"""asyncpg pools per event loop: a caller's statement runs on its own loop when it can.

An asyncpg pool belongs to the loop that made it. The first loop that uses a database gets a pool
of its own, and so does a loop that has made ``DIRECT_AFTER_CALLS`` calls through the hop; at most
``DIRECT_LOOPS`` loops per server settings have one. Every other loop hops to the pool of a loop in
a daemon thread (``HOP``), shared by all. Short-lived loops (``asyncio.run`` per call, Django's
per-request loops) therefore hop after the first, and pay no connection setup each.

A loop's pool closes when the loop shuts down (``asyncio.run`` closes its async generators, and a
suspended one of ours closes the pool), when its last database object closes, or, for a loop
closed without that shutdown, at the next look at the pools: its sockets are closed then.

Each pool keeps one connection aside for single statements, taken and returned without the pool's
queue (asyncpg's ``release`` costs a task and a loop turn); connections return to the pool without
a reset query, since the backend keeps no session state (no ``SET``, ``LISTEN``, session advisory
locks or cursors outside a transaction): only an open transaction is rolled back.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

from ...bridge import LoopThread
from ...errors import DatabaseClosedError

try:
    import asyncpg  # type: ignore[import-untyped]
except ImportError:  # pragma: no cover - without the 'postgres' extra
    asyncpg = None

T = TypeVar("T")
Key = tuple[str, bool, int]  # url, durable, pool_size

DIRECT_AFTER_CALLS = 100
DIRECT_LOOPS = 2
CLOSE_TIMEOUT = 10.0
HOP = LoopThread("asyncjsondb-postgres")


async def _no_reset(connection: Any) -> None:
    """What a released connection needs: only an open transaction undone (see the docstring)."""
    if connection.is_in_transaction():
        await connection.execute("ROLLBACK")


class LoopPool:
    """The pool of one event loop, with its spare connection for single statements."""

    def __init__(self, group: Group, loop: asyncio.AbstractEventLoop) -> None:
        self.group = group
        self.loop = loop
        self.calls = 0
        self._pool: Any = None
        self._opening: asyncio.Future[Any] | None = None  # the task making the pool
        self._spare: Any = None  # the spare connection while nobody uses it
        self._spare_out = False  # a spare exists (idle or in use)
        self._closed = False
        self._keeper: AsyncIterator[None] | None = None

    async def run(self, function: Callable[..., Awaitable[T]], *args: Any) -> T:
        """``function(connection, *args)`` on the spare connection when free, else a pooled one."""
        self.calls += 1
        pool = self._pool if self._pool is not None else await self._open()
        connection = self._spare
        if connection is not None:
            self._spare = None
            if connection.is_closed():  # dropped by the server while idle: take a fresh one
                await self._give_back(connection)
                connection = await pool.acquire()
                self._spare_out = True
        elif self._spare_out or self._closed:
            async with pool.acquire() as pooled:
                return await function(pooled, *args)
        else:
            connection = await pool.acquire()
            self._spare_out = True
        try:
            result = await function(connection, *args)
        except BaseException:
            await self._give_back(connection)
            raise
        if self._closed or connection.is_closed():
            await self._give_back(connection)
        else:
            self._spare = connection
        return result

    async def _give_back(self, connection: Any) -> None:
        self._spare_out = False
        await self._pool.release(connection)

    async def _open(self) -> Any:
        """The pool, made once in a task of its own: a cancelled first caller cancels nobody."""
        if self._closed:
            raise DatabaseClosedError(self.group.location)
        if self._opening is None:
            self._opening = asyncio.ensure_future(self._make())
        return await asyncio.shield(self._opening)

    async def _make(self) -> Any:
        try:
            pool = await self.group.open_pool()
        except BaseException:
            self.group.forget(self, failed=True)  # the next call tries again
            raise
        if self._closed:  # closed while it opened
            await pool.close()
            raise DatabaseClosedError(self.group.location)
        self._pool = pool
        if not HOP.owns(self.loop):
            self._keeper = _until_shutdown(self)
            await self._keeper.__anext__()  # the loop's shutdown_asyncgens will close it
        return pool

    async def close(self) -> None:
        """Return the spare and close the pool, on this pool's own loop (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self.group.forget(self)
        pool, spare, self._spare = self._pool, self._spare, None
        if pool is None:
            return
        if spare is not None:
            await self._give_back(spare)
        try:
            await asyncio.wait_for(pool.close(), CLOSE_TIMEOUT)
        except (TimeoutError, OSError, asyncpg.InterfaceError):
            pool.terminate()

    async def close_from_anywhere(self) -> None:
        """Close from any loop: on the pool's own loop; from another, ask the pool's loop to;
        when that loop is closed or not running, close the sockets (``abandon``)."""
        if self.loop is asyncio.get_running_loop():
            await self.close()
            return
        try:
            future = asyncio.run_coroutine_threadsafe(self.close(), self.loop)
        except RuntimeError:  # its loop is closed
            self.abandon()
            return
        if not self.loop.is_running():
            future.cancel()
            self.abandon()
            return
        try:
            await asyncio.wait_for(asyncio.wrap_future(future), CLOSE_TIMEOUT)
        except TimeoutError:
            self.abandon()

    def abandon(self) -> None:
        """Close the sockets of a pool whose loop will not run it again, without awaiting.

        asyncio cannot close a transport of a closed loop (closing schedules a callback), and
        asyncpg lists its connections only privately: both are reached into here, and
        ``tests/test_attacks_postgres_pool.py`` holds it.
        """
        self._closed = True
        self.group.forget(self)
        pool, self._pool, self._spare = self._pool, None, None
        if pool is None:
            return
        pool._closed = True  # first: a dropped connection then asks for no replacement
        for holder in getattr(pool, "_holders", ()):
            connection = getattr(holder, "_con", None)
            if connection is not None:
                _drop(connection, self.loop.is_closed())


def _drop(connection: Any, loop_closed: bool) -> None:
    """Close ``connection``'s socket now (the server sees the disconnect), and mark it closed."""
    transport: Any = getattr(connection, "_transport", None)
    sock = getattr(transport, "_sock", None)
    if sock is not None:
        sock.close()  # a transport's later close of the same socket object does nothing
        if loop_closed:  # nothing will run its close: no "unclosed transport" at collection
            transport._sock = None
            transport._conn_lost += 1  # and abort() has nothing left to schedule
    with contextlib.suppress(RuntimeError):  # a closed loop refuses the callback: done above
        connection.terminate()


async def _until_shutdown(pool: LoopPool) -> AsyncIterator[None]:
    """Suspended until its loop shuts its async generators down, then closes ``pool``."""
    try:
        yield
    finally:
        await pool.close()


class Group:
    """Every pool of one server setting (``Key``), shared by the database objects using it."""

    def __init__(self, key: Key, location: str) -> None:
        self.key = key
        self.location = location
        self.users = 0
        self.ready: set[tuple[str, str]] = set()  # (schema, prefix) set up by this group
        self.pools: dict[asyncio.AbstractEventLoop, LoopPool] = {}
        self.hop_calls: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, int] = (
            weakref.WeakKeyDictionary()
        )
        self._first_given = False
        self._lock = threading.RLock()  # a sweep under it abandons pools, which forget them

    def pool_for(self, loop: asyncio.AbstractEventLoop) -> LoopPool | None:
        """The pool of ``loop``: its own (made now if it earns one), else None (hop)."""
        found = self.pools.get(loop)
        if found is not None:
            return found
        with self._lock:
            self._sweep()
            if loop in self.pools:
                return self.pools[loop]
            calls = self.hop_calls.get(loop, 0) + 1
            self.hop_calls[loop] = calls
            direct = [pool for pool in self.pools.values() if not HOP.owns(pool.loop)]
            if len(direct) >= DIRECT_LOOPS:
                return None
            if self._first_given and calls < DIRECT_AFTER_CALLS:
                return None
            self._first_given = True
            self.pools[loop] = LoopPool(self, loop)
            return self.pools[loop]

    def hop_pool(self) -> LoopPool:
        """The pool of the hop loop (called on it)."""
        loop = HOP.loop()
        with self._lock:
            if loop not in self.pools:
                self.pools[loop] = LoopPool(self, loop)
            return self.pools[loop]

    def _sweep(self) -> None:
        """Drop the pools of loops closed without shutting down (under the lock)."""
        for loop, pool in list(self.pools.items()):
            if loop.is_closed():
                del self.pools[loop]
                pool.abandon()

    def forget(self, pool: LoopPool, failed: bool = False) -> None:
        with self._lock:
            if self.pools.get(pool.loop) is pool:
                del self.pools[pool.loop]
            if failed and not HOP.owns(pool.loop):
                self._first_given = False  # the next caller tries again

    async def open_pool(self) -> Any:
        url, durable, size = self.key
        settings = {} if durable else {"synchronous_commit": "off"}
        return await asyncpg.create_pool(
            url, min_size=1, max_size=size, server_settings=settings, reset=_no_reset
        )

    async def close(self) -> None:
        """Close every pool of the group, each on its own loop, from any loop."""
        with self._lock:
            self._sweep()
            pools = list(self.pools.values())
        await asyncio.gather(*(pool.close_from_anywhere() for pool in pools))


class Groups:
    """The process's groups, made anew in a forked child (the parent's sockets are not ours)."""

    def __init__(self) -> None:
        self._groups: dict[Key, Group] = {}
        self._pid = 0
        self._lock = threading.Lock()

    def take(self, key: Key, location: str) -> Group:
        with self._lock:
            if self._pid != os.getpid():
                self._groups, self._pid = {}, os.getpid()
            group = self._groups.get(key)
            if group is None:
                group = self._groups[key] = Group(key, location)
            group.users += 1
            return group

    def give_back(self, group: Group) -> bool:
        """One user less; True when it was the last (the caller then closes the group)."""
        with self._lock:
            if self._pid != os.getpid():
                return False
            group.users -= 1
            if group.users > 0:
                return False
            if self._groups.get(group.key) is group:
                del self._groups[group.key]
            return True


GROUPS = Groups()

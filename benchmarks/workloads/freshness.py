"""Read-your-writes: how many reads miss a write that was acknowledged just before they started.

A writer sets a key, and once the set returns it tells the reader the value it wrote; the reader
reads the key at once and counts the read stale unless it returns that value. Across processes
the writer is a spawned child and the reader this process (reading before the first write, as a
running worker would have); in one process, two store objects on one folder take turns.
Every system runs with its defaults; AsyncJSONDB's cache is checked against the collection's
shared change counter on every read, so it must count no stale read either.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import multiprocessing
import shutil
import time
from collections.abc import Callable, Collection
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path

from ..measure import Row
from ..peers import Store
from ..peers.asyncjsondb_peer import AsyncJSONDBStore
from ..peers.diskcache_peer import DiskcacheStore
from ..peers.postgres_peer import NAME as POSTGRES
from ..peers.postgres_peer import PostgresStore, enabled, shared_schema
from ..peers.sqlite_peer import SQLiteStore
from ..settings import Scale

ACROSS_PROCESSES = "read after write, 2 procs"
ACROSS_OBJECTS = "read after write, 2 objects"
ASYNCJSONDB = "asyncjsondb"
STORES: dict[str, Callable[[], Store]] = {
    ASYNCJSONDB: functools.partial(AsyncJSONDBStore, ASYNCJSONDB),
    "asyncjsondb cache_ttl=0": functools.partial(
        AsyncJSONDBStore, "asyncjsondb cache_ttl=0", cache_ttl=0
    ),
    "aiosqlite FULL": functools.partial(SQLiteStore, "FULL"),
    "diskcache": DiskcacheStore,
}
POSTGRES_STORES: dict[str, Callable[[], Store]] = {POSTGRES: PostgresStore}
INDEX = 0
FAILED = "failed"
_TIMEOUT = 120.0


def _store(system: str) -> Store:
    return {**STORES, **POSTGRES_STORES}[system]()


def _receive(connection: Connection, sender: BaseProcess | None = None) -> object:
    """The other side's next message; its error (``(FAILED, text)``) raised here, and so is
    the death of the ``sender`` process before it said anything."""
    deadline = time.monotonic() + _TIMEOUT
    while not connection.poll(0.2):
        if sender is not None and not sender.is_alive():
            raise RuntimeError(f"the writer process exited with code {sender.exitcode}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"no message from the other process within {_TIMEOUT:g} s")
    message = connection.recv()
    if isinstance(message, tuple) and message[:1] == (FAILED,):
        raise RuntimeError(f"the writer process failed: {message[1]}")
    return message


def writer(system: str, folder: str, count: int, connection: Connection) -> None:
    """Entry point of the spawned writer: set, tell the reader, wait until it has read."""
    try:
        asyncio.run(_write(system, Path(folder), count, connection))
    except BaseException as exc:
        connection.send((FAILED, f"{type(exc).__name__}: {exc}"))


async def _write(system: str, folder: Path, count: int, connection: Connection) -> None:
    store = _store(system)
    await store.open(folder)
    try:
        connection.send("ready")
        _receive(connection)
        for number in range(1, count + 1):
            await store.set(INDEX, {"n": number})
            connection.send(number)
            _receive(connection)
    finally:
        await store.close()


async def _across_processes(system: str, folder: Path, count: int) -> tuple[int, float]:
    """(stale reads, seconds) of ``count`` round trips: set in a child, get here."""
    context = multiprocessing.get_context("spawn")
    mine, theirs = context.Pipe()
    process = context.Process(target=writer, args=(system, str(folder), count, theirs))
    process.start()
    reader = _store(system)
    try:
        await reader.open(folder)
        _receive(mine, process)
        await reader.get(reader.key_of(INDEX))  # a worker that has served reads before the write
        mine.send("go")
        stale, started = 0, time.perf_counter()
        for _ in range(count):
            written = _receive(mine, process)
            stale += await reader.get(reader.key_of(INDEX)) != {"n": written}
            mine.send("read")
        return stale, time.perf_counter() - started
    finally:
        await reader.close()
        process.join(_TIMEOUT)
        if process.is_alive():
            process.kill()


async def _across_objects(system: str, folder: Path, count: int) -> tuple[int, float]:
    """(stale reads, seconds) of ``count`` sets by one store object, each read by another."""
    writer_store, reader = _store(system), _store(system)
    await writer_store.open(folder)
    try:
        await reader.open(folder)
        try:
            await reader.get(reader.key_of(INDEX))
            stale, started = 0, time.perf_counter()
            for number in range(1, count + 1):
                await writer_store.set(INDEX, {"n": number})
                stale += await reader.get(reader.key_of(INDEX)) != {"n": number}
            return stale, time.perf_counter() - started
        finally:
            await reader.close()
    finally:
        await writer_store.close()


async def _prepare(system: str, folder: Path) -> None:
    """Create the files (tables) and the key once, before anyone reads."""
    store = _store(system)
    await store.open(folder)
    try:
        await store.set(INDEX, {"n": 0})
    finally:
        await store.close()


async def run(scale: Scale, folder: Path, only: Collection[str] | None = None) -> list[Row]:
    """Both measurements for every store (PostgreSQL's while a server is in use)."""
    systems = [*STORES, *(POSTGRES_STORES if enabled() else {})]
    count = scale.stale_reads
    rows = []
    for workload, measure in (
        (ACROSS_PROCESSES, _across_processes),
        (ACROSS_OBJECTS, _across_objects),
    ):
        for number, system in enumerate(systems):
            if only is not None and system not in only:
                continue
            where = folder / f"freshness-{number}"
            schema = shared_schema(where) if system in POSTGRES_STORES else contextlib.nullcontext()
            try:
                async with schema:
                    await _prepare(system, where)
                    stale, seconds = await measure(system, where, count)
            finally:
                shutil.rmtree(where, ignore_errors=True)
            note = f"{stale} stale of {count} reads"
            rows.append(Row(workload, 1, system, count, seconds, value=stale, note=note))
    return rows

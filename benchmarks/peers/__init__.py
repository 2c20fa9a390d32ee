"""The systems under test, behind one small async interface.

A ``Writer`` can be opened on a folder, filled in bulk and written to; a ``Store`` can also be
read; a ``Counter`` can be incremented by several processes at once. Synchronous peers (TinyDB,
diskcache) are called directly inside ``async def`` methods, as an asyncio application that uses
them without a thread would: the kindest setting for them.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar

from ..records import Record


class Writer(Protocol):
    name: str

    async def open(self, folder: Path) -> None: ...

    async def fill(self, records: Mapping[int, Record]) -> None:
        """Store ``records`` the fastest way the system offers (not timed)."""

    async def set(self, index: int, value: Record) -> None: ...

    async def close(self) -> None: ...


class Store(Writer, Protocol):
    def key_of(self, index: int) -> Any:
        """The system's own key for record ``index``; the timed ``get`` workload makes them
        before its clock starts: a caller holds its keys already, and making one is not the
        database's work."""

    async def get(self, key: Any) -> Any: ...

    async def find_age_over(self, age: int) -> list[Any]:
        """Every stored value whose ``age`` is over ``age``, as the caller's own objects."""


class Counter(Protocol):
    name: str

    async def open(self, folder: Path) -> None: ...

    async def increment(self, name: str) -> None: ...

    async def counter(self, name: str) -> int: ...

    async def close(self) -> None: ...


W = TypeVar("W", bound=Writer)


@contextlib.asynccontextmanager
async def opened_all(
    factories: Sequence[Callable[[], W]], folder: Path, records: Mapping[int, Record]
) -> AsyncIterator[list[W]]:
    """Every system open on its own subfolder of ``folder``, filled with ``records``.

    All are open at once so that workloads can interleave their rounds; closed and deleted after.
    """
    async with contextlib.AsyncExitStack() as stack:
        stack.callback(shutil.rmtree, folder, ignore_errors=True)
        stores = []
        for number, factory in enumerate(factories):
            store = factory()
            where = folder / f"system-{number}"
            where.mkdir(parents=True, exist_ok=True)
            stack.push_async_callback(store.close)
            await store.open(where)
            await store.fill(records)
            stores.append(store)
        yield stores


async def filled(
    factory: Callable[[], Writer], folder: Path, records: Mapping[int, Record]
) -> None:
    """Leave ``folder`` holding ``records`` in the system's files, closed."""
    store = factory()
    folder.mkdir(parents=True, exist_ok=True)
    await store.open(folder)
    try:
        await store.fill(records)
    finally:
        await store.close()

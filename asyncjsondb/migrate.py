"""Copy a whole database from one backend to another (a folder or a URL each), then verify it.

Records move as encoded JSON, in batches, without decoding; the destination must hold no
collection yet, so that afterwards it holds exactly the source's collections, in the same order.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from typing import Any

from .backends import open_backend
from .backends.base import Backend, SetMany
from .errors import DatabaseError
from .names import validate_collection_name
from .options import Options

BATCH_RECORDS = 5000
Progress = Callable[[str, int], None]


class MigrationError(DatabaseError):
    """The destination is not empty, or does not hold what the source held after copying."""


async def migrate(
    source: str | os.PathLike[str],
    target: str | os.PathLike[str],
    *,
    source_options: dict[str, Any] | None = None,
    target_options: dict[str, Any] | None = None,
    progress: Progress | None = None,
) -> dict[str, int]:
    """Copy every collection of ``source`` into the empty ``target``; return name -> records.

    ``progress(collection, records_copied)`` is called after every batch.
    """
    async with contextlib.AsyncExitStack() as stack:
        src = await _opened(stack, source, source_options)
        dst = await _opened(stack, target, target_options)
        existing = await dst.names()
        if existing:
            raise MigrationError(f"the destination already holds collections: {existing}")
        counts = {}
        for name in await src.names():
            counts[name] = await _copy_collection(
                src, dst, validate_collection_name(name), progress
            )
        for name, expected in counts.items():
            found = await (await dst.collection(name)).count()
            if found != expected:
                raise MigrationError(f"{name}: copied {expected} records, destination has {found}")
        return counts


async def _opened(
    stack: contextlib.AsyncExitStack,
    location: str | os.PathLike[str],
    options: dict[str, Any] | None,
) -> Backend:
    """The backend of ``location``, as ``AsyncJSONDB(location, **options)`` would open it."""
    backend = open_backend(location, Options.from_kwargs(options or {}))
    stack.push_async_callback(backend.close)
    return backend


async def _copy_collection(src: Backend, dst: Backend, name: str, progress: Progress | None) -> int:
    source = await src.collection(name)
    target = await dst.collection(name)
    copied = 0
    async for chunk in source.item_chunks():
        for start in range(0, len(chunk), BATCH_RECORDS):
            batch = tuple(chunk[start : start + BATCH_RECORDS])
            await target.apply(SetMany(batch))
            copied += len(batch)
            if progress is not None:
                progress(name, copied)
    for index in await source.list_indexes():  # built once over the copied records
        await target.create_index(index["path"], index["unique"])
    return copied

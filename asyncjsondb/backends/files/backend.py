"""The JSON-file storage backend: a folder with one ``<name>.json`` (and journal) per collection."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import AsyncIterator, Iterable, Iterator
from concurrent.futures import Future
from itertools import chain
from pathlib import Path
from typing import Any

from ...bridge import executor, reset_after_fork, run_blocking
from ...codec import bulk_decoding, holding
from ...errors import DatabaseClosedError, DatabaseError, StorageError
from ...options import Options
from ...query import Node, Query
from ...steps import drained, each, fill
from ..base import STALE, Mutation, Stale
from . import backup, compaction, layout, registry, searching
from .commits import CommitQueue
from .segments import Records, lookup
from .slices import SLICE, copy_in_slices, items_of, keys_of, looked_up, values_of


class FileCollection:
    """Reads served from the shared in-memory store while fresh; writes through its queue."""

    __slots__ = ("_store", "_commits", "_ttl", "_durable")

    def __init__(self, commits: CommitQueue, options: Options) -> None:
        self._store = commits.store
        self._commits = commits
        self._ttl = options.cache_ttl
        self._durable = options.durable

    async def _fresh(self) -> Records:
        store = self._store
        if not store.is_fresh(self._ttl):
            await run_blocking(store.refresh)
        return store.data

    def known_to_exist(self) -> bool:
        """True when memory says the files exist (no I/O); False when only a look can tell
        (another database object, or process, may have dropped the collection)."""
        store = self._store
        return store.has_snapshot and store.is_fresh(self._ttl)

    def get_cached(self, key: str) -> bytes | None | Stale:
        """The value from memory, with no await at all, while the cache is fresh."""
        store = self._store
        return store.data.get(key) if store.is_fresh(self._ttl) else STALE

    async def get(self, key: str) -> bytes | None:
        return (await self._fresh()).get(key)

    async def get_many(self, keys: list[str]) -> dict[str, bytes]:
        data = await self._fresh()
        if len(keys) <= SLICE:  # C only, so no batch lands half-way through (see ``batches``)
            found = [list(lookup(data, keys))]
        else:
            found = await looked_up(self._store, keys)
        kept: dict[str, bytes] = {}
        pairs = zip(keys, chain.from_iterable(drained(found)), strict=True)  # freed as taken
        await fill(kept, _existing, [pairs])
        return kept

    async def contains(self, key: str) -> bool:
        return key in await self._fresh()

    async def keys(self) -> list[str]:
        await self._fresh()
        keys: list[str] = []
        with bulk_decoding():  # its thousands of slices would set off collector passes
            await each(keys.extend, drained(await copy_in_slices(self._store, keys_of)))
            holding(len(keys))
        return keys

    async def count(self) -> int:
        return len(await self._fresh())

    # The chunks are copied as one moment; their consumer decodes them in steps (``steps``).

    async def value_chunks(self) -> AsyncIterator[list[bytes]]:
        await self._fresh()
        for chunk in drained(await copy_in_slices(self._store, values_of)):
            yield chunk

    async def item_chunks(self) -> AsyncIterator[list[tuple[str, bytes]]]:
        await self._fresh()
        for chunk in drained(await copy_in_slices(self._store, items_of)):
            yield chunk

    async def apply(self, mutation: Mutation) -> Any:
        return await self._commits.submit(mutation, self._durable)

    async def query(self, query: Query) -> list[tuple[str, Any]]:
        await self._fresh()
        return await searching.run(self._store, query)

    async def count_matching(self, where: Node) -> int:
        await self._fresh()
        return await searching.count(self._store, where)

    async def explain(self, query: Query) -> dict[str, Any]:
        await self._fresh()
        return await searching.explain(self._store, query)

    async def create_index(self, path: str, unique: bool) -> bool:
        return await run_blocking(self._store.create_index, path, unique)

    async def drop_index(self, path: str) -> bool:
        return await run_blocking(self._store.drop_index, path)

    async def list_indexes(self) -> list[dict[str, Any]]:
        await self._fresh()
        return [dict(definition) for definition in self._store.catalog.definitions]


class FileBackend:
    """A database folder, shared with every other ``AsyncJSONDB`` of the process on it.

    ``close`` is one pool job, started by the first call: a cancelled close leaves it running,
    and every later call awaits the same job, so the work is done once and wholly.
    """

    def __init__(self, path: Path, options: Options) -> None:
        self.path = path
        self.location = str(path)
        self._options = options
        self._folder: registry.Folder | None = None
        self._closing: Future[None] | None = None
        self._close_error_seen = False
        self._attach_lock = threading.Lock()  # threads with their own loops may share this object
        reset_after_fork(self)

    def after_fork_in_child(self) -> None:
        self._attach_lock = threading.Lock()  # another thread may have held it at the fork

    def _check_open(self) -> None:
        if self._closing is not None:
            raise DatabaseClosedError(self.location)

    async def _attach(self) -> registry.Folder:
        folder = self._folder
        if folder is not None:
            return folder
        self._check_open()
        real = await run_blocking(_prepare_folder, self.path, self._options.read_only)
        with self._attach_lock:  # attach once, or close() would never fold the journals
            self._check_open()  # a close that ran meanwhile would never detach it
            if self._folder is None:
                self._folder = registry.attach(real, self._options)
            return self._folder

    async def collection(self, name: str) -> FileCollection:
        commits = (await self._attach()).commits(name)
        if not self._options.read_only:  # a reader sees a missing collection as empty
            await run_blocking(compaction.create, commits.store)
        return FileCollection(commits, self._options)

    async def drop(self, name: str) -> bool:
        return await run_blocking((await self._attach()).store(name).drop)

    async def names(self) -> list[str]:
        folder = await self._attach()
        return await run_blocking(_names, folder)

    async def compact(self) -> list[str]:
        done = []
        for name in await self.names():
            store = (await self._attach()).store(name)  # raises once a close has begun
            if await run_blocking(compaction.compact, store):
                done.append(name)
        return done

    async def backup(self, target: Path) -> None:
        await run_blocking(backup.create_backup, await self._attach(), target)

    async def restore(self, source: Path, only: str | None = None) -> None:
        await run_blocking(backup.restore_backup, await self._attach(), source, only)

    async def close(self) -> None:
        """Fold journals into the ``.json`` files once the process's last user has closed."""
        with self._attach_lock:
            if self._closing is None:
                folder, self._folder = self._folder, None
                if folder is not None and registry.detach(folder):
                    self._closing = executor().submit(_close_folder, folder)
                else:
                    self._closing = Future()
                    self._closing.set_result(None)
            closing = self._closing
        try:
            await asyncio.shield(asyncio.wrap_future(closing))
        except DatabaseError:
            if not self._close_error_seen:  # said once; closing again is harmless
                self._close_error_seen = True
                raise


def _existing(pairs: Iterable[tuple[str, bytes | None]]) -> Iterator[tuple[str, bytes]]:
    return ((key, raw) for key, raw in pairs if raw is not None)


def _close_folder(folder: registry.Folder) -> None:
    """Close every store of the folder, even after one failed; raise the first failure."""
    failures = []
    for commits in folder.close():
        try:
            _close(commits)
        except DatabaseError as exc:
            failures.append(exc)
    if failures:
        raise failures[0]


def _close(commits: CommitQueue) -> None:
    """Commit what is queued, fold the journal into the snapshot, release the descriptors."""
    commits.flush()
    try:
        if commits.store.usable and not commits.store.options.read_only:
            compaction.fold_at_close(commits.store)
    finally:  # release the files even when folding failed (the journal stays on disk)
        commits.store.close()


def _names(folder: registry.Folder) -> list[str]:
    backup.finish_interrupted_restore(folder)
    return layout.collection_names(folder.path)


def _prepare_folder(path: Path, read_only: bool) -> Path:
    if read_only:
        if not path.is_dir():
            raise StorageError("read", path, FileNotFoundError(2, "No such folder"))
        return Path(os.path.realpath(path))
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StorageError("create the database folder", path, exc) from exc
    if not os.access(path, os.W_OK | os.X_OK):
        raise StorageError("write to", path, PermissionError(13, "Permission denied"))
    return Path(os.path.realpath(path))

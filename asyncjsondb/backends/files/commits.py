"""Group commit: the single choke point every mutation of a collection passes.

A write: lock; catch up with other processes (``refresh``); plan the records; append them to the
journal; apply them to memory; unlock; then fsync. Writers queued meanwhile are committed together
by whichever pool job drains the queue, sharing one append and one fsync; each waiter then gets
its own result or error, with one wake-up per event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import deque
from typing import Any

from ...bridge import executor, reset_after_fork
from ...errors import DatabaseError, StorageError
from ..base import Mutation
from . import compaction
from .journal import Record
from .plans import View, plan
from .store import CollectionStore

_log = logging.getLogger("asyncjsondb")
Pending = tuple[Mutation, bool, "asyncio.Future[Any]"]  # the mutation, durable, its waiter
Outcome = tuple["asyncio.Future[Any]", bool, Any]  # the waiter, ok, its result or exception


class CommitQueue:
    """The writes waiting for one collection, and at most one pool job draining them."""

    def __init__(self, store: CollectionStore) -> None:
        self.store = store
        self._reset_process_state()
        reset_after_fork(self)

    def _reset_process_state(self) -> None:
        self._pending: deque[Pending] = deque()
        self._pending_lock = threading.Lock()
        self._draining = False

    def after_fork_in_child(self) -> None:
        """The parent's waiters belong to the parent's loops: start empty."""
        self._reset_process_state()

    async def submit(self, mutation: Mutation, durable: bool) -> Any:
        """Queue ``mutation``; the first caller that finds no drainer starts one."""
        waiter: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        with self._pending_lock:
            self._pending.append((mutation, durable, waiter))
            start = not self._draining
            self._draining = True
        if start:  # a pool job, not a task of this loop: it finishes even if this loop dies
            executor().submit(self._drain)
        return await waiter

    def flush(self) -> None:
        """Commit everything queued, in this thread rather than waiting for a pool thread."""
        while True:
            with self._pending_lock:
                if not self._pending and not self._draining:
                    return
                drain_here = not self._draining
                self._draining = True
            if drain_here:
                self._drain()
            else:
                time.sleep(0.0005)

    def _drain(self) -> None:
        """Commit queued mutations; hand on to the pool if more arrived meanwhile."""
        with self._pending_lock:
            batch = list(self._pending)
            self._pending.clear()
        try:
            _deliver(self._commit(batch))
        finally:
            with self._pending_lock:
                more = bool(self._pending)
                self._draining = more
            if more:
                executor().submit(self._drain)
        try:
            compaction.maybe_compact(self.store)
        except DatabaseError:  # the writes are safe in the journal; the next commit tries again
            _log.warning("compacting %s failed", self.store.paths.snapshot, exc_info=True)

    def _commit(self, batch: list[Pending]) -> list[Outcome]:
        """Plan, append and sync ``batch``; return each waiter's result or exception."""
        store = self.store
        records: list[Record] = []
        outcomes: list[Outcome] = []
        try:
            with store.locked():
                store.refresh_locked()
                view = View(store.data)
                store.catalog.prepare(store.data)
                for mutation, _, waiter in batch:
                    try:
                        record, result = plan(mutation, view, store.name)
                        if record is not None:  # a unique index may refuse it
                            store.catalog.follow([record], view.get)
                    except Exception as exc:  # the caller's own error, e.g. update of a list
                        outcomes.append((waiter, False, exc))
                        continue
                    if record is not None:
                        view.record(record)
                        records.append(record)
                    outcomes.append((waiter, True, result))
                if records:
                    compaction.ensure_snapshot_locked(store)  # listed once it has a write
                    journal_file, end = store.append_locked(records)
            if records and any(durable for _, durable, _ in batch):
                store.sync(journal_file, end)
        except Exception as exc:
            store.catalog.forget()  # it may follow records that were not written
            error = exc if isinstance(exc, DatabaseError) else _wrap(exc)
            return [(waiter, False, error) for _, _, waiter in batch]
        return outcomes


def _deliver(outcomes: list[Outcome]) -> None:
    """Resolve waiters with one wake-up per event loop, not one per waiter."""
    by_loop: dict[asyncio.AbstractEventLoop, list[Outcome]] = {}
    for outcome in outcomes:
        by_loop.setdefault(outcome[0].get_loop(), []).append(outcome)
    for loop, resolved in by_loop.items():
        with contextlib.suppress(RuntimeError):  # that loop is closed: nobody waits any more
            loop.call_soon_threadsafe(_resolve, resolved)


def _resolve(outcomes: list[Outcome]) -> None:
    for waiter, ok, value in outcomes:
        if waiter.done():  # the caller was cancelled; its write is committed all the same
            continue
        if ok:
            waiter.set_result(value)
        else:
            waiter.set_exception(value)


def _wrap(exc: BaseException) -> DatabaseError:
    if isinstance(exc, OSError):
        return StorageError("write", getattr(exc, "filename", None) or "?", exc)
    error = DatabaseError(f"commit failed: {exc!r}")
    error.__cause__ = exc
    return error

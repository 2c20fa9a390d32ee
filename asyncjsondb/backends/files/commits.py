"""Group commit: the single choke point every mutation of a collection passes.

A write: lock; catch up with other processes (``refresh``); plan the records; append them to the
journal; fsync; apply them to memory; unlock. Writers queued meanwhile are committed together by
whichever thread drains the queue, sharing one append and one fsync; each waiter then gets its own
result or error, with one wake-up per event loop. The fsync is inside the lock so that a failed
one can be undone (the journal cut back) before anyone, in this process or another, reads past it.

One thread drains at a time (``_drain_lock``). ``flush`` drains in its own thread instead of
waiting for a pool job that may be queued behind it (behind the very closes that wait).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
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
        self._drain_lock = threading.Lock()
        self._scheduled = False  # a pool job is queued or running

    def after_fork_in_child(self) -> None:
        """The parent's waiters belong to the parent's loops: start empty."""
        self._reset_process_state()

    async def submit(self, mutation: Mutation, durable: bool) -> Any:
        """Queue ``mutation``; the first caller that finds no pool job scheduled starts one."""
        waiter: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        with self._pending_lock:
            self._pending.append((mutation, durable, waiter))
            start = not self._scheduled
            self._scheduled = True
        if start:  # a pool job, not a task of this loop: it finishes even if this loop dies
            executor().submit(self._drain)
        return await waiter

    def flush(self) -> None:
        """Commit everything queued, in this thread; never waits for a queued pool job."""
        while self._drain_once():
            pass

    def _drain(self) -> None:
        """The pool job: commit one batch, then hand on to the pool if more arrived meanwhile."""
        committed = self._drain_once()
        with self._pending_lock:
            more = bool(self._pending)
            self._scheduled = more
        if more:
            executor().submit(self._drain)
        if committed and self.store.usable:
            try:
                compaction.maybe_compact(self.store)
            except DatabaseError:  # the writes are safe in the journal; the next commit retries
                _log.warning("compacting %s failed", self.store.paths.snapshot, exc_info=True)

    def _drain_once(self) -> bool:
        """Commit what is queued now; False when nothing was."""
        with self._drain_lock:
            with self._pending_lock:
                batch = list(self._pending)
                self._pending.clear()
            if batch:
                _deliver(self._commit(batch))
            return bool(batch)

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
                    _commit_records_locked(store, records, any(d for _, d, _ in batch))
        except Exception as exc:
            store.catalog.forget()  # it may follow records that were not written
            error = exc if isinstance(exc, DatabaseError) else _wrap(exc)
            return [(waiter, False, error) for _, _, waiter in batch]
        return outcomes


def _commit_records_locked(store: CollectionStore, records: list[Record], durable: bool) -> None:
    """Commit ``records``; a dropped collection comes back, unless the commit fails."""
    created = compaction.ensure_snapshot_locked(store)
    try:
        store.commit_locked(records, durable)
    except BaseException:
        if created:
            try:
                compaction.discard_new_snapshot_locked(store)
            except OSError:  # the collection is back, empty: nothing is lost
                _log.warning("removing %s failed", store.paths.snapshot, exc_info=True)
        raise


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

"""Group commit: the single choke point every mutation of a collection passes.

A write: lock; catch up with other processes (``refresh``); plan the records; append them to the
journal; fsync; apply them to memory; unlock (``_commit_locked``, one batch at a time). The
fsync is inside the lock so that a failed one can be undone (the journal cut back) before
anyone, in this process or another, reads past it.

Two ways lead there. Inline, on the caller's event loop: when the pool has nothing queued for
the collection and both locks are free, taken without waiting, with memory current (no other
process wrote since: the shared change counter says so without a system call). Writes ready on
a loop in the same turn join one batch, closed by a ``call_soon`` callback: one append and one
fsync for all of them; a lone write (nothing else ready on the loop) commits without suspending.
A durable batch commits inline only while fsyncs are fast (the median of the last ``_SYNCS``
under ``_FAST_SYNC``); ``turns`` gives the loop a turn every ~2 ms of back-to-back inline commits.

Otherwise, through the pool: the writes are queued, and whichever worker drains the queue
commits everything queued meanwhile together, taking the locks (waiting for them if it must:
never on a loop), then resolves each waiter with one wake-up per event loop. ``flush`` drains
in its own thread instead of waiting for a pool job that may be queued behind it (behind the
very closes that wait), and takes the batches still gathering on loops along. Compaction after
a commit always runs in the pool.
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
from ..base import DeleteMany, Mutation, SetMany
from . import compaction
from .journal import Record
from .plans import View, plan
from .segments import outgrows
from .store import CollectionStore
from .turns import Turns

_log = logging.getLogger("asyncjsondb")
Pending = tuple[Mutation, bool, "asyncio.Future[Any]"]  # the mutation, durable, its waiter
Outcome = tuple["asyncio.Future[Any]", bool, Any]  # the waiter, ok, its result or exception

_SYNCS = 8  # durable commits go inline while the median of the last this many fsyncs ...
_FAST_SYNC = 0.002  # ... is under this many seconds (a slow disk would stall the loop; one
# hiccup of a fast one does not send the next writes to the pool)
_LARGEST_INLINE = 1000  # records: a larger batch is planned and applied in the pool, off the loop
_turns = Turns()


class CommitQueue:
    """The writes waiting for one collection: gathering on event loops, or queued for the pool.

    ``inline`` and ``pooled`` count the batches committed each way (for tests and benchmarks).
    """

    def __init__(self, store: CollectionStore) -> None:
        self.store = store
        self._reset_process_state()
        reset_after_fork(self)

    def _reset_process_state(self) -> None:
        self._pending: deque[Pending] = deque()
        self._pending_lock = threading.Lock()  # guards _pending, _scheduled and _gathering
        self._drain_lock = threading.Lock()
        self._scheduled = False  # a pool job is queued or running
        self._compacting = False  # an automatic compaction's pool job is queued or running
        self._gathering: dict[asyncio.AbstractEventLoop, list[Pending]] = {}
        self._syncs: deque[float] = deque(maxlen=_SYNCS)  # the last fsyncs' durations
        self.inline = 0
        self.pooled = 0

    def after_fork_in_child(self) -> None:
        """The parent's waiters belong to the parent's loops: start empty."""
        self._reset_process_state()

    async def submit(self, mutation: Mutation, durable: bool) -> Any:
        """Commit ``mutation`` inline if the collection is free, else through the pool."""
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[Any] = loop.create_future()
        pending, size = (mutation, durable, waiter), _records_in(mutation)
        if loop in self._gathering:  # behind the writes gathered before it
            self._gather(loop, pending)
        elif not self._may_go_inline(size, durable):
            self._to_pool([pending])
        elif not (_turns.may_commit_now(loop) and self._commit_inline([pending], size)):
            self._gather(loop, pending)
        return await waiter

    def _may_go_inline(self, size: int, durable: bool) -> bool:
        """Nothing queued for the pool, a batch of at most ``_LARGEST_INLINE`` records (a bulk
        ``set_many`` is planned and applied in the pool), and (if durable) fast fsyncs."""
        if self._scheduled or size > _LARGEST_INLINE:
            return False
        return not durable or _median(self._syncs) < _FAST_SYNC

    def _gather(self, loop: asyncio.AbstractEventLoop, pending: Pending) -> None:
        with self._pending_lock:
            batch = self._gathering.get(loop)
            if batch is None:
                self._gathering[loop] = [pending]
                loop.call_soon(self._close_batch, loop)
            else:
                batch.append(pending)

    def _close_batch(self, loop: asyncio.AbstractEventLoop) -> None:
        """End of the loop's turn: commit what gathered, inline if possible, else in the pool."""
        with self._pending_lock:
            batch = self._gathering.pop(loop, None)
        if not batch:  # ``flush`` took it
            return
        durable = any(d for _, d, _ in batch)
        size = sum(_records_in(mutation) for mutation, _, _ in batch)
        if not (self._may_go_inline(size, durable) and self._commit_inline(batch, size)):
            self._to_pool(batch)

    def _commit_inline(self, batch: list[Pending], size: int) -> bool:
        """Commit ``batch`` (``size`` records) on this loop if the locks are free and memory is
        current, and it would not make the collection ``Segments`` (a copy: the pool's work);
        False (nothing done) otherwise."""
        store = self.store
        if not store.lock_if_current():
            return False
        if outgrows(store.data, size):
            store.unlock()
            return False
        try:
            outcomes = self._commit_locked(batch)
        finally:
            store.unlock()
        self.inline += 1
        _resolve(outcomes)
        self._compact_in_pool_if_due()
        return True

    def _to_pool(self, batch: list[Pending]) -> None:
        with self._pending_lock:
            self._pending.extend(batch)
            start = not self._scheduled
            self._scheduled = True
        if start:  # a pool job, not a task of this loop: it finishes even if this loop dies
            executor().submit(self._drain)

    def flush(self) -> None:
        """Commit everything queued or gathering, in this thread; never waits for a pool job."""
        while True:
            with self._drain_lock:
                outcomes = self._commit_queued()
                _deliver(outcomes)
            if not outcomes:
                return

    def _drain(self) -> None:
        """The pool job: commit what is queued, hand on if more arrived, start a compaction if
        one is due.

        It hands on before its waiters wake (a waiter that writes again at once finds the pool
        idle, and may commit inline)."""
        handed_on = False
        try:
            with self._drain_lock:
                outcomes = self._commit_queued()
                self._hand_on()
                handed_on = True
                _deliver(outcomes)
        finally:  # whatever happened, the queue is never left without a job to drain it
            if not handed_on:
                self._hand_on()
        if outcomes:
            self._compact_in_pool_if_due()

    def _hand_on(self) -> None:
        with self._pending_lock:
            more = self._scheduled = bool(self._pending)
        if more:
            executor().submit(self._drain)

    def _compact_in_pool_if_due(self) -> None:
        """After a commit: compaction, if due, runs in a pool job of its own, never on the loop,
        and writes go on meanwhile (a large collection is compacted off the locks: its writers
        wait for the swap only, not for the ten seconds a million records take to render)."""
        if self.store.compaction_due():
            with self._pending_lock:
                start = not self._compacting
                self._compacting = True
            if start:
                executor().submit(self._compact_job)

    def _compact_job(self) -> None:
        try:
            self._compact_if_due()
        finally:
            with self._pending_lock:
                self._compacting = False

    def _compact_if_due(self) -> None:
        if self.store.usable:
            try:
                compaction.maybe_compact(self.store)
            except DatabaseError:  # the writes are safe in the journal; the next commit retries
                _log.warning("compacting %s failed", self.store.paths.snapshot, exc_info=True)

    def _commit_queued(self) -> list[Outcome]:
        """Commit what is queued now, and what gathers on loops (call with ``_drain_lock``)."""
        with self._pending_lock:
            batch = list(self._pending)
            self._pending.clear()
            for gathered in self._gathering.values():
                batch.extend(gathered)
            self._gathering.clear()
        if not batch:
            return []
        self.pooled += 1
        return self._commit(batch)

    def _commit(self, batch: list[Pending]) -> list[Outcome]:
        """Take the locks (waiting if need be), catch up with the files, commit ``batch``."""
        store = self.store
        try:
            with store.locked():
                store.refresh_locked()
                return self._commit_locked(batch)
        except Exception as exc:  # the lock or the catch-up failed
            store.catalog.forget()
            return _failed(batch, exc)

    def _commit_locked(self, batch: list[Pending]) -> list[Outcome]:
        """Plan, append and sync ``batch``; return each waiter's result or exception."""
        store = self.store
        records: list[Record] = []
        outcomes: list[Outcome] = []
        try:
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
                durable = any(d for _, d, _ in batch)
                started = time.perf_counter()
                _commit_records_locked(store, records, durable)
                if durable:
                    self._syncs.append(time.perf_counter() - started)
        except Exception as exc:
            store.catalog.forget()  # it may follow records that were not written
            return _failed(batch, exc)
        return outcomes


def _records_in(mutation: Mutation) -> int:
    if isinstance(mutation, SetMany):
        return len(mutation.items)
    if isinstance(mutation, DeleteMany):
        return len(mutation.keys)
    return 1


def _median(seconds: deque[float]) -> float:
    return sorted(seconds)[len(seconds) // 2] if seconds else 0.0


def _failed(batch: list[Pending], exc: Exception) -> list[Outcome]:
    """Every waiter of ``batch`` gets the error (as a DatabaseError)."""
    error = exc if isinstance(exc, DatabaseError) else _wrap(exc)
    return [(waiter, False, error) for _, _, waiter in batch]


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

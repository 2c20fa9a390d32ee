"""One collection's state in this process, and the single choke point every mutation passes.

All ``AsyncJSONDB`` objects of a process that open the same folder share one ``CollectionStore``
per collection (see ``registry``), so they are consistent with each other at once.

Locking: ``mutex`` (a ``threading.Lock``) guards this process's state; the ``ProcessLock`` on
``.<name>.lock`` guards the files between processes. Both are taken, in that order, only in worker
threads, never on an event loop, so any mix of loops, threads and processes works.

A write: lock; catch up with other processes (``refresh``); plan the records; append them to the
journal; apply them to memory; unlock; then group-commit the fsync. Queued writers are committed
together by whichever caller drains the queue first, sharing one append and one fsync.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import files, journal, snapshot
from .bridge import executor, run_blocking
from .errors import CorruptFileError, DatabaseError, StorageError
from .journal import JournalFile, Record
from .locks import ProcessLock
from .operations import Operation, View, apply_all

_log = logging.getLogger("asyncjsondb")
_fork_epoch = 0
Pending = tuple[Operation, "asyncio.Future[Any]"]
Outcome = tuple["asyncio.Future[Any]", bool, Any]


def _count_fork() -> None:
    global _fork_epoch
    _fork_epoch += 1


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_count_fork)


@dataclass(frozen=True)
class StoreSettings:
    lock_timeout: float = 10.0
    compact_ratio: float = 1.0
    compact_min_bytes: int = 1 << 20
    auto_compact: bool = True


@dataclass
class _FileIdentity:
    """Which version of ``<name>.json`` is loaded: its pinned descriptor, inode, size and mtime."""

    fd: int
    inode: int
    size: int
    mtime_ns: int

    def matches(self, stat: os.stat_result | None) -> bool:
        return (
            stat is not None
            and stat.st_ino == self.inode
            and stat.st_size == self.size
            and stat.st_mtime_ns == self.mtime_ns
        )


class CollectionStore:
    def __init__(self, directory: Path, name: str, settings: StoreSettings) -> None:
        self.directory = directory
        self.name = name
        self.settings = settings
        self.snapshot_path = directory / f"{name}.json"
        self.journal_path = directory / f"{name}.journal"
        self.plock = ProcessLock(directory / f".{name}.lock", settings.lock_timeout)
        self.data: dict[str, bytes] = {}
        self.checked_at = float("-inf")
        self._reset_process_state()

    def _reset_process_state(self) -> None:
        self.mutex = threading.Lock()
        self.loaded = False
        self.checked_at = float("-inf")
        self._snapshot: _FileIdentity | None = None
        self._journal: JournalFile | None = None
        self._pending: deque[Pending] = deque()
        self._pending_lock = threading.Lock()
        self._draining = False
        self._epoch = _fork_epoch

    def _check_fork(self) -> None:
        if self._epoch != _fork_epoch:  # descriptors and locks are the parent's
            self._reset_process_state()

    # -- reading ---------------------------------------------------------------------------

    def is_fresh(self, ttl: float) -> bool:
        return (
            self._epoch == _fork_epoch and self.loaded and time.monotonic() - self.checked_at < ttl
        )

    async def ensure_fresh(self, ttl: float) -> None:
        """Catch up with other processes' writes unless checked within ``ttl`` seconds."""
        if not self.is_fresh(ttl):
            await run_blocking(self.refresh)

    def refresh(self) -> None:
        self._check_fork()
        with self.mutex, self.plock:
            self._refresh_locked()

    def _refresh_locked(self) -> None:
        """Bring memory up to date with the files; the caller holds both locks."""
        started = time.monotonic()
        snapshot_stat = files.stat_or_none(self.snapshot_path)
        if not self.loaded or not self._same_snapshot(snapshot_stat):
            self._load_locked()
        else:
            journal_stat = files.stat_or_none(self.journal_path)
            current = self._journal
            if current is None:
                if journal_stat is not None:
                    self._open_journal_locked(self.data)
            elif (
                journal_stat is None
                or journal_stat.st_ino != current.inode
                or journal_stat.st_size < current.offset
            ):
                self._load_locked()
            elif journal_stat.st_size > current.offset:
                self._read_journal_locked(current, self.data)
        self.checked_at = started

    def _same_snapshot(self, stat: os.stat_result | None) -> bool:
        if self._snapshot is None:
            return stat is None
        return self._snapshot.matches(stat)

    def _load_locked(self) -> None:
        """Read ``<name>.json`` and replay the journal from its start."""
        self._forget_files()
        files.remove_stale_temps(self.directory, f"{self.name}.json")
        loaded = files.read_file(self.snapshot_path)
        data: dict[str, bytes] = {}
        if loaded is not None:
            raw, fd = loaded
            self._snapshot = self._identity(fd)
            data = snapshot.parse(raw, self.snapshot_path)
        self._open_journal_locked(data)
        self.data = data  # replayed first, so readers never see a half-replayed collection
        self.loaded = True

    def _identity(self, fd: int) -> _FileIdentity:
        stat = os.fstat(fd)
        return _FileIdentity(fd, stat.st_ino, stat.st_size, stat.st_mtime_ns)

    def _open_journal_locked(self, data: dict[str, bytes]) -> None:
        opened = JournalFile.open(self.journal_path, create=False)
        if opened is not None:
            self._journal = opened
            self._read_journal_locked(opened, data)

    def _read_journal_locked(self, journal_file: JournalFile, data: dict[str, bytes]) -> None:
        records, valid_end = journal_file.read_new()
        # We hold the lock, so nobody is mid-append: bytes past the valid end are a torn tail.
        journal_file.truncate_torn_tail(valid_end)
        apply_all(data, records)
        journal_file.offset = journal_file.synced = valid_end

    def _forget_files(self) -> None:
        if self._snapshot is not None:
            os.close(self._snapshot.fd)
            self._snapshot = None
        if self._journal is not None:
            self._journal.retire()
            self._journal = None

    # -- writing ---------------------------------------------------------------------------

    async def submit(self, operation: Operation) -> Any:
        """Queue ``operation``; the first caller that finds no drainer commits the queue."""
        self._check_fork()
        waiter: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        with self._pending_lock:
            self._pending.append((operation, waiter))
            start = not self._draining
            self._draining = True
        if start:  # a pool job, not a task of this loop: it finishes even if this loop dies
            executor().submit(self._drain)
        return await waiter

    def _drain(self) -> None:
        """Commit queued operations; hand on to the pool if more arrived meanwhile."""
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
            self._maybe_compact()
        except DatabaseError:  # the writes are safe in the journal; the next commit tries again
            _log.warning("compacting %s failed", self.snapshot_path, exc_info=True)

    def _commit(self, batch: list[Pending]) -> list[Outcome]:
        """Plan, append and sync ``batch``; return each waiter's result or exception."""
        records: list[Record] = []
        outcomes: list[Outcome] = []
        try:
            with self.mutex:
                self._check_fork()
                with self.plock:
                    self._refresh_locked()
                    view = View(self.data)
                    for operation, waiter in batch:
                        try:
                            record, result = operation.plan(view, self.name)
                        except Exception as exc:  # the caller's own error, e.g. update of a list
                            outcomes.append((waiter, False, exc))
                            continue
                        if record is not None:
                            view.record(record)
                            records.append(record)
                        outcomes.append((waiter, True, result))
                    journal_file, end = self._append_locked(records)
            if journal_file is not None and any(op.durable for op, _ in batch):
                self._sync(journal_file, end)
        except Exception as exc:
            error = exc if isinstance(exc, DatabaseError) else _wrap(exc)
            return [(waiter, False, error) for _, waiter in batch]
        return outcomes

    def _append_locked(self, records: list[Record]) -> tuple[JournalFile | None, int]:
        if not records:
            return None, 0
        if self._snapshot is None:
            self._write_snapshot_locked()  # a collection always has its .json (list_collections)
        journal_file = self._journal
        if journal_file is None:
            journal_file = JournalFile.open(self.journal_path, create=True)
            assert journal_file is not None
            files.fsync_directory(self.directory)
            self._journal = journal_file
        end = journal_file.append(b"".join(journal.frame(record) for record in records))
        apply_all(self.data, records)
        return journal_file, end

    def _sync(self, journal_file: JournalFile, end: int) -> None:
        try:
            journal_file.sync_to(end)
        except StorageError:
            # The kernel may have dropped the unsynced pages: reload from disk at the next use.
            with self.mutex:
                self.loaded = False
            raise

    # -- compaction ------------------------------------------------------------------------

    def _maybe_compact(self) -> None:
        current = self._journal
        if not self.settings.auto_compact or current is None:
            return
        snapshot_size = self._snapshot.size if self._snapshot else 0
        bound = max(self.settings.compact_min_bytes, self.settings.compact_ratio * snapshot_size)
        if current.offset > bound:
            self.compact()

    def compact(self) -> bool:
        """Fold the journal into ``<name>.json``; False when there was nothing to fold."""
        self._check_fork()
        with self.mutex, self.plock:
            self._refresh_locked()
            if self._journal is None:
                return False
            self._write_snapshot_locked()
            return True

    def create(self) -> None:
        """Make sure ``<name>.json`` exists, so that the collection is listed."""
        self._check_fork()
        with self.mutex, self.plock:
            self._refresh_locked()
            if self._snapshot is None:
                self._write_snapshot_locked()

    def _write_snapshot_locked(self) -> None:
        """Write memory as the new ``<name>.json``, then drop the journal it now contains.

        A crash between the two leaves the old journal beside the new snapshot; replaying it
        there changes nothing, because records state results (see ``journal``).
        """
        fd = files.write_atomically(self.snapshot_path, snapshot.render(self.data))
        if self._snapshot is not None:
            os.close(self._snapshot.fd)
        self._snapshot = self._identity(fd)
        if self._journal is not None:
            files.remove_file(self.journal_path)
            files.fsync_directory(self.directory)
            self._journal.retire()
            self._journal = None

    def drop(self) -> bool:
        """Delete the collection's files; False when there were none."""
        self._check_fork()
        with self.mutex, self.plock:
            return self.remove_files_locked()

    def replace_locked(self, raw: bytes, data: dict[str, bytes]) -> None:
        """Make ``raw`` (a verified snapshot holding ``data``) the collection (both locks held).

        The journal is folded first, so that a crash part-way leaves either the old collection
        whole or the new one, never the new snapshot under the old journal.
        """
        if self._refresh_or_forget_locked():
            if self._journal is not None:
                self._write_snapshot_locked()
        else:  # nothing readable to keep: drop the journal first, so it never meets the new file
            files.remove_file(self.journal_path)
            files.fsync_directory(self.directory)
        fd = files.write_atomically(self.snapshot_path, [raw])
        if self._snapshot is not None:
            os.close(self._snapshot.fd)
        self._snapshot = self._identity(fd)
        self.data = data
        self.checked_at = time.monotonic()

    def _refresh_or_forget_locked(self) -> bool:
        """Refresh; if the files are corrupt, forget them instead. False when they were corrupt.

        Restoring over, or dropping, a corrupt collection is how one recovers from it.
        """
        try:
            self._refresh_locked()
        except CorruptFileError:
            self._forget_files()
            self.data = {}
            self.loaded = False
            return False
        return True

    def remove_files_locked(self) -> bool:
        """Delete ``<name>.json`` and its journal (the caller holds both locks)."""
        self._refresh_or_forget_locked()
        existed = self.snapshot_path.exists() or self.journal_path.exists()
        self._forget_files()
        for path in (self.journal_path, self.snapshot_path):
            files.remove_file(path)
        files.fsync_directory(self.directory)
        self.data = {}
        return existed

    def close(self) -> None:
        """Commit what is queued, fold the journal into the snapshot, release descriptors."""
        self._check_fork()
        while True:
            with self._pending_lock:
                if not self._pending and not self._draining:
                    break
                drain_here = not self._draining
                self._draining = True
            if drain_here:  # commit the queue in this thread rather than wait for a pool thread
                self._drain()
            else:
                time.sleep(0.0005)
        with self.mutex:
            try:
                if self.loaded and self._journal is not None:
                    with self.plock:
                        self._refresh_locked()
                        if self._journal is not None:
                            self._write_snapshot_locked()
            finally:  # release the files even when folding failed (the journal stays on disk)
                self._forget_files()
                self.loaded = False
                self.plock.close()


def _deliver(outcomes: list[Outcome]) -> None:
    """Settle waiters with one wake-up per event loop, not one per waiter."""
    by_loop: dict[asyncio.AbstractEventLoop, list[Outcome]] = {}
    for outcome in outcomes:
        by_loop.setdefault(outcome[0].get_loop(), []).append(outcome)
    for loop, settled in by_loop.items():
        with contextlib.suppress(RuntimeError):  # that loop is closed: nobody waits any more
            loop.call_soon_threadsafe(_settle, settled)


def _settle(outcomes: list[Outcome]) -> None:
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

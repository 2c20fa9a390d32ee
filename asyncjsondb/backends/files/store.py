"""One collection's state in this process, and the single choke point every mutation passes.

All ``AsyncJSONDB`` objects of a process that open the same folder share one ``CollectionStore``
per collection (see ``registry``), so they are consistent with each other at once.

Locking: ``mutex`` (a ``threading.Lock``) guards this process's state; the ``ProcessLock`` on
``.<name>.lock`` guards the files between processes. Both are taken, in that order and within one
``lock_timeout``, only in worker threads, never on an event loop (``locked``).

A write: lock; catch up with other processes (``refresh``); plan the records; append them to the
journal; apply them to memory; unlock; then group-commit the fsync. Queued writers are committed
together by whichever pool job drains the queue, sharing one append and one fsync.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
import time
import weakref
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...bridge import executor
from ...errors import CorruptFileError, DatabaseError, LockTimeoutError, StorageError
from ...options import Options
from ..base import Mutation
from . import atomic, journal, layout, snapshot
from .journal import JournalFile, Record
from .layout import CollectionFiles
from .locks import ProcessLock
from .plans import View, plan

_log = logging.getLogger("asyncjsondb")
Pending = tuple[Mutation, bool, "asyncio.Future[Any]"]  # the mutation, durable, its waiter
Outcome = tuple["asyncio.Future[Any]", bool, Any]
_every_store: weakref.WeakSet[CollectionStore] = weakref.WeakSet()


@dataclass
class _FileIdentity:
    """Which version of ``<name>.json`` is loaded: its pinned descriptor, inode, size and mtime.

    The open descriptor keeps the inode allocated, so no other file can take its number.
    """

    fd: int
    inode: int
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, fd: int) -> _FileIdentity:
        stat = os.fstat(fd)
        return cls(fd, stat.st_ino, stat.st_size, stat.st_mtime_ns)

    def matches(self, stat: os.stat_result | None) -> bool:
        return (
            stat is not None
            and stat.st_ino == self.inode
            and stat.st_size == self.size
            and stat.st_mtime_ns == self.mtime_ns
        )


class CollectionStore:
    def __init__(self, directory: Path, name: str, options: Options) -> None:
        self.directory = directory
        self.name = name
        self.options = options  # the folder-wide ones: lock_timeout, compaction
        self.paths = CollectionFiles(directory, name)
        self.snapshot_path = self.paths.snapshot
        self.journal_path = self.paths.journal
        self._compacting_path = self.paths.compacting  # see _fold_journal_locked
        self._folded_path = self.paths.folded
        self._staged_path = self.paths.staged  # a restore's new file, not yet in place
        self.plock = ProcessLock(self.paths.lock, options.lock_timeout)
        self.data: dict[str, bytes] = {}
        self._reset_process_state()
        _every_store.add(self)

    def _reset_process_state(self) -> None:
        self.mutex = threading.Lock()
        self.loaded = False
        self.checked_at = float("-inf")
        self._snapshot: _FileIdentity | None = None
        self._journal: JournalFile | None = None
        self._pending: deque[Pending] = deque()
        self._pending_lock = threading.Lock()
        self._draining = False

    def _after_fork_in_child(self) -> None:
        """Drop the parent's descriptors: a child holding a copy of the lock's descriptor would
        keep the parent's lock alive after the parent died."""
        for fd in (
            self._snapshot.fd if self._snapshot else None,
            self._journal.fd if self._journal and not self._journal.retired else None,
        ):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self.plock.forget_after_fork()
        self._reset_process_state()

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Both locks, within one ``lock_timeout``; OS failures inside become StorageError."""
        timeout = self.options.lock_timeout
        deadline = time.monotonic() + timeout
        if not self.mutex.acquire(timeout=timeout):
            raise LockTimeoutError(self.plock.path, timeout)
        try:
            self.plock.acquire(timeout=max(0.0, deadline - time.monotonic()))
            try:
                with atomic.as_storage_errors("use", self.snapshot_path):
                    yield
            finally:
                self.plock.release()
        finally:
            self.mutex.release()

    # -- reading ---------------------------------------------------------------------------

    def is_fresh(self, ttl: float) -> bool:
        return self.loaded and time.monotonic() - self.checked_at < ttl

    def refresh(self) -> None:
        with self.locked():
            self._refresh_locked()

    def _refresh_locked(self) -> None:
        """Bring memory up to date with the files; the caller holds both locks."""
        started = time.monotonic()
        snapshot_stat = atomic.stat_or_none(self.snapshot_path)
        if not self.loaded or not self._same_snapshot(snapshot_stat):
            self._load_locked()
        else:
            journal_stat = atomic.stat_or_none(self.journal_path)
            current = self._journal
            if current is None:
                if journal_stat is not None:
                    self._journal = self._open_journal_locked(self.data)
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
        """Read ``<name>.json`` and replay the journal from its start.

        Nothing is kept unless all of it succeeds: a corrupt file fails every load, not just
        the first, and is never overwritten.
        """
        self._forget_files()
        self.loaded = False
        layout.settle(self.paths)
        loaded = atomic.read_file(self.snapshot_path)
        identity: _FileIdentity | None = None
        data: dict[str, bytes] = {}
        try:
            if loaded is not None:
                identity = _FileIdentity.of(loaded[1])
                data = snapshot.parse(loaded[0], self.snapshot_path)
            journal_file = self._open_journal_locked(data)
        except BaseException:
            if loaded is not None:
                os.close(loaded[1])
            raise
        self._snapshot, self._journal = identity, journal_file
        self.data = data  # replayed first, so readers never see a half-replayed collection
        self.loaded = True

    def _open_journal_locked(self, data: dict[str, bytes]) -> JournalFile | None:
        opened = JournalFile.open(self.journal_path, create=False)
        if opened is not None:
            try:
                self._read_journal_locked(opened, data)
            except BaseException:
                opened.retire()
                raise
        return opened

    def _read_journal_locked(self, journal_file: JournalFile, data: dict[str, bytes]) -> None:
        records, valid_end = journal_file.read_new()
        # We hold the lock, so nobody is mid-append: bytes past the valid end are a torn tail.
        journal_file.truncate_torn_tail(valid_end)
        journal.apply(data, records)
        journal_file.offset = journal_file.synced = valid_end

    def _forget_files(self) -> None:
        if self._snapshot is not None:
            os.close(self._snapshot.fd)
            self._snapshot = None
        if self._journal is not None:
            self._journal.retire()
            self._journal = None

    # -- writing ---------------------------------------------------------------------------

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
            with self.locked():
                self._refresh_locked()
                view = View(self.data)
                for mutation, _, waiter in batch:
                    try:
                        record, result = plan(mutation, view, self.name)
                    except Exception as exc:  # the caller's own error, e.g. update of a list
                        outcomes.append((waiter, False, exc))
                        continue
                    if record is not None:
                        view.record(record)
                        records.append(record)
                    outcomes.append((waiter, True, result))
                journal_file, end = self._append_locked(records)
            if journal_file is not None and any(durable for _, durable, _ in batch):
                self._sync(journal_file, end)
        except Exception as exc:
            error = exc if isinstance(exc, DatabaseError) else _wrap(exc)
            return [(waiter, False, error) for _, _, waiter in batch]
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
            atomic.fsync_directory(self.directory)
            self._journal = journal_file
        end = journal_file.append(b"".join(journal.frame(record) for record in records))
        journal.apply(self.data, records)
        return journal_file, end

    def _sync(self, journal_file: JournalFile, end: int) -> None:
        try:
            journal_file.sync_to(end)
        except StorageError:
            # What reached the disk is unknown (the kernel may drop the pages it failed to
            # write): forget memory, so that the next use reads what the files hold.
            with self.mutex:
                self.loaded = False
            raise

    # -- compaction ------------------------------------------------------------------------

    def _maybe_compact(self) -> None:
        current = self._journal
        if not self.options.auto_compact or current is None:
            return
        snapshot_size = self._snapshot.size if self._snapshot else 0
        bound = max(self.options.compact_min_bytes, self.options.compact_ratio * snapshot_size)
        if current.offset > bound:
            self.compact()

    def compact(self) -> bool:
        """Fold the journal into ``<name>.json``; False when there was nothing to fold."""
        with self.locked():
            self._refresh_locked()
            if self._journal is None:
                return False
            self._write_snapshot_locked()
            return True

    def create(self) -> None:
        """Make sure ``<name>.json`` exists, so that the collection is listed."""
        with self.locked():
            self._refresh_locked()
            if self._snapshot is None:
                self._write_snapshot_locked()

    def _write_snapshot_locked(self) -> None:
        """Write memory as the new ``<name>.json``; fold the journal into it if there is one."""
        if self._journal is not None:
            self._fold_journal_locked()
            return
        self._install_snapshot(
            atomic.write_atomically(self.snapshot_path, snapshot.render(self.data))
        )

    def _fold_journal_locked(self) -> None:
        """Replace ``<name>.json`` and the journal by one new ``<name>.json``, crash-safely.

        1. write the new file as ``.<name>.json.compacting``;  2. rename the journal to
        ``.<name>.journal.folded``;  3. rename the new file into place;  4. delete the folded
        journal. Whatever step a crash interrupts, the next load can tell, and finishes or undoes
        it (``layout.settle``): the old journal is never replayed onto the new
        file, which would move re-set keys to the end.
        """
        assert self._journal is not None
        fd = atomic.write_atomically(self._compacting_path, snapshot.render(self.data))
        try:
            os.replace(self.journal_path, self._folded_path)
            try:
                atomic.fsync_directory(self.directory)
                os.replace(self._compacting_path, self.snapshot_path)
            except BaseException:
                os.replace(self._folded_path, self.journal_path)
                raise
        except BaseException:
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(self._compacting_path)
            raise
        atomic.fsync_directory(self.directory)
        self._install_snapshot(fd)
        self._journal.retire()
        self._journal = None
        atomic.remove_file(self._folded_path)

    def _install_snapshot(self, fd: int) -> None:
        if self._snapshot is not None:
            os.close(self._snapshot.fd)
        self._snapshot = _FileIdentity.of(fd)

    def drop(self) -> bool:
        """Delete the collection's files; False when there were none."""
        with self.locked():
            return self.remove_files_locked()

    # -- restore, in phases (see backup.restore_backup); both locks held throughout -------------

    def settle_locked(self) -> None:
        """Fold the journal, so that the collection is its ``.json`` alone (data unchanged).

        Then a crash during the restore leaves each collection whole, old or new, never a new
        file under an old journal. A corrupt collection is forgotten instead, to be replaced.
        """
        if self._refresh_or_forget_locked():
            if self._journal is not None:
                self._write_snapshot_locked()
        else:
            atomic.remove_file(self.journal_path)
            atomic.fsync_directory(self.directory)

    def stage_locked(self, raw: bytes) -> int:
        """Write ``raw`` beside the collection, fsynced, not yet in place."""
        return atomic.write_atomically(self._staged_path, [raw])

    def unstage_locked(self, fd: int | None) -> None:
        if fd is not None:
            os.close(fd)
        atomic.remove_file(self._staged_path)

    def install_staged_locked(self, fd: int, data: dict[str, bytes]) -> None:
        os.replace(self._staged_path, self.snapshot_path)
        atomic.fsync_directory(self.directory)
        self._install_snapshot(fd)
        self.data = data
        self.loaded = True
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
        for path in (self.journal_path, self.snapshot_path, self._compacting_path):
            atomic.remove_file(path)
        atomic.fsync_directory(self.directory)
        self.data = {}
        return existed

    def close(self) -> None:
        """Commit what is queued, fold the journal into the snapshot, release descriptors."""
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
        try:
            if self.loaded and self._journal is not None:
                with self.locked():
                    self._refresh_locked()
                    if self._journal is not None:
                        self._write_snapshot_locked()
        finally:  # release the files even when folding failed (the journal stays on disk)
            with self.mutex:
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


def _after_fork_in_child() -> None:
    for store in list(_every_store):
        store._after_fork_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)

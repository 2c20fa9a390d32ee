"""One collection's state in this process: its files, its data in memory, and the locks on both.

All ``AsyncJSONDB`` objects of a process that open the same folder share one ``CollectionStore``
per collection (see ``registry``), so they are consistent with each other at once. Writes reach it
through its ``commits.CommitQueue``; ``compaction`` writes its ``<name>.json``.

Freshness: every change of the files bumps the collection's shared ``changes`` counter under the
locks, and memory is trusted while the counter still holds the value seen at the last refresh
(and, as an upper bound, for ``cache_ttl``).

Locking: ``mutex`` (a ``threading.Lock``) guards this process's state; the ``ProcessLock`` on
``.<name>.lock`` guards the files between processes. Both are taken, in that order and within one
``lock_timeout``, in worker threads (``locked``); an event loop only tries them, without waiting
(``lock_if_current``, for inline commits). Methods named ``*_locked`` expect the caller to
hold both.

Readers on event loops take no lock: a commit's records change ``data`` in one pass of C code,
and a load (or a batch after a ``clear``) builds a new dict whose reference is swapped in, so a
reader sees all of a batch or none of it (``batches``). A closed store refuses use
(``DatabaseClosedError``), and so does one whose failed write could not be undone on disk.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from ...bridge import quick_switches, reset_after_fork
from ...codec import bulk_decoding
from ...errors import (
    CorruptFileError,
    DatabaseClosedError,
    DatabaseError,
    LockTimeoutError,
    ReadOnlyError,
    StorageError,
)
from ...options import Options
from . import atomic, batches, journal, layout, snapshot
from .atomic import FileIdentity
from .catalog import Catalog
from .changes import UNOPENED, ChangeCounter, Counter, open_counter
from .journal import JournalFile, Record
from .layout import CollectionFiles
from .locks import ProcessLock
from .segments import Records


class CollectionStore:
    def __init__(self, directory: Path, name: str, options: Options) -> None:
        self.directory = directory
        self.name = name
        self.options = options  # the folder-wide ones: lock_timeout, compaction
        self.paths = CollectionFiles(directory, name)
        self.read_only = options.read_only  # then nothing here writes a file
        self.plock = ProcessLock(self.paths.lock, options.lock_timeout, read_only=self.read_only)
        self.data: Records = {}
        self.catalog = Catalog(self.paths.indexes)
        self.version = 0  # odd while ``data`` is changed in place (``slices`` reads it in slices)
        self.changes: Counter = UNOPENED  # mapped at the first refresh (a fork keeps the map)
        self.closed = False
        self._unusable: DatabaseError | None = None
        self._reset_process_state()
        reset_after_fork(self)

    def _reset_process_state(self) -> None:
        self.mutex = threading.Lock()
        self.compacting = threading.Lock()  # one compaction at a time (``compaction``)
        self.loaded = False
        self.checked_at = float("-inf")
        self.seen = -1  # the change counter when memory last matched the files
        self._snapshot: FileIdentity | None = None
        self._journal: JournalFile | None = None

    def after_fork_in_child(self) -> None:
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
            self._check_usable()
            self.plock.acquire(timeout=max(0.0, deadline - time.monotonic()))
            try:
                with atomic.as_storage_errors("use", self.paths.snapshot):
                    yield
            finally:
                self.plock.release()
        finally:
            self.mutex.release()

    def lock_if_current(self) -> bool:
        """Take both locks without waiting, only if memory is current; True if taken (then
        ``unlock``). False when a lock is busy, another process (or a failed write) changed the
        files since this process last looked, there is no shared counter to tell (network file
        systems), the collection's files are not open yet, or a unique index must be built first:
        the write goes to the pool then."""
        if not self.mutex.acquire(blocking=False):
            return False
        try:
            if self._current() and self.plock.try_acquire():
                if self.changes.read() == self.seen:  # nobody wrote between the look and the lock
                    return True
                self.plock.release()
        except DatabaseError:  # the pool's path reports it, with its retries and timeout
            pass
        self.mutex.release()
        return False

    def _current(self) -> bool:
        return (
            self.usable
            and self.loaded
            and not self.read_only
            and self._snapshot is not None
            and self._journal is not None
            and isinstance(self.changes, ChangeCounter)
            and self.changes.read() == self.seen
            and self.catalog.prepared  # building a unique index is the pool's work
        )

    def unlock(self) -> None:
        """Release what ``lock_if_current`` took."""
        self.plock.release()
        self.mutex.release()

    def compaction_due(self) -> bool:
        """Whether the journal has grown past ``compact_ratio`` times the snapshot's size."""
        current, options = self._journal, self.options
        if not options.auto_compact or current is None:
            return False
        return current.offset > max(
            options.compact_min_bytes, options.compact_ratio * self.snapshot_size
        )

    def _check_usable(self) -> None:
        if self.closed:
            raise DatabaseClosedError(self.directory)
        if self._unusable is not None:
            raise self._unusable

    # -- reading ---------------------------------------------------------------------------

    def is_fresh(self, ttl: float) -> bool:
        """Whether memory may be trusted: no system call, so a read can skip the pool."""
        return (
            self.loaded
            and self.changes.read() == self.seen
            and time.monotonic() - self.checked_at < ttl
        )

    def refresh(self) -> None:
        with self.locked():
            self.refresh_locked()

    def refresh_locked(self) -> None:
        """Bring memory up to date with the files."""
        started = time.monotonic()
        if self.changes is UNOPENED:
            self.changes = open_counter(self.paths.changes, read_only=self.read_only)
        seen = self.changes.read()  # read first: a change made meanwhile is read again later
        snapshot_stat = atomic.stat_or_none(self.paths.snapshot)
        if not self.loaded or not self._same_snapshot(snapshot_stat):
            self._load_locked()
        else:
            journal_stat = atomic.stat_or_none(self.paths.journal)
            current = self._journal
            if current is None:
                if layout.has_interrupted_rename(self.paths):
                    self._load_locked()  # settles it before anyone writes a new journal
                elif journal_stat is not None:
                    self._journal, _ = self._open_journal_locked(self.data)
            elif (
                journal_stat is None
                or journal_stat.st_ino != current.inode
                or journal_stat.st_size < current.offset
            ):
                self._load_locked()
            elif journal_stat.st_size > current.offset:
                self._read_journal_locked(current, self.data)
            else:  # cut back to our end by another process: the zeros ahead are gone
                current.size = journal_stat.st_size
        self.catalog.reload_if_changed()
        self.checked_at, self.seen = started, seen

    def refresh_or_forget_locked(self) -> bool:
        """Refresh; if the files are corrupt, forget them instead. False when they were corrupt.

        Restoring over, or dropping, a corrupt collection is how one recovers from it.
        """
        try:
            self.refresh_locked()
        except CorruptFileError:
            self._forget_files()
            self.data = {}
            self.catalog.forget()
            self.loaded = False
            return False
        return True

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
        self.catalog.forget()  # built again from the new data when next used
        if self.read_only:
            _refuse_unfinished_compaction(self.paths)
        else:
            if layout.settle_leftovers(self.paths):  # a swap another process began: others
                self.changes.bump()  # that loaded before it read the collection again
        loaded = atomic.read_mapped(self.paths.snapshot)
        identity: FileIdentity | None = None
        data: Records = {}
        try:
            # millions of new objects: no collector passes over them; loops get the GIL quickly
            with bulk_decoding(), quick_switches():
                if loaded is not None:
                    identity = FileIdentity.of(loaded[1])
                    try:
                        data = snapshot.parse(loaded[0], self.paths.snapshot)
                    finally:
                        atomic.let_go(loaded[0])
                journal_file, data = self._open_journal_locked(data)
        except BaseException:
            if loaded is not None:
                os.close(loaded[1])
            raise
        self._snapshot, self._journal = identity, journal_file
        self.data = data  # replayed first, so readers never see a half-replayed collection
        self.loaded = True

    def _open_journal_locked(self, data: Records) -> tuple[JournalFile | None, Records]:
        """Open the journal and apply it to ``data``; the result replaces ``data`` (see
        ``_read_journal_locked``)."""
        opened = JournalFile.open(self.paths.journal, create=False, read_only=self.read_only)
        if opened is not None:
            try:
                data = self._read_journal_locked(opened, data)
            except BaseException:
                opened.retire()
                raise
        return opened, data

    def _read_journal_locked(self, journal_file: JournalFile, data: Records) -> Records:
        """Apply the journal's new records to ``data`` (``self.data`` or one being loaded),
        and return what replaces it: the same mapping, or a ``Segments`` copy past its size."""
        records, valid_end = journal_file.read_new()
        # We hold the lock, so nobody is mid-append: bytes past the valid end are a torn tail.
        if not self.read_only:  # a reader skips it, as the next writer will cut it
            journal_file.truncate_torn_tail(valid_end)
        self.catalog.follow(records, data.get)  # other processes' writes, checked by them
        if data is self.data:
            self.data = batches.prepared(self.data, records)
            self._apply(records)
            data = self.data
        else:
            data = batches.replay(data, records)
        journal_file.offset = journal_file.synced = valid_end
        return data

    def _forget_files(self) -> None:
        self.forget_snapshot()
        self.retire_journal()

    # -- the files, for the commit queue, compaction and restore ----------------------------

    @property
    def has_snapshot(self) -> bool:
        return self._snapshot is not None

    @property
    def snapshot_size(self) -> int:
        return self._snapshot.size if self._snapshot else 0

    @property
    def pinned_snapshot(self) -> FileIdentity | None:
        """The loaded ``<name>.json``: its descriptor and identity."""
        return self._snapshot

    def adopt_journal(self, journal_file: JournalFile | None) -> None:
        """Take ``journal_file`` (whose records memory already holds) as the open journal."""
        self.retire_journal()
        self._journal = journal_file

    @property
    def journal(self) -> JournalFile | None:
        """The open journal, if the collection has one."""
        return self._journal

    def commit_locked(self, records: list[Record], durable: bool) -> None:
        """Append ``records`` to the journal (made if needed), sync it if ``durable``, and only
        then apply them to memory. A write that raises leaves memory and the journal as they were.
        """
        journal_file = self._journal
        if journal_file is None:
            journal_file = JournalFile.open(self.paths.journal, create=True)
            assert journal_file is not None
            try:
                atomic.fsync_directory(self.directory)
            except OSError as exc:  # nothing appended yet: the next write tries again
                journal_file.retire()
                raise StorageError("sync the folder of", self.paths.journal, exc) from exc
            self._journal = journal_file
        start = journal_file.offset
        payload = b"".join(journal.frame(record) for record in records)
        self.data = batches.prepared(self.data, records)  # may fail: before the append
        self.will_change()
        try:
            end = journal_file.append(payload)
            if durable:
                journal_file.sync_to(end)
        except StorageError as exc:
            self._undo_append(journal_file, start, len(payload), exc)
            raise
        self._apply(records)
        self.seen = self.changes.bump()

    def will_change(self) -> None:
        """Bump the counter before changing the files (call with the locks held), as well as
        after: a process that dies midway leaves it moved, so that no other process trusts its
        memory and writes inline past changes it has not read."""
        self.changes.bump()

    def _undo_append(
        self, journal_file: JournalFile, start: int, length: int, cause: BaseException
    ) -> None:
        """Cut the journal back to ``start`` after a failed append or sync, and make the cut
        durable (``fsync``: the size is metadata). If that fails, the page cache cannot be
        trusted: the collection refuses use until it is opened again, and an uncut append is
        overwritten with zeros, which every reader takes for the zeros written ahead."""
        try:
            journal_file.cut_back(start)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.pwrite(journal_file.fd, bytes(length), start)
            self._refuse_use(cause, exc)
            return
        try:
            os.fsync(journal_file.fd)
        except OSError as exc:
            self._refuse_use(cause, exc)
            return

    def _refuse_use(self, cause: BaseException, exc: OSError) -> None:
        self._unusable = StorageError(
            "undo a failed write (close and reopen the database) in", self.paths.journal, exc
        )
        self._unusable.__cause__ = cause

    def _apply(self, records: list[Record]) -> None:
        """Apply committed records to memory, each batch whole or not at all for readers
        (``batches``); ``version`` is odd meanwhile, for bulk reads between slices. The caller
        has made ``data`` ready for them (``batches.prepared``: a dict that would pass the size
        is copied first, and readers keep reading it meanwhile)."""
        self.version += 1
        try:
            self.data = batches.apply_committed(self.data, records)
        finally:
            self.version += 1

    def use_snapshot(self, fd: int, data: Records | None = None) -> None:
        """Adopt the ``<name>.json`` just put in place (``fd`` pins it); with ``data``, as the
        collection's new contents."""
        if self._snapshot is not None:
            os.close(self._snapshot.fd)
        self._snapshot = FileIdentity.of(fd)
        if data is not None:
            self.data = data
            self.catalog.forget()
            self.loaded = True
            self.checked_at = time.monotonic()
        self.seen = self.changes.bump()

    def forget_snapshot(self) -> None:
        """Close ``<name>.json``'s descriptor: the file is about to go."""
        if self._snapshot is not None:
            os.close(self._snapshot.fd)
            self._snapshot = None

    def retire_journal(self) -> None:
        """Close the journal: its records are in the snapshot, or about to be forgotten."""
        if self._journal is not None:
            self._journal.retire()
            self._journal = None

    def remove_files_locked(self) -> bool:
        """Delete ``<name>.json`` and its journal; False when there were none.

        If it raises, memory is forgotten, so the next use reads whatever the files hold.
        """
        self.refresh_or_forget_locked()
        existed = self.paths.snapshot.exists() or self.paths.journal.exists()
        self.will_change()
        self._forget_files()
        self.loaded = False
        layout.remove_collection(self.paths)
        self.data = {}
        self.catalog.remove()  # a dropped collection's indexes go with it
        self.loaded = True
        self.seen = self.changes.bump()
        return existed

    def create_index(self, path: str, unique: bool) -> bool:
        with self.locked():
            self.refresh_locked()
            self.will_change()
            created = self.catalog.create(path, unique, self.data)
            self.seen = self.changes.bump()  # other processes read the definitions again
            return created

    def drop_index(self, path: str) -> bool:
        with self.locked():
            self.refresh_locked()
            self.will_change()
            dropped = self.catalog.drop(path)
            self.seen = self.changes.bump()
            return dropped

    def drop(self) -> bool:
        """Delete the collection's files; False when there were none."""
        with self.locked():
            return self.remove_files_locked()

    @property
    def usable(self) -> bool:
        return not self.closed and self._unusable is None

    def close(self) -> None:
        """Release the descriptors and the lock file (the caller has committed and folded);
        every later use raises ``DatabaseClosedError``."""
        with self.mutex:
            self.closed = True
            self._forget_files()
            self.loaded = False
            self.plock.close()
            changes, self.changes = self.changes, UNOPENED
            changes.close()


def _refuse_unfinished_compaction(paths: CollectionFiles) -> None:
    """Without finishing a compaction that a crash interrupted, the files hold the collection
    only in part, and finishing it writes: a reader says so instead of reading them."""
    if paths.folded.exists():
        operation = f"finishing an interrupted compaction of {paths.name!r} (open it once writable)"
        raise ReadOnlyError(paths.directory, operation)

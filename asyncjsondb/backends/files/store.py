"""One collection's state in this process: its files, its data in memory, and the locks on both.

All ``AsyncJSONDB`` objects of a process that open the same folder share one ``CollectionStore``
per collection (see ``registry``), so they are consistent with each other at once. Writes reach it
through its ``commits.CommitQueue``; ``compaction`` writes its ``<name>.json``.

Locking: ``mutex`` (a ``threading.Lock``) guards this process's state; the ``ProcessLock`` on
``.<name>.lock`` guards the files between processes. Both are taken, in that order and within one
``lock_timeout``, only in worker threads, never on an event loop (``locked``). Methods named
``*_locked`` expect the caller to hold both.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from ...bridge import reset_after_fork
from ...errors import CorruptFileError, LockTimeoutError, ReadOnlyError, StorageError
from ...options import Options
from . import atomic, journal, layout, snapshot
from .atomic import FileIdentity
from .journal import JournalFile, Record
from .layout import CollectionFiles
from .locks import ProcessLock


class CollectionStore:
    def __init__(self, directory: Path, name: str, options: Options) -> None:
        self.directory = directory
        self.name = name
        self.options = options  # the folder-wide ones: lock_timeout, compaction
        self.paths = CollectionFiles(directory, name)
        self.read_only = options.read_only  # then nothing here writes a file
        self.plock = ProcessLock(self.paths.lock, options.lock_timeout, read_only=self.read_only)
        self.data: dict[str, bytes] = {}
        self._reset_process_state()
        reset_after_fork(self)

    def _reset_process_state(self) -> None:
        self.mutex = threading.Lock()
        self.loaded = False
        self.checked_at = float("-inf")
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
            self.plock.acquire(timeout=max(0.0, deadline - time.monotonic()))
            try:
                with atomic.as_storage_errors("use", self.paths.snapshot):
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
            self.refresh_locked()

    def refresh_locked(self) -> None:
        """Bring memory up to date with the files."""
        started = time.monotonic()
        snapshot_stat = atomic.stat_or_none(self.paths.snapshot)
        if not self.loaded or not self._same_snapshot(snapshot_stat):
            self._load_locked()
        else:
            journal_stat = atomic.stat_or_none(self.paths.journal)
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

    def refresh_or_forget_locked(self) -> bool:
        """Refresh; if the files are corrupt, forget them instead. False when they were corrupt.

        Restoring over, or dropping, a corrupt collection is how one recovers from it.
        """
        try:
            self.refresh_locked()
        except CorruptFileError:
            self._forget_files()
            self.data = {}
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
        if self.read_only:
            _refuse_unfinished_compaction(self.paths)
        else:
            layout.settle_leftovers(self.paths)
        loaded = atomic.read_file(self.paths.snapshot)
        identity: FileIdentity | None = None
        data: dict[str, bytes] = {}
        try:
            if loaded is not None:
                identity = FileIdentity.of(loaded[1])
                data = snapshot.parse(loaded[0], self.paths.snapshot)
            journal_file = self._open_journal_locked(data)
        except BaseException:
            if loaded is not None:
                os.close(loaded[1])
            raise
        self._snapshot, self._journal = identity, journal_file
        self.data = data  # replayed first, so readers never see a half-replayed collection
        self.loaded = True

    def _open_journal_locked(self, data: dict[str, bytes]) -> JournalFile | None:
        opened = JournalFile.open(self.paths.journal, create=False, read_only=self.read_only)
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
        if not self.read_only:  # a reader skips it, as the next writer will cut it
            journal_file.truncate_torn_tail(valid_end)
        journal.apply(data, records)
        journal_file.offset = journal_file.synced = valid_end

    def _forget_files(self) -> None:
        if self._snapshot is not None:
            os.close(self._snapshot.fd)
            self._snapshot = None
        self.retire_journal()

    # -- the files, for the commit queue, compaction and restore ----------------------------

    @property
    def has_snapshot(self) -> bool:
        return self._snapshot is not None

    @property
    def snapshot_size(self) -> int:
        return self._snapshot.size if self._snapshot else 0

    @property
    def journal(self) -> JournalFile | None:
        """The open journal, if the collection has one."""
        return self._journal

    def append_locked(self, records: list[Record]) -> tuple[JournalFile, int]:
        """Append ``records`` to the journal (made if needed), then apply them to memory.

        Returns the journal and the end of the appended bytes, for the caller to sync to.
        """
        journal_file = self._journal
        if journal_file is None:
            journal_file = JournalFile.open(self.paths.journal, create=True)
            assert journal_file is not None
            atomic.fsync_directory(self.directory)
            self._journal = journal_file
        end = journal_file.append(b"".join(journal.frame(record) for record in records))
        journal.apply(self.data, records)
        return journal_file, end

    def sync(self, journal_file: JournalFile, end: int) -> None:
        """Make the journal durable up to ``end``; on failure forget memory."""
        try:
            journal_file.sync_to(end)
        except StorageError:
            # What reached the disk is unknown (the kernel may drop the pages it failed to
            # write): forget memory, so that the next use reads what the files hold.
            with self.mutex:
                self.loaded = False
            raise

    def use_snapshot(self, fd: int, data: dict[str, bytes] | None = None) -> None:
        """Adopt the ``<name>.json`` just put in place (``fd`` pins it); with ``data``, as the
        collection's new contents."""
        if self._snapshot is not None:
            os.close(self._snapshot.fd)
        self._snapshot = FileIdentity.of(fd)
        if data is not None:
            self.data = data
            self.loaded = True
            self.checked_at = time.monotonic()

    def retire_journal(self) -> None:
        """Close the journal: its records are in the snapshot, or about to be forgotten."""
        if self._journal is not None:
            self._journal.retire()
            self._journal = None

    def remove_files_locked(self) -> bool:
        """Delete ``<name>.json`` and its journal; False when there were none."""
        self.refresh_or_forget_locked()
        existed = self.paths.snapshot.exists() or self.paths.journal.exists()
        self._forget_files()
        for path in (self.paths.journal, self.paths.snapshot, self.paths.compacting):
            atomic.remove_file(path)
        atomic.fsync_directory(self.directory)
        self.data = {}
        return existed

    def drop(self) -> bool:
        """Delete the collection's files; False when there were none."""
        with self.locked():
            return self.remove_files_locked()

    def close(self) -> None:
        """Release the descriptors and the lock file (the caller has committed and folded)."""
        with self.mutex:
            self._forget_files()
            self.loaded = False
            self.plock.close()


def _refuse_unfinished_compaction(paths: CollectionFiles) -> None:
    """Without finishing a compaction that a crash interrupted, the files hold the collection
    only in part, and finishing it writes: a reader says so instead of reading them."""
    if paths.folded.exists():
        operation = f"finishing an interrupted compaction of {paths.name!r} (open it once writable)"
        raise ReadOnlyError(paths.directory, operation)

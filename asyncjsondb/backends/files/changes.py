"""A collection's change counter in shared memory: how a read knows, without a system call, that
another process (or database object) has changed the collection since this process last looked.

``.<name>.changes`` holds one 64-bit counter, mapped into every process that uses the collection,
as SQLite's ``-shm`` file holds its wal-index. Every change of the collection's files happens under
its process lock and bumps the counter before it is acknowledged; a read compares the counter with
the value its memory was last brought up to date at, which is one load from memory.

Where the file system refuses a shared mapping (some FUSE file systems), there is no counter and
reads rely on ``cache_ttl`` alone. Processes on other hosts of a network file system share no memory
with this one: their writes are seen within ``cache_ttl`` (docs/freshness.md).
"""

from __future__ import annotations

import errno
import mmap
import os
from pathlib import Path

from ...errors import StorageError

_SIZE = 8  # one unsigned 64-bit counter, native byte order (the machine's processes share it)


class ChangeCounter:
    """The mapped counter; ``read`` is a memory load, ``bump`` is for holders of the lock."""

    __slots__ = ("_map", "_view")

    def __init__(self, mapping: mmap.mmap) -> None:
        self._map = mapping
        self._view = memoryview(mapping).cast("Q")

    def read(self) -> int:
        try:
            return self._view[0]
        except ValueError:  # closed by another thread meanwhile: never equal to a seen value
            return -1

    def bump(self) -> int:
        """Count one change; return the new value (the caller holds the process lock)."""
        value = (self._view[0] + 1) & 0xFFFF_FFFF_FFFF_FFFF
        self._view[0] = value
        return value

    def close(self) -> None:
        self._view.release()
        self._map.close()


class NoCounter:
    """No shared memory: the counter never moves, so freshness is ``cache_ttl``'s alone."""

    __slots__ = ()

    def read(self) -> int:
        return 0

    def bump(self) -> int:
        return 0

    def close(self) -> None:
        pass


class AwaitedCounter:
    """A reader's counter whose file no writer has made yet (the collection is new, or was made
    by an older version): each read looks for the file (one failed ``open``) and returns a value
    never returned before, so that memory is never trusted until the file exists; from then on
    it reads the mapped counter. Without it, such a reader would trust memory for ``cache_ttl``
    after a writer created the collection and wrote."""

    __slots__ = ("_path", "_mapped", "_misses")

    def __init__(self, path: Path) -> None:
        self._path = path
        self._mapped: ChangeCounter | None = None
        self._misses = -1  # counts down: a counter's own values are never negative

    def read(self) -> int:
        if self._mapped is None:
            found = _read_only(self._path, awaiting=False)
            if not isinstance(found, ChangeCounter):
                self._misses -= 1
                return self._misses
            self._mapped = found
        return self._mapped.read()

    def bump(self) -> int:  # pragma: no cover - readers never write
        return self.read()

    def close(self) -> None:
        if self._mapped is not None:
            self._mapped.close()
            self._mapped = None


Counter = ChangeCounter | NoCounter | AwaitedCounter
NO_COUNTER = NoCounter()  # this file system maps no shared memory
UNOPENED = NoCounter()  # not mapped yet (or closed)


def open_counter(path: Path, *, read_only: bool = False) -> Counter:
    """Map ``path``'s counter, creating the file at first use (call with the process lock held,
    so that no two processes create it at once); ``read_only``: map it for reading, if it exists."""
    if read_only:
        return _read_only(path)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        # A writer that could not bump the counter would change the collection unseen: another
        # process would trust its memory and append over the new records. So it refuses, before
        # it reads (a load may finish an interrupted compaction, which is a change too).
        if isinstance(exc, PermissionError) or exc.errno == errno.EROFS:
            action = "write the change counter (to only read, open with read_only=True)"
            raise StorageError(action, path, exc) from exc
        raise StorageError("open the change counter", path, exc) from exc
    try:
        if os.fstat(fd).st_size < _SIZE:
            # Real bytes, not a sparse extension: a page fault on a full disk would be SIGBUS.
            os.pwrite(fd, bytes(_SIZE), 0)
        try:
            mapping = mmap.mmap(fd, _SIZE)
        except OSError:  # no shared mapping on this file system
            return NO_COUNTER
    except OSError as exc:
        raise StorageError("prepare the change counter", path, exc) from exc
    finally:
        os.close(fd)
    return ChangeCounter(mapping)


def _read_only(path: Path, *, awaiting: bool = True) -> Counter:
    """A process that may not write the folder still sees the writers' counter, if there is one;
    until a writer makes it (``awaiting``), it keeps looking (``AwaitedCounter``)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return AwaitedCounter(path) if awaiting else NO_COUNTER
    except OSError:  # unreadable: ``cache_ttl`` alone, as where nothing can be mapped
        return NO_COUNTER
    try:
        if os.fstat(fd).st_size < _SIZE:  # a writer is making it, under the lock
            return AwaitedCounter(path) if awaiting else NO_COUNTER
        return ChangeCounter(mmap.mmap(fd, _SIZE, access=mmap.ACCESS_READ))
    except OSError:
        return NO_COUNTER
    finally:
        os.close(fd)


def existing_counter(path: Path) -> Counter:
    """The counter, for a holder of the process lock about to change the files outside a store
    (a repair): StorageError before the change if it may not be written; without a counter
    file, no process has mapped one to tell (``NO_COUNTER``)."""
    return open_counter(path) if path.exists() else NO_COUNTER

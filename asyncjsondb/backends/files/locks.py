"""The cross-process lock of one collection (or of a whole database folder).

``filelock.lock_descriptor`` takes an OS lock (``flock`` on Unix, ``LockFileEx`` on Windows) on a
descriptor we keep open, which costs about a microsecond; filelock's ``FileLock`` object reopens
its file on every acquire, which costs ~75 us here, a third of an fsync. Waiting polls with a short
back-off so that a lock held for microseconds is not waited for in 50 ms steps.

Every OS failure comes out as ``StorageError``. An unlock that fails closes the descriptor instead:
closing the last descriptor of an open file releases its ``flock``, so a lock is never left held
by a process that goes on running.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from pathlib import Path
from types import TracebackType

from filelock import lock_descriptor, unlock_descriptor

from ...errors import LockTimeoutError, StorageError

_FIRST_WAIT = 0.0001
_LONGEST_WAIT = 0.005
_log = logging.getLogger("asyncjsondb")


class ProcessLock:
    """An exclusive lock between processes; not reentrant, and not a lock between threads.

    ``read_only``: open the lock file for reading and never create it (``flock`` locks a
    descriptor opened for reading just the same); where it is absent or unreadable, nobody is
    locked out and the lock is skipped.
    """

    def __init__(self, path: Path, timeout: float, *, read_only: bool = False) -> None:
        self.path = path
        self.timeout = timeout
        self.read_only = read_only
        self._fd: int | None = None
        self._pid = 0

    def _descriptor(self) -> int | None:
        # A forked child shares the parent's open file description, and with it the lock: reopen.
        if self._fd is None or self._pid != os.getpid():
            flags = os.O_RDONLY if self.read_only else os.O_RDWR | os.O_CREAT
            try:
                self._fd = os.open(self.path, flags, 0o644)
            except OSError as exc:
                if self.read_only and isinstance(exc, (FileNotFoundError, PermissionError)):
                    return None
                raise StorageError("open lock file", self.path, exc) from exc
            self._pid = os.getpid()
        return self._fd

    def acquire(self, timeout: float | None = None) -> None:
        fd = self._descriptor()
        if fd is None or self._try_lock(fd):
            return
        limit = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + limit
        wait = _FIRST_WAIT
        while True:
            time.sleep(wait)
            if self._try_lock(fd):
                return
            if time.monotonic() >= deadline:
                raise LockTimeoutError(self.path, limit)
            wait = min(wait * 2, _LONGEST_WAIT)

    def try_acquire(self) -> bool:
        """Take the lock only if it is free now; never waits (the event loop's way in)."""
        fd = self._descriptor()
        return fd is None or self._try_lock(fd)

    def _try_lock(self, fd: int) -> bool:
        try:
            return lock_descriptor(fd, blocking=False)
        except OSError as exc:
            raise StorageError("lock", self.path, exc) from exc

    def release(self) -> None:
        """Unlock; if the OS refuses, close the descriptor, which releases the lock all the same
        (the next ``acquire`` opens the file again)."""
        if self._fd is None:
            return
        try:
            unlock_descriptor(self._fd)
        except OSError:
            _log.warning("unlocking %s failed; closing it instead", self.path, exc_info=True)
            self._close_descriptor()

    def _close_descriptor(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None and self._pid == os.getpid():
            with contextlib.suppress(OSError):  # Linux frees the descriptor even on error
                os.close(fd)

    def forget_after_fork(self) -> None:
        """In a forked child: close the inherited descriptor, which shares the parent's lock."""
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
        self._fd = None

    def close(self) -> None:
        self._close_descriptor()

    def __enter__(self) -> ProcessLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()

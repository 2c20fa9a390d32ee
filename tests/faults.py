"""Fault injection at the operating system's door: count the OS calls an operation makes, and fail
(or die at) the Nth one.

The engine calls ``os.x(...)`` and ``fcntl.flock(...)`` through their modules, so patching the
module attributes reaches every call, from the event loop and from pool threads alike, whatever
module of the package makes it. Nothing internal to the package is named here.
"""

from __future__ import annotations

import errno
import fcntl
import os
import signal
import threading
from collections.abc import Callable
from types import ModuleType, TracebackType
from typing import Any

#: The calls that change or lock files: where a real disk, full or failing, says no.
FAULTABLE: tuple[tuple[ModuleType, str], ...] = tuple(
    (module, name)
    for module, name in (
        (os, "open"),
        (os, "write"),
        (os, "pwrite"),
        (os, "fsync"),
        (os, "fdatasync"),
        (os, "replace"),
        (os, "rename"),
        (os, "unlink"),
        (os, "ftruncate"),
        (os, "mkdir"),
        (os, "rmdir"),
        (fcntl, "flock"),
    )
    if hasattr(module, name)
)


class SyscallFaults:
    """While entered, count every call in ``FAULTABLE``; the ``at``-th call fails or kills.

    ``action="fail"`` raises ``OSError(error)`` instead of making the call (once: later calls
    succeed, as a transient disk error would); ``action="kill"`` SIGKILLs the process before the
    call, as a power cut or ``kill -9`` would. ``matching(name, args)``, if given, picks
    further calls to hit (every one it accepts). An unlocking ``flock`` is named
    ``fcntl.flock-unlock``. With ``at=None`` it only counts. ``calls`` lists the
    names called, in order; ``fired`` is the name of the call that was hit, if any.
    """

    def __init__(
        self,
        at: int | None = None,
        *,
        action: str = "fail",
        error: int = errno.EIO,
        matching: Callable[[str, tuple[Any, ...]], bool] | None = None,
    ) -> None:
        if action not in ("fail", "kill"):
            raise ValueError(f"action must be 'fail' or 'kill', not {action!r}")
        self.at = at
        self.matching = matching
        self.action = action
        self.error = error
        self.calls: list[str] = []
        self.fired: str | None = None
        self._lock = threading.Lock()
        self._saved: list[tuple[ModuleType, str, Callable[..., Any]]] = []

    def _wrap(self, module: ModuleType, name: str, real: Callable[..., Any]) -> Callable[..., Any]:
        name_of_call = f"{module.__name__}.{name}"

        def counted(*args: Any, **kwargs: Any) -> Any:
            label = name_of_call
            if name == "flock" and len(args) > 1 and args[1] & fcntl.LOCK_UN:
                label += "-unlock"
            with self._lock:
                self.calls.append(label)
                hit = (self.at is not None and len(self.calls) == self.at) or (
                    self.matching is not None and self.matching(label, args)
                )
                if hit:
                    self.fired = self.fired or label
            if hit:
                if self.action == "kill":
                    os.kill(os.getpid(), signal.SIGKILL)
                raise OSError(self.error, f"{os.strerror(self.error)} (injected at {label})")
            return real(*args, **kwargs)

        return counted

    def __enter__(self) -> SyscallFaults:
        for module, name in FAULTABLE:
            real = getattr(module, name)
            self._saved.append((module, name, real))
            setattr(module, name, self._wrap(module, name, real))
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        for module, name, real in reversed(self._saved):
            setattr(module, name, real)
        self._saved.clear()

    @property
    def count(self) -> int:
        return len(self.calls)


def open_descriptors() -> set[str]:
    """This process's open descriptors and what each points to, from /proc/self/fd."""
    found = set()
    for entry in os.listdir("/proc/self/fd"):
        try:
            found.add(f"{entry} -> {os.readlink(f'/proc/self/fd/{entry}')}")
        except FileNotFoundError:  # the descriptor listdir itself used
            continue
    return found


_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


class ReadOnlyMedia:
    """While entered, the file system refuses every change, as a read-only mount does (EROFS).

    Root ignores permission bits and the tests cannot mount, so read-only media are injected:
    opening for writing, creating, renaming, removing and truncating fail, and ``os.access``
    reports no write access.
    """

    def __init__(self) -> None:
        self._saved: list[tuple[str, Callable[..., Any]]] = []

    @staticmethod
    def _refuse(*args: Any, **kwargs: Any) -> Any:
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    def __enter__(self) -> ReadOnlyMedia:
        real_open, real_access = os.open, os.access

        def open_for_reading(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
            if flags & _WRITE_FLAGS:
                raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
            return real_open(path, flags, *args, **kwargs)

        def access(path: Any, mode: int, *args: Any, **kwargs: Any) -> bool:
            return not mode & os.W_OK and real_access(path, mode, *args, **kwargs)

        replacements: dict[str, Callable[..., Any]] = {"open": open_for_reading, "access": access}
        for name in ("mkdir", "replace", "rename", "unlink", "rmdir", "ftruncate"):
            replacements[name] = self._refuse
        for name, replacement in replacements.items():
            self._saved.append((name, getattr(os, name)))
            setattr(os, name, replacement)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        for name, real in reversed(self._saved):
            setattr(os, name, real)
        self._saved.clear()

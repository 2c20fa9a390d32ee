"""Crash-safe file primitives: a data file is never rewritten in place.

New contents go to a temp file in the same folder, are fsynced, then ``os.replace`` puts them in
place and the folder is fsynced, so a crash at any moment leaves either the old or the new file.
"""

from __future__ import annotations

import contextlib
import errno
import io
import mmap
import os
import re
import secrets
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from filelock import lock_descriptor

from ...errors import StorageError

TEMP_MARKER = ".tmp-"


@dataclass
class FileIdentity:
    """Which version of a file is loaded: its pinned descriptor, inode, size and mtime.

    The open descriptor keeps the inode allocated, so no other file can take its number.
    """

    fd: int
    inode: int
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, fd: int) -> FileIdentity:
        stat = os.fstat(fd)
        return cls(fd, stat.st_ino, stat.st_size, stat.st_mtime_ns)

    def matches(self, stat: os.stat_result | None) -> bool:
        return (
            stat is not None
            and stat.st_ino == self.inode
            and stat.st_size == self.size
            and stat.st_mtime_ns == self.mtime_ns
        )


_TEMP_NAME = re.compile(r"\.(.+)\.tmp-[0-9a-f]{12}")  # exactly what ``temp_path_for`` makes


def temp_path_for(path: Path) -> Path:
    """A hidden, unique sibling of ``path``, to write it atomically: ``.<name>.tmp-<12 hex>``."""
    return path.with_name(f".{path.name}{TEMP_MARKER}{secrets.token_hex(6)}")


def written_by_temp(file_name: str) -> str | None:
    """The name of the file a temp file was writing; None if ``file_name`` is not a temp file.

    Only the exact form counts, so that no other file (``.a.json.tmp-1.lock``, the lock of
    collection ``a.json.tmp-1``) is ever taken for a temp file of ``a.json``.
    """
    match = _TEMP_NAME.fullmatch(file_name)
    return match.group(1) if match else None


def _create_temp(path: Path) -> tuple[Path, int]:
    """A new temp file for ``path``, opened for reading and writing."""
    temp = temp_path_for(path)
    try:
        return temp, os.open(temp, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
    except OSError as exc:
        raise StorageError("create", temp, exc) from exc


def create_claimed_temp(path: Path) -> tuple[Path, int]:
    """Create a temp file for ``path`` and claim it (a ``flock`` held while its descriptor, or a
    copy of it in a child process, is open): ``is_claimed`` tells other processes it is live."""
    temp, fd = _create_temp(path)
    try:
        if not lock_descriptor(fd, blocking=False):  # a new file: nobody else can hold it
            raise OSError(errno.EAGAIN, "a new temp file is locked by another process")
    except OSError as exc:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise StorageError("lock", temp, exc) from exc
    return temp, fd


def is_claimed(path: Path) -> bool:
    """Whether a live writer holds ``path`` (``create_claimed_temp``): then it is no leftover."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        return not lock_descriptor(fd, blocking=False)
    finally:
        os.close(fd)  # and with it the lock just taken


def fsync_directory(directory: Path) -> None:
    """Make renames and unlinks in ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomically(path: Path, chunks: Iterable[bytes], *, durable: bool = True) -> int:
    """Replace ``path`` with ``chunks``; return an open read-only descriptor of the new file.

    The descriptor pins the inode, so its number identifies this version of the file for as long as
    the caller keeps it open. On any failure the old file is untouched and the temp file removed.
    """
    temp, fd = _create_temp(path)
    try:
        with open(fd, "wb", closefd=False) as stream:
            stream.writelines(chunks)
        if durable:
            os.fsync(fd)
        os.replace(temp, path)
        if durable:
            fsync_directory(path.parent)
    except BaseException as exc:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(temp)
        if isinstance(exc, OSError):
            raise StorageError("write", path, exc) from exc
        raise
    return fd


def remove_file(path: Path) -> bool:
    """Unlink ``path``; False when it was not there."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise StorageError("remove", path, exc) from exc
    return True


@contextlib.contextmanager
def as_storage_errors(action: str, path: Path) -> Iterator[None]:
    """Let no bare OSError out: the one error a caller sees is StorageError."""
    try:
        yield
    except StorageError:
        raise
    except OSError as exc:
        raise StorageError(action, getattr(exc, "filename", None) or path, exc) from exc


def stat_or_none(path: Path) -> os.stat_result | None:
    try:
        return os.stat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StorageError("stat", path, exc) from exc


Contents = bytes | mmap.mmap
T = TypeVar("T")


def read_file(path: Path) -> tuple[bytes, int] | None:
    """Read ``path``; return its bytes and a descriptor pinning it, or None if it is absent."""
    return _read(path, _read_bytes)


def read_mapped(path: Path) -> tuple[Contents, int] | None:
    """``read_file`` into memory of its own (an anonymous ``mmap``), which ``let_go`` frees.

    Freeing a ``bytes`` of 200 MB unmaps it with the GIL held: ~15 ms that every event loop of
    the process waits. Closing a map lets the GIL go meanwhile.
    """
    return _read(path, _read_into_map)


def _read(path: Path, read: Callable[[io.BufferedReader, int], T]) -> tuple[T, int] | None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StorageError("open", path, exc) from exc
    try:
        size = os.fstat(fd).st_size
        with open(fd, "rb", closefd=False) as stream:
            data = read(stream, size)
    except OSError as exc:
        os.close(fd)
        raise StorageError("read", path, exc) from exc
    return data, fd


def _read_bytes(stream: io.BufferedReader, size: int) -> bytes:
    data = stream.read(size)
    return data + stream.read()  # what a writer appended meanwhile (a hand edit)


def _read_into_map(stream: io.BufferedReader, size: int) -> Contents:
    try:
        contents = mmap.mmap(-1, size)
    except (OSError, ValueError):  # empty, or no memory to map: read it as bytes
        return _read_bytes(stream, size)
    try:
        if stream.readinto(contents) == size and not stream.read(1):
            return contents
    except BaseException:
        contents.close()
        raise
    contents.close()  # the size changed meanwhile (a hand edit): read it as it is
    stream.seek(0)
    return _read_bytes(stream, size)


def let_go(contents: Contents) -> None:
    """Free what ``read_mapped`` read, now (a map without holding the GIL)."""
    if not isinstance(contents, bytes):
        contents.close()

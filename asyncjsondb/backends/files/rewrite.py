"""Rendering a large collection's new ``<name>.json`` in a child process, off the locks.

``compaction`` captures, under the collection's locks, descriptors of ``<name>.json`` and of the
journal and the journal's valid end X; then, with the locks released, a child process (``python -m
asyncjsondb.backends.files.rewrite``) reads the snapshot and the journal up to X, folds them and
writes the result into a claimed temp file (``atomic.create_claimed_temp``). The parent holds no
second copy of the collection, and its GIL is free for writers meanwhile. The child runs at nice
10, fdatasyncs every ``SYNC_EVERY`` bytes and then rests as long as the sync took, so that
writers' fsyncs are not queued behind a long flush of its dirty pages. It exits when its parent
dies. The swap (``compaction.fold_journal_locked``) happens under the locks again.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ...codec import bulk_decoding
from ...errors import StorageError
from . import atomic, batches, journal, snapshot
from .layout import CollectionFiles
from .segments import Records

SYNC_EVERY = 1 << 18  # bytes written between two fdatasyncs of the new file
REST = 1.0  # after each sync, rest this many times as long as it took: the disk is the writers'
_FREE_STEP = 8 << 20  # bytes of an old file freed at a time (``free_in_steps``)
CHILD_MODULE = __name__  # what ``python -m`` runs as the child (tests run it under faults)


@dataclass
class Capture:
    """What the child folds: ``<name>.json`` as it was and the journal up to ``end``.

    Both descriptors are opened for writing, so that once the swap has retired them their
    blocks can be freed off the locks (``free_in_steps``); ``snapshot_fd`` is -1 for none."""

    paths: CollectionFiles
    snapshot_fd: int
    snapshot_inode: int
    journal_fd: int
    journal_inode: int
    end: int

    def close(self) -> None:
        for fd in (self.snapshot_fd, self.journal_fd):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self.snapshot_fd = self.journal_fd = -1


def capture(
    paths: CollectionFiles, pinned_inode: int | None, journal_inode: int, end: int
) -> Capture:
    """Open both files for the child (call with the locks held, so they are the loaded ones)."""
    snapshot_fd = -1
    if pinned_inode is not None:
        snapshot_fd = os.open(paths.snapshot, os.O_RDWR)
    try:
        journal_fd = os.open(paths.journal, os.O_RDWR)
    except BaseException:
        if snapshot_fd >= 0:
            os.close(snapshot_fd)
        raise
    found = Capture(paths, snapshot_fd, pinned_inode or 0, journal_fd, journal_inode, end)
    inodes = (os.fstat(snapshot_fd).st_ino if snapshot_fd >= 0 else 0, os.fstat(journal_fd).st_ino)
    if inodes != (found.snapshot_inode, journal_inode):  # the locks are held: cannot happen
        found.close()
        raise StorageError("compact", paths.snapshot, OSError(errno.ESTALE, "files changed"))
    return found


def render(taken: Capture) -> tuple[Path, int]:
    """Run the child; return the claimed temp file it wrote and its descriptor (which pins it
    and keeps the claim). On failure the temp file is gone and StorageError says why."""
    temp, fd = atomic.create_claimed_temp(taken.paths.compacting)
    try:
        fds = (taken.snapshot_fd, taken.journal_fd, fd)
        command = [sys.executable, "-m", CHILD_MODULE, *map(str, (*fds, taken.end, os.getpid()))]
        command.append(str(taken.paths.snapshot))
        with atomic.as_storage_errors("start the compaction of", taken.paths.snapshot):
            child = subprocess.run(
                command,
                pass_fds=[d for d in fds if d >= 0],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                check=False,
            )
        if child.returncode != 0:
            said = child.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["killed"]
            problem = f"the child rendering it exited with {child.returncode}: {said[0]}"
            raise StorageError("compact", taken.paths.snapshot, OSError(errno.EIO, problem))
    except BaseException:
        discard(temp, fd)
        raise
    return temp, fd


def discard(temp: Path, fd: int) -> None:
    """Drop an unused claimed temp file (its removal first, then the claim)."""
    with contextlib.suppress(OSError):
        os.unlink(temp)
    with contextlib.suppress(OSError):
        os.close(fd)


def free_in_steps(fd: int) -> None:
    """Free the blocks of a retired, unlinked file a step at a time, then close it, off the
    locks. Each step is committed (an fdatasync) and followed by a rest as long as that took,
    like the child's writes: one large free would keep the file system busy for as long (with
    the ``discard`` mount option it trims every freed block at the commit), and writers'
    fsyncs would queue behind it."""
    with contextlib.suppress(OSError):
        size = os.fstat(fd).st_size
        while size > _FREE_STEP:  # a last step's blocks are freed by the close
            size -= _FREE_STEP
            started = time.monotonic()
            os.ftruncate(fd, size)
            os.fdatasync(fd)
            time.sleep(REST * (time.monotonic() - started))
    with contextlib.suppress(OSError):
        os.close(fd)


# -- the child ---------------------------------------------------------------------------------


def read_at(fd: int, size: int, start: int, path: Path) -> bytes:
    """``size`` bytes of ``fd`` from ``start``; StorageError if the file is shorter."""
    parts, offset = [], start
    while offset < start + size:
        part = os.pread(fd, min(start + size - offset, 1 << 24), offset)
        if not part:
            raise StorageError("read", path, OSError(errno.EIO, "the file was cut meanwhile"))
        parts.append(part)
        offset += len(part)
    return b"".join(parts)


def fold(snapshot_fd: int, journal_fd: int, end: int, path: Path) -> Records:
    """The collection as ``<name>.json`` and the first ``end`` bytes of the journal hold it."""
    data: Records = {}
    with bulk_decoding():
        if snapshot_fd >= 0:
            raw = read_at(snapshot_fd, os.fstat(snapshot_fd).st_size, 0, path)
            os.close(snapshot_fd)
            data = snapshot.parse(raw, path)
            del raw
        journal_path = path.with_suffix(".journal")
        records, valid = journal.scan(read_at(journal_fd, end, 0, journal_path), journal_path, 0)
        os.close(journal_fd)
        if valid != end:
            raise StorageError("read", journal_path, OSError(errno.EIO, "a torn line before X"))
        data = batches.replay(data, records)
    return data


def write_paced(fd: int, chunks: Iterable[bytes | memoryview], parent: int | None = None) -> None:
    """Write ``chunks`` to ``fd``, syncing every ``SYNC_EVERY`` bytes and resting as long as
    each sync took; in the child, stop if the ``parent`` died (nobody would swap the file in)."""
    pending: list[bytes | memoryview] = []
    size = 0
    for chunk in chunks:
        pending.append(chunk)
        size += len(chunk)
        if size >= SYNC_EVERY:
            write_all(fd, b"".join(pending))
            pending, size = [], 0
            started = time.monotonic()
            os.fdatasync(fd)
            time.sleep(REST * (time.monotonic() - started))
            if parent is not None and os.getppid() != parent:
                raise SystemExit("the parent died: nobody would use the new file")
    write_all(fd, b"".join(pending))
    os.fsync(fd)


def pieces(payload: bytes) -> Iterator[memoryview]:
    """``payload`` in pieces of ``SYNC_EVERY`` bytes, for ``write_paced``."""
    view = memoryview(payload)
    return (view[start : start + SYNC_EVERY] for start in range(0, len(view), SYNC_EVERY))


def write_all(fd: int, payload: bytes) -> None:
    view = memoryview(payload)
    while view:
        view = view[os.write(fd, view) :]


def write_all_at(fd: int, payload: bytes, offset: int) -> None:
    view = memoryview(payload)
    while view:
        written = os.pwrite(fd, view, offset)
        view, offset = view[written:], offset + written


def _die_with(parent: int) -> None:
    """Be killed as soon as ``parent`` dies (Linux: ``PR_SET_PDEATHSIG``). A dead parent swaps
    nothing in, and the claim this child holds on the temp file would keep the next process
    that opens the collection from removing it; elsewhere ``write_paced`` checks at each sync.
    (Linux sends the signal when the thread that started the child ends: that pool thread waits
    in ``render`` for as long as the child runs.)"""
    with contextlib.suppress(OSError, AttributeError, ImportError, TypeError):
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl  # AttributeError off Linux
        prctl.argtypes = [ctypes.c_int, *[ctypes.c_ulong] * 4]
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # fails only for a bad signal
    if os.getppid() != parent:  # it died before the request was made
        raise SystemExit("the parent died: nobody would use the new file")


_PR_SET_PDEATHSIG = 1


def main(argv: list[str]) -> int:
    snapshot_fd, journal_fd, out_fd, end, parent = map(int, argv[:5])
    _die_with(parent)
    with contextlib.suppress(OSError):
        os.nice(10)  # the parent's writers come first
    data = fold(snapshot_fd, journal_fd, end, Path(argv[5]))
    write_paced(out_fd, snapshot.render(data), parent)
    return 0


if __name__ == "__main__":  # pragma: no cover - run as a child process
    sys.exit(main(sys.argv[1:]))

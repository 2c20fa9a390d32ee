"""Writing a collection's ``<name>.json`` from memory: a first one, or the journal folded into it.

Folding (compaction) runs after a commit once the journal outgrows the snapshot, on
``AsyncJSONDB.compact``, when the process's last database object closes, and before a restore.
Callers of ``*_locked`` hold the store's locks. A collection of ``OFF_LOCK_MIN_BYTES`` or more
is rendered off the locks by a child process (``rewrite``), and only swapped in under them, with
the records appended meanwhile carried into the new journal; both paths swap the same way
(``fold_journal_locked``).
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

from ...errors import DatabaseError
from . import atomic, journal, rewrite, snapshot
from .journal import JournalFile
from .layout import CollectionFiles
from .store import CollectionStore

OFF_LOCK_MIN_BYTES = 2 << 20  # smaller collections are folded under the locks: it is quicker
_ATTEMPTS = 3  # off-lock renders whose files changed meanwhile, before one under the locks


def maybe_compact(store: CollectionStore) -> None:
    """Fold the journal if it has grown past ``compact_ratio`` times the snapshot's size (unless
    a compaction is running already)."""
    if store.compaction_due():
        compact(store, wait=False)


def compact(store: CollectionStore, *, wait: bool = True) -> bool:
    """Fold the journal into ``<name>.json``; False when there was nothing to fold (or, without
    ``wait``, when a compaction of this process is running)."""
    if not store.compacting.acquire(blocking=wait):
        return False
    try:
        for _ in range(_ATTEMPTS):
            with store.locked():
                store.refresh_locked()
                current = store.journal
                if current is None:
                    return False
                if store.snapshot_size + current.offset < OFF_LOCK_MIN_BYTES:
                    fold_journal_locked(store)
                    return True
                pinned = store.pinned_snapshot
                inode = pinned.inode if pinned else None
                taken = rewrite.capture(store.paths, inode, current.inode, current.offset)
            if _render_and_swap(store, taken):
                return True
        with store.locked():  # others kept compacting it meanwhile: fold it here, at last
            store.refresh_locked()
            if store.journal is None:
                return False
            fold_journal_locked(store)
            return True
    finally:
        store.compacting.release()


def _render_and_swap(store: CollectionStore, taken: rewrite.Capture) -> bool:
    """Render ``taken`` off the locks, then swap it in under them; False when the files
    changed meanwhile (another process compacted, dropped or restored the collection)."""
    rendered: Rendered | None = None
    carry: Carry | None = None
    swapped = False
    try:
        error: DatabaseError | None = None
        try:
            temp, fd = rewrite.render(taken)
            rendered = Rendered(temp, fd, taken.end)
            carry = rendered.carry = _carry_ahead(taken)
        except DatabaseError as exc:  # judged under the locks: did the files change?
            error = exc
        with store.locked():
            store.refresh_locked()
            if not _unchanged(store, taken):
                return False
            if error is not None:
                raise error
            assert rendered is not None
            owned, rendered = rendered, None
            fold_journal_locked(store, owned)
            swapped = True
    finally:
        if rendered is not None:
            rewrite.discard(rendered.temp, rendered.fd)
        if carry is not None:
            carry.discard()
        if swapped:  # both old files are retired: free their blocks off the locks
            for fd in (taken.snapshot_fd, taken.journal_fd):
                if fd >= 0:
                    rewrite.free_in_steps(fd)
        else:
            taken.close()
    return True


def _unchanged(store: CollectionStore, taken: rewrite.Capture) -> bool:
    pinned, current = store.pinned_snapshot, store.journal
    return (
        (pinned.inode if pinned else 0) == taken.snapshot_inode
        and current is not None
        and current.inode == taken.journal_inode
        and current.offset >= taken.end
    )


def create(store: CollectionStore) -> None:
    """Make sure ``<name>.json`` exists, so that the collection is listed."""
    with store.locked():
        store.refresh_locked()
        ensure_snapshot_locked(store)


def ensure_snapshot_locked(store: CollectionStore) -> bool:
    """Write ``<name>.json`` if the collection has none yet (fold a journal left without one);
    True when it wrote a new, empty one (``discard_new_snapshot_locked`` undoes that)."""
    if store.has_snapshot:
        return False
    if store.journal is not None:
        fold_journal_locked(store)
        return False
    store.use_snapshot(atomic.write_atomically(store.paths.snapshot, snapshot.render(store.data)))
    return True


def discard_new_snapshot_locked(store: CollectionStore) -> None:
    """Remove the ``<name>.json`` that ``ensure_snapshot_locked`` just wrote for a write that
    then failed: a write that raises must not bring a dropped collection back."""
    store.forget_snapshot()
    atomic.remove_file(store.paths.snapshot)
    atomic.fsync_directory(store.directory)


def fold_at_close(store: CollectionStore) -> None:
    """Fold the journal of a loaded collection, so that its ``.json`` alone holds the data
    (off the locks when it is large: other processes may be writing)."""
    if store.loaded and store.journal is not None:
        compact(store)


@dataclass
class Carry:
    """The records appended while the child rendered, copied off the locks into a claimed temp
    file (with zeros ahead) and synced there, so that the swap, under the locks, writes and
    syncs only those appended since: the copy is as long as the render took."""

    temp: Path
    fd: int
    copied: bytes

    def discard(self) -> None:
        """Drop the temp file, unless the swap made it the new journal (``fd`` is -1 then)."""
        if self.fd >= 0:
            rewrite.discard(self.temp, self.fd)
            self.fd = -1


@dataclass
class Rendered:
    """A new ``<name>.json`` written off the locks (``rewrite``) from the journal up to ``end``,
    and the records appended since that were copied off the locks too, if any."""

    temp: Path
    fd: int
    end: int
    carry: Carry | None = None


def _carry_ahead(taken: rewrite.Capture) -> Carry | None:
    """Copy the whole lines the journal holds past ``taken.end`` (whoever appended them) to a
    claimed temp file, off the locks: first paced like the child's writes, then the lines
    appended meanwhile. None when there are none, or on any failure (the swap then writes them
    all). The swap uses the copy only where the journal, read under the locks, starts with it:
    an append copied and then cut back (its fsync failed), or a dead writer's torn line, shows
    there."""
    try:
        temp, fd = atomic.create_claimed_temp(taken.paths.next_journal)
    except DatabaseError:
        return None
    carry = Carry(temp, fd, b"")
    try:
        for paced in (True, False):
            start = len(carry.copied)
            lines = _lines_past(taken, taken.end + start)
            if not lines:
                break
            carry.copied += lines
            os.lseek(fd, start, os.SEEK_SET)
            tail = journal.zeros_ahead(len(carry.copied))
            if paced:
                rewrite.write_paced(fd, [*rewrite.pieces(lines), tail])
            else:
                rewrite.write_all(fd, lines + tail)
                os.fdatasync(fd)
    except (OSError, DatabaseError):
        carry.discard()
        return None
    except BaseException:
        carry.discard()
        raise
    if not carry.copied:
        carry.discard()
        return None
    return carry


def _lines_past(taken: rewrite.Capture, start: int) -> bytes:
    """The journal's bytes from ``start`` to its last newline (not the zeros ahead, nor a
    line being appended)."""
    path = taken.paths.journal
    size = os.fstat(taken.journal_fd).st_size
    raw = rewrite.read_at(taken.journal_fd, size - start, start, path) if size > start else b""
    return raw[: raw.rfind(b"\n") + 1]


def fold_journal_locked(store: CollectionStore, rendered: Rendered | None = None) -> None:
    """Replace ``<name>.json`` and the journal by a new ``<name>.json`` (and, with ``rendered``,
    the records appended since it was rendered as the new journal), crash-safely.

    1. put the new file in place as ``.<name>.json.compacting`` (written here from memory, or
    renamed from ``rendered``'s temp file), and write the carried records, if any, to
    ``.<name>.journal.next``;  2. rename the journal to ``.<name>.journal.folded``: this decides
    the compaction;  3. rename the new file into place, then ``next`` to ``<name>.journal``;
    4. delete the folded journal. Whatever step a crash interrupts, the next load can tell, and
    finishes or undoes it (``layout.settle_leftovers``): the old journal is never replayed onto
    the new file, which would move re-set keys to the end.
    """
    paths = store.paths
    carried = b""
    store.will_change()
    if rendered is None:
        fd = atomic.write_atomically(paths.compacting, snapshot.render(store.data))
    else:
        fd = rendered.fd
        try:
            carried = _carried(store, rendered.end)
            os.replace(rendered.temp, paths.compacting)
        except BaseException:
            rewrite.discard(rendered.temp, fd)
            raise
    next_fd: int | None = None
    try:
        if carried:
            carry = rendered.carry if rendered is not None else None
            next_fd = _write_next(paths.next_journal, carried, carry)
        if rendered is not None:  # ``write_atomically`` synced the folder already
            atomic.fsync_directory(paths.directory)
        os.replace(paths.journal, paths.folded)
    except BaseException:
        _discard(fd, next_fd, paths)
        raise
    try:
        atomic.fsync_directory(paths.directory)
        os.replace(paths.compacting, paths.snapshot)
    except BaseException:
        try:
            os.replace(paths.folded, paths.journal)
        except BaseException:
            # Every file stays: the new one holds every record, and the next load (this
            # process's next use included: the journal is gone) puts it in place.
            _close(fd, next_fd)
            raise
        _discard(fd, next_fd, paths)
        raise
    try:
        if next_fd is not None:
            os.replace(paths.next_journal, paths.journal)
        atomic.fsync_directory(paths.directory)
    except BaseException:  # decided: the next load finishes it, so forget the files now
        _close(fd, next_fd)
        store.forget_snapshot()
        store.retire_journal()
        store.loaded = False
        raise
    store.use_snapshot(fd)
    carried_journal = None if next_fd is None else JournalFile(paths.journal, next_fd, len(carried))
    store.adopt_journal(carried_journal)
    atomic.remove_file(paths.folded)


def _carried(store: CollectionStore, end: int) -> bytes:
    """The journal's records appended since ``end`` (all valid: the store has read them)."""
    current = store.journal
    assert current is not None
    return rewrite.read_at(current.fd, current.offset - end, end, current.path)


def _write_next(path: Path, carried: bytes, carry: Carry | None) -> int:
    """The new journal, holding ``carried`` and the most zeros ahead: writers are busy (they
    wrote during the compaction), and the first few hundred appends then overwrite zeros instead
    of growing the file, which would make their fsyncs wait for the file system to commit the
    frees of the old files (``free_in_steps``) with the new size. When ``carry`` holds the
    start of ``carried``, it becomes the new journal and only the rest is written."""
    if carry is not None and carry.fd >= 0 and carried.startswith(carry.copied):
        rest = carried[len(carry.copied) :]
        if rest:
            rewrite.write_all_at(carry.fd, rest, len(carry.copied))
        os.fdatasync(carry.fd)
        os.replace(carry.temp, path)
        fd, carry.fd = carry.fd, -1
        return fd
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        rewrite.write_all(fd, carried + journal.zeros_ahead(len(carried)))
        os.fdatasync(fd)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _close(fd: int, next_fd: int | None) -> None:
    for each in (fd, next_fd):
        if each is not None:
            with contextlib.suppress(OSError):
                os.close(each)


def _discard(fd: int, next_fd: int | None, paths: CollectionFiles) -> None:
    """Drop the unused new files: the journal is still in place, so they hold nothing lost."""
    _close(fd, next_fd)
    for unused in (paths.compacting, paths.next_journal):
        with contextlib.suppress(OSError):
            os.unlink(unused)

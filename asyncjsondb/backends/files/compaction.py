"""Writing a collection's ``<name>.json`` from memory: a first one, or the journal folded into it.

Folding (compaction) runs after a commit once the journal outgrows the snapshot, on
``AsyncJSONDB.compact``, when the process's last database object closes, and before a restore.
Callers of ``*_locked`` hold the store's locks.
"""

from __future__ import annotations

import contextlib
import os

from . import atomic, snapshot
from .layout import CollectionFiles
from .store import CollectionStore


def maybe_compact(store: CollectionStore) -> None:
    """Fold the journal if it has grown past ``compact_ratio`` times the snapshot's size."""
    if store.compaction_due():
        compact(store)


def compact(store: CollectionStore) -> bool:
    """Fold the journal into ``<name>.json``; False when there was nothing to fold."""
    with store.locked():
        store.refresh_locked()
        if store.journal is None:
            return False
        fold_journal_locked(store)
        return True


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
    """Fold the journal of a loaded collection, so that its ``.json`` alone holds the data."""
    if store.loaded and store.journal is not None:
        with store.locked():
            store.refresh_locked()
            if store.journal is not None:
                fold_journal_locked(store)


def fold_journal_locked(store: CollectionStore) -> None:
    """Replace ``<name>.json`` and the journal by one new ``<name>.json``, crash-safely.

    1. write the new file as ``.<name>.json.compacting``;  2. rename the journal to
    ``.<name>.journal.folded``;  3. rename the new file into place;  4. delete the folded
    journal. Whatever step a crash interrupts, the next load can tell, and finishes or undoes
    it (``layout.settle_leftovers``): the old journal is never replayed onto the new file, which
    would move re-set keys to the end.
    """
    paths = store.paths
    fd = atomic.write_atomically(paths.compacting, snapshot.render(store.data))
    try:
        os.replace(paths.journal, paths.folded)
    except BaseException:
        _discard(fd, paths)
        raise
    try:
        atomic.fsync_directory(paths.directory)
        os.replace(paths.compacting, paths.snapshot)
    except BaseException:
        try:
            os.replace(paths.folded, paths.journal)
        except BaseException:
            # Both files stay: the new one holds every record, and the next load (this
            # process's next use included: the journal is gone) puts it in place.
            os.close(fd)
            raise
        _discard(fd, paths)
        raise
    atomic.fsync_directory(paths.directory)
    store.use_snapshot(fd)
    store.retire_journal()
    atomic.remove_file(paths.folded)


def _discard(fd: int, paths: CollectionFiles) -> None:
    """Drop an unused new file: the journal is still in place, so it holds nothing lost."""
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(paths.compacting)

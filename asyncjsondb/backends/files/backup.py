"""Backup and restore of a database folder, with every collection locked at once.

A backup is then one consistent moment of the whole database even while writers go on; a restore
replaces every collection in crash-safe phases. The folder format is ``asyncjsondb.backup``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from ...backup import check_target, read_backup, read_backup_indexes, write_backup
from . import atomic, compaction
from .layout import collection_names
from .registry import Folder
from .slices import copy_dict
from .store import CollectionStore


@contextlib.contextmanager
def _all_locked(folder: Folder, names: list[str]) -> Iterator[list[CollectionStore]]:
    """Hold every named collection's locks, taken in one global (sorted) order."""
    stores = [folder.store(name) for name in sorted(set(names))]
    with contextlib.ExitStack() as stack:
        for store in stores:
            stack.enter_context(store.locked())
        yield stores


@contextlib.contextmanager
def _every_collection_locked(
    folder: Folder, extra: Iterable[str] = ()
) -> Iterator[list[CollectionStore]]:
    """Lock every collection of the folder (plus ``extra``) as one moment.

    The folder is listed again under the locks: had a collection appeared or been dropped between
    listing and locking, a backup would miss it or bring it back empty, so lock again.
    """
    while True:
        names = collection_names(folder.path)
        with _all_locked(folder, names + list(extra)) as stores:
            if collection_names(folder.path) == names:
                yield stores
                return


def create_backup(folder: Folder, target: Path) -> None:
    check_target(target)
    with _every_collection_locked(folder) as stores:
        for store in stores:
            store.refresh_locked()
        moment = {store.name: copy_dict(store.data) for store in stores}
        indexes = {store.name: list(store.catalog.definitions) for store in stores}
    write_backup(moment, target, indexes)


def restore_backup(folder: Folder, source: Path) -> None:
    """Replace every collection with the backup's, in three phases under all the locks.

    Fold (each journal into its ``.json``: the data does not change), stage (write every new file
    beside its collection), swap (renames and deletes). A failure in the first two changes nothing.
    """
    backup = read_backup(source)
    indexes = read_backup_indexes(source)
    with _every_collection_locked(folder, backup) as stores:
        for store in stores:
            _fold_or_forget_locked(store)
        staged: dict[str, int] = {}
        try:
            for store in stores:
                if store.name in backup:
                    staged[store.name] = _stage_locked(store, backup[store.name][0])
        except BaseException:
            for store in stores:
                _unstage_locked(store, staged.get(store.name))
            raise
        for store in stores:
            if store.name in backup:
                _install_staged_locked(store, staged[store.name], backup[store.name][1])
                store.catalog.replace(indexes.get(store.name, []))
            else:
                store.remove_files_locked()


def _fold_or_forget_locked(store: CollectionStore) -> None:
    """Fold the journal, so that the collection is its ``.json`` alone (data unchanged).

    Then a crash during the restore leaves each collection whole, old or new, never a new
    file under an old journal. A corrupt collection is forgotten instead, to be replaced.
    """
    if store.refresh_or_forget_locked():
        if store.journal is not None:
            compaction.fold_journal_locked(store)
    else:
        atomic.remove_file(store.paths.journal)
        atomic.fsync_directory(store.directory)


def _stage_locked(store: CollectionStore, raw: bytes) -> int:
    """Write ``raw`` beside the collection, fsynced, not yet in place."""
    return atomic.write_atomically(store.paths.staged, [raw])


def _unstage_locked(store: CollectionStore, fd: int | None) -> None:
    if fd is not None:
        os.close(fd)
    atomic.remove_file(store.paths.staged)


def _install_staged_locked(store: CollectionStore, fd: int, data: dict[str, bytes]) -> None:
    os.replace(store.paths.staged, store.paths.snapshot)
    atomic.fsync_directory(store.directory)
    store.use_snapshot(fd, data)

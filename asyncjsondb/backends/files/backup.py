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
from ...codec import DecodeError, bulk_decoding, decode, encode
from ...errors import CorruptFileError, StorageError
from ...names import validate_collection_name
from . import atomic, compaction, layout
from .layout import collection_names
from .registry import Folder
from .segments import Records
from .slices import Copy
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
        with bulk_decoding():
            moment = {store.name: Copy(store.data) for store in stores}
        indexes = {store.name: list(store.catalog.definitions) for store in stores}
    write_backup(moment, target, indexes)


def restore_backup(folder: Folder, source: Path, only: str | None = None) -> None:
    """Replace every collection (or ``only`` that one) with the backup's, in phases under all
    the locks.

    Fold (each journal into its ``.json``: the data does not change); stage (write every new file
    beside its collection, an empty one for a collection the backup does not have); commit (write
    the intent, ``.asyncjsondb.restore``); swap (renames and deletes); forget the intent. A
    failure or crash before the commit changes nothing; after it, the next load of each
    collection finishes its swap (``layout.settle_leftovers``), so the restore is never half done.
    """
    backup = read_backup(source, only)
    indexes = read_backup_indexes(source)
    intent = layout.restore_intent(folder.path)
    scope = [*backup, *_names_in(intent)]
    locked = _all_locked(folder, scope) if only else _every_collection_locked(folder, scope)
    with locked as stores:
        for store in stores:
            _fold_or_forget_locked(store)  # finishes an earlier restore's swap, if any
        atomic.remove_file(intent)
        staged: dict[str, int] = {}
        try:
            for store in stores:
                raw = backup[store.name][0] if store.name in backup else b""
                staged[store.name] = _stage_locked(store, raw)
            os.close(atomic.write_atomically(intent, [encode(sorted(staged))]))
        except BaseException:
            atomic.remove_file(intent)  # first: staged files without it are only leftovers
            for store in stores:
                _unstage_locked(store, staged.pop(store.name, None))
            raise
        try:
            for store in stores:
                entry = backup.get(store.name)
                _install_staged_locked(store, staged.pop(store.name), entry and entry[1])
                if entry is not None:
                    store.catalog.replace(indexes.get(store.name, []))
            atomic.fsync_directory(folder.path)
            atomic.remove_file(intent)
        except BaseException:
            for fd in staged.values():
                os.close(fd)
            for store in stores:  # memory may be old or new: the next read loads (and finishes)
                store.loaded = False
            raise


def finish_interrupted_restore(folder: Folder) -> None:
    """Finish the swap of a restore that committed and then failed or crashed: until then the
    folder may list a collection the restore removes, or miss one it adds."""
    intent = layout.restore_intent(folder.path)
    if folder.options.read_only or not intent.exists():
        return
    with _all_locked(folder, _names_in(intent)) as stores:
        if not intent.exists():  # finished by another process meanwhile
            return
        for store in stores:
            store.loaded = False
            store.refresh_or_forget_locked()  # loading settles: puts the staged file in place
        atomic.fsync_directory(folder.path)
        atomic.remove_file(intent)


def _names_in(intent: Path) -> list[str]:
    """The collections an interrupted restore was swapping."""
    try:
        names = decode(intent.read_bytes())
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise StorageError("read", intent, exc) from exc
    except (ValueError, DecodeError):
        names = None
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
        raise CorruptFileError(intent, "not a list of collection names")
    return [validate_collection_name(name) for name in names]


def _fold_or_forget_locked(store: CollectionStore) -> None:
    """Fold the journal, so that the collection is its ``.json`` alone (data unchanged).

    Then a crash during the restore leaves each collection whole, old or new, never a new
    file under an old journal. A corrupt collection is forgotten instead, to be replaced.
    """
    if store.refresh_or_forget_locked():
        if store.journal is not None:
            compaction.fold_journal_locked(store)
    else:
        store.will_change()
        atomic.remove_file(store.paths.journal)
        atomic.fsync_directory(store.directory)


def _stage_locked(store: CollectionStore, raw: bytes) -> int:
    """Write ``raw`` beside the collection, fsynced, not yet in place."""
    return atomic.write_atomically(store.paths.staged, [raw])


def _unstage_locked(store: CollectionStore, fd: int | None) -> None:
    if fd is not None:
        os.close(fd)
    atomic.remove_file(store.paths.staged)


def _install_staged_locked(store: CollectionStore, fd: int, data: Records | None) -> None:
    """Put the staged file in place, or (``data`` None) remove the collection and it."""
    store.will_change()
    if data is None:
        os.close(fd)
        store.remove_files_locked()
        atomic.remove_file(store.paths.staged)
    else:
        os.replace(store.paths.staged, store.paths.snapshot)
        store.use_snapshot(fd, data)

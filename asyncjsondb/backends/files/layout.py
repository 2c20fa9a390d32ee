"""Every file a collection has in its database folder, and what a crash can leave beside them.

    <name>.json                 the snapshot: the collection at rest, a standard JSON object
    <name>.journal              the changes since the last compaction
    .<name>.lock                the cross-process lock
    .<name>.json.compacting     a compaction's new snapshot, not yet in place
    .<name>.journal.folded      a compaction's old journal, already folded into the new snapshot
    .<name>.json.restoring      a restore's staged snapshot, not yet in place (empty: the
                                restore removes the collection)
    .asyncjsondb.restore        a restore's commit record: its staged files are to be put in
                                place (no collection name starts with a dot)
    .<file>.tmp-<hex>           an atomic write of <file> that never finished (``atomic``)

This is the one module that spells a collection's file names; everything else asks it. Which
leftovers exist says how far the interrupted work got, so the next open finishes or undoes it
exactly (``settle_leftovers``). Callers of ``find_leftovers`` and ``settle_leftovers`` hold the
collection's lock.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ...errors import InvalidNameError, StorageError
from ...names import validate_collection_name
from . import atomic

SNAPSHOT_SUFFIX = ".json"
JOURNAL_SUFFIX = ".journal"
RESTORE_INTENT = ".asyncjsondb.restore"


def restore_intent(directory: Path) -> Path:
    return directory / RESTORE_INTENT


@dataclass(frozen=True)
class CollectionFiles:
    """The paths of one collection's files."""

    directory: Path
    name: str

    @property
    def snapshot(self) -> Path:
        return self.directory / f"{self.name}{SNAPSHOT_SUFFIX}"

    @property
    def journal(self) -> Path:
        return self.directory / f"{self.name}{JOURNAL_SUFFIX}"

    @property
    def compacting(self) -> Path:
        return self.directory / f".{self.snapshot.name}.compacting"

    @property
    def folded(self) -> Path:
        return self.directory / f".{self.journal.name}.folded"

    @property
    def staged(self) -> Path:
        return self.directory / f".{self.snapshot.name}.restoring"

    @property
    def lock(self) -> Path:
        return self.directory / f".{self.name}.lock"


def find_leftovers(paths: CollectionFiles) -> list[Path]:
    """Leftovers of interrupted writes, compactions and restores that exist now."""
    found = [p for p in (paths.compacting, paths.folded, paths.staged) if p.exists()]
    found += [temp for _, temp in _temp_files(paths)]
    return sorted(found)


def settle_leftovers(paths: CollectionFiles) -> list[str]:
    """Finish or undo what a crash interrupted; describe each step taken."""
    done = []
    folded = paths.folded.exists()
    if folded and paths.compacting.exists():  # between the journal's rename and the file's
        os.replace(paths.compacting, paths.snapshot)
        done.append(f"finished an interrupted compaction of {paths.snapshot}")
    elif not folded and atomic.remove_file(paths.compacting):  # before the journal's rename
        done.append(f"removed {paths.compacting}, an interrupted compaction's unused file")
    if folded:  # the new file is in place: the journal it folded goes
        atomic.remove_file(paths.folded)
        done.append(f"removed {paths.folded}, a journal already folded into {paths.snapshot}")
    if restore_intent(paths.directory).exists() and paths.staged.exists():
        done.append(install_staged(paths))
    elif atomic.remove_file(paths.staged):
        done.append(f"removed {paths.staged}, the unused file of an interrupted restore")
    for _, temp in sorted(_temp_files(paths)):
        atomic.remove_file(temp)
        done.append(f"removed {temp}, the temp file of an interrupted write")
    if done:
        atomic.fsync_directory(paths.directory)
    return done


def install_staged(paths: CollectionFiles) -> str:
    """Put a committed restore's staged file in place (an empty one removes the collection).

    Its journal was folded before staging, so the staged file is the whole collection."""
    atomic.remove_file(paths.journal)
    if paths.staged.stat().st_size == 0:
        atomic.remove_file(paths.snapshot)
        atomic.remove_file(paths.staged)
        return f"removed {paths.snapshot}, as an interrupted restore had begun to"
    os.replace(paths.staged, paths.snapshot)
    return f"finished an interrupted restore of {paths.snapshot}"


def _temp_files(paths: CollectionFiles) -> Iterator[tuple[int, Path]]:
    """The temp files of interrupted atomic writes of the collection's files, each with the index
    of the file it was writing (snapshot, compacting, staged)."""
    written = (paths.snapshot, paths.compacting, paths.staged)
    prefixes = [atomic.temp_prefix_of(path) for path in written]
    with contextlib.suppress(FileNotFoundError), os.scandir(paths.directory) as entries:
        for entry in entries:
            for index, prefix in enumerate(prefixes):
                if entry.name.startswith(prefix):
                    yield index, Path(entry.path)


def collection_names(path: Path) -> list[str]:
    """Sorted names of the collections whose ``<name>.json`` is in ``path``."""
    names = []
    try:
        entries = list(os.scandir(path))
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise StorageError("list", path, exc) from exc
    for entry in entries:
        if entry.name.endswith(SNAPSHOT_SUFFIX) and entry.is_file():
            with contextlib.suppress(InvalidNameError):
                names.append(validate_collection_name(entry.name[: -len(SNAPSHOT_SUFFIX)]))
    return sorted(names)


def names_with_files(directory: Path) -> list[str]:
    """Every collection that has a snapshot, a journal or a temp file in ``directory``."""
    names = set()
    for entry in os.scandir(directory):
        if not entry.is_file():
            continue
        stem = atomic.written_by_temp(entry.name) or entry.name
        for suffix in (SNAPSHOT_SUFFIX, JOURNAL_SUFFIX):
            if stem.endswith(suffix):
                names.add(stem[: -len(suffix)])
    return sorted(name for name in names if _is_valid_name(name))


def _is_valid_name(name: str) -> bool:
    try:
        validate_collection_name(name)
    except ValueError:
        return False
    return True

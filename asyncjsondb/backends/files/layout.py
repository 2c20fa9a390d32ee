"""What a crash can leave beside ``<name>.json``, and how the next open settles it.

Compaction writes ``.<name>.json.compacting`` and renames the journal to
``.<name>.journal.folded`` before swapping the new file in; a restore stages
``.<name>.json.restoring``; every atomic write goes through a ``.<file>.tmp-*`` file. Which of
these exist says how far the interrupted work got, so it can be finished or undone exactly.
Callers hold the collection's lock.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

from ...errors import InvalidNameError, StorageError
from ...names import validate_collection_name
from . import atomic


@dataclass(frozen=True)
class CollectionFiles:
    """The paths of one collection's files."""

    directory: Path
    name: str

    @property
    def snapshot(self) -> Path:
        return self.directory / f"{self.name}.json"

    @property
    def journal(self) -> Path:
        return self.directory / f"{self.name}.journal"

    @property
    def compacting(self) -> Path:
        return self.directory / f".{self.name}.json.compacting"

    @property
    def folded(self) -> Path:
        return self.directory / f".{self.name}.journal.folded"

    @property
    def staged(self) -> Path:
        return self.directory / f".{self.name}.json.restoring"

    @property
    def lock(self) -> Path:
        return self.directory / f".{self.name}.lock"


def find_leftovers(paths: CollectionFiles) -> list[Path]:
    """Leftovers of interrupted writes, compactions and restores that exist now."""
    prefixes = tuple(
        f".{written.name}{atomic.TEMP_MARKER}"
        for written in (paths.snapshot, paths.compacting, paths.staged)
    )
    found = [p for p in (paths.compacting, paths.folded, paths.staged) if p.exists()]
    try:
        entries = os.scandir(paths.directory)
    except FileNotFoundError:
        return found
    with entries:
        found += [Path(entry.path) for entry in entries if entry.name.startswith(prefixes)]
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
    if atomic.remove_file(paths.staged):
        done.append(f"removed {paths.staged}, the unused file of an interrupted restore")
    for written in (paths.snapshot, paths.compacting, paths.staged):
        for removed in atomic.remove_stale_temps(paths.directory, written.name):
            done.append(f"removed {removed}, the temp file of an interrupted write")
    if done:
        atomic.fsync_directory(paths.directory)
    return done


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
        if entry.name.endswith(".json") and entry.is_file():
            with contextlib.suppress(InvalidNameError):
                names.append(validate_collection_name(entry.name[: -len(".json")]))
    return sorted(names)

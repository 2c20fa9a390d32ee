"""Every file a collection has in its database folder, and what a crash can leave beside them.

    <name>.json                 the snapshot: the collection at rest, a standard JSON object
    <name>.journal              the changes since the last compaction
    .<name>.lock                the cross-process lock
    .<name>.changes             the change counter, mapped into every process (``changes``)
    .<name>.json.compacting     a compaction's new snapshot, not yet in place
    .<name>.journal.folded      a compaction's old journal, already folded into the new snapshot
    .<name>.journal.next        the records a compaction carries over: appended while the new
                                snapshot was rendered off the locks, they become the new journal
    .<name>.json.restoring      a restore's staged snapshot, not yet in place (empty: the
                                restore removes the collection)
    .<name>.journal.dropped     a drop's journal, set aside until ``<name>.json`` is gone
    .<name>.indexes             the index definitions (``catalog``)
    .asyncjsondb.restore        a restore's commit record: its staged files are to be put in
                                place (no collection name starts with a dot)
    .<file>.tmp-<12 hex>        an atomic write of <file> that never finished (``atomic``), or
                                one still being written (claimed with a ``flock``: left alone)

This is the one module that spells a collection's file names; everything else asks it. The naming
is injective: a legal name has no leading dot, and every file's suffix says its role, so each file
belongs to one collection in one role, and matching is exact (``owner_of``), never by prefix. Which
leftovers exist says how far the interrupted work got, so the next open finishes or undoes it
exactly (``settle_leftovers``). Callers of ``find_leftovers`` and ``settle_leftovers`` hold the
collection's lock. docs/file-format.md describes every file.
"""

from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from ...errors import CorruptFileError, InvalidNameError, StorageError
from ...names import validate_collection_name
from . import atomic

_log = logging.getLogger("asyncjsondb")
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
    def next_journal(self) -> Path:
        return self.directory / f".{self.journal.name}.next"

    @property
    def staged(self) -> Path:
        return self.directory / f".{self.snapshot.name}.restoring"

    @property
    def lock(self) -> Path:
        return self.directory / f".{self.name}.lock"

    @property
    def changes(self) -> Path:
        return self.directory / f".{self.name}.changes"

    @property
    def dropped(self) -> Path:
        return self.directory / f".{self.journal.name}.dropped"

    @property
    def indexes(self) -> Path:
        return self.directory / f".{self.name}.indexes"

    def leftovers(self) -> tuple[Path, ...]:
        """The files only interrupted work leaves, but temp files."""
        return (self.compacting, self.folded, self.next_journal, self.staged, self.dropped)

    def written_atomically(self) -> tuple[Path, ...]:
        """The files written through a temp file (``atomic.write_atomically``)."""
        return tuple(getattr(self, role) for role in _WRITTEN_ROLES)


def find_leftovers(paths: CollectionFiles) -> list[Path]:
    """Leftovers of interrupted writes, compactions, restores and drops that exist now."""
    found = [p for p in paths.leftovers() if p.exists()]
    return sorted(found + _temp_files(paths))


def has_interrupted_rename(paths: CollectionFiles) -> bool:
    """Whether a compaction or drop renamed the journal away, or a restore decided (its intent
    written beside its staged file), and stopped before its end.

    A process with no journal open sees no other sign of it: its snapshot has not changed yet,
    and a journal it made now would be deleted by whoever finishes the swap.
    """
    return (
        paths.folded.exists()
        or paths.dropped.exists()
        or (paths.staged.exists() and restore_intent(paths.directory).exists())
    )


def settle_leftovers(paths: CollectionFiles) -> list[str]:
    """Finish or undo what a crash interrupted; describe each step taken."""
    done = _settle_drop(paths)
    done += _settle_compaction(paths)
    if restore_intent(paths.directory).exists() and paths.staged.exists():
        done.append(install_staged(paths))
    elif atomic.remove_file(paths.staged):
        done.append(f"removed {paths.staged}, the unused file of an interrupted restore")
    for temp in _temp_files(paths):
        atomic.remove_file(temp)
        done.append(f"removed {temp}, the temp file of an interrupted write")
    if done:
        atomic.fsync_directory(paths.directory)
    return done


def _settle_compaction(paths: CollectionFiles) -> list[str]:
    """A compaction's rename of the journal to ``folded`` decides it (``compaction``): before
    it, the new files go; after it, the new snapshot, then the carried journal, go in place."""
    done = []
    if not paths.folded.exists():  # undecided: the journal still holds every record
        for unused in (paths.compacting, paths.next_journal):
            if atomic.remove_file(unused):
                done.append(f"removed {unused}, an interrupted compaction's unused file")
        return done
    if paths.compacting.exists():  # between the journal's rename and the file's
        os.replace(paths.compacting, paths.snapshot)
        done.append(f"finished an interrupted compaction of {paths.snapshot}")
    if paths.next_journal.exists():
        if conflicting_carry(paths):  # nobody writes a journal before this is settled
            problem = f"a compaction's carried journal, beside a newer {paths.journal}"
            raise CorruptFileError(paths.next_journal, problem + "; merge them by hand")
        os.replace(paths.next_journal, paths.journal)
        done.append(f"put {paths.journal} in place: the records a compaction carried over")
    atomic.remove_file(paths.folded)  # the new file is in place: the journal it folded goes
    done.append(f"removed {paths.folded}, a journal already folded into {paths.snapshot}")
    return done


def install_staged(paths: CollectionFiles) -> str:
    """Put a committed restore's staged file in place (an empty one removes the collection).

    Its journal was folded before staging, so the staged file is the whole collection."""
    if paths.staged.stat().st_size == 0:
        remove_collection(paths)
        atomic.remove_file(paths.staged)
        return f"removed {paths.snapshot}, as an interrupted restore had begun to"
    atomic.remove_file(paths.journal)
    os.replace(paths.staged, paths.snapshot)
    return f"finished an interrupted restore of {paths.snapshot}"


def remove_collection(paths: CollectionFiles) -> None:
    """Delete ``<name>.json`` and its journal, crash-safely: whole or gone, never half.

    1. rename the journal to ``.<name>.journal.dropped``;  2. delete ``<name>.json``, which
    decides the drop;  3. delete the set-aside journal. A failure before 2 puts the journal back.
    A failure after 2 is logged, not raised: the drop is decided, and a caller told it failed
    would think the collection whole. After a crash, the next open (``settle_leftovers``) undoes
    a drop interrupted before 2 and finishes one interrupted after it.
    """
    set_aside = _rename_if_present(paths.journal, paths.dropped)
    try:
        if set_aside:
            atomic.fsync_directory(paths.directory)
        atomic.remove_file(paths.snapshot)
    except BaseException:
        if set_aside:
            os.replace(paths.dropped, paths.journal)  # if this fails too, the next open does it
        raise
    try:
        atomic.fsync_directory(paths.directory)
        atomic.remove_file(paths.dropped)
    except (
        OSError
    ):  # the next open finishes it (or, if the deletion never reached the disk, undoes it)
        _log.warning("finishing the drop of %s failed", paths.snapshot, exc_info=True)


def _rename_if_present(source: Path, target: Path) -> bool:
    try:
        os.replace(source, target)
    except FileNotFoundError:
        return False
    return True


def conflicting_drop(paths: CollectionFiles) -> bool:
    """Whether an undecided drop's set-aside journal has a newer journal beside it (written by a
    process that missed the drop): putting it back would overwrite that one, so nothing may."""
    return paths.dropped.exists() and paths.snapshot.exists() and paths.journal.exists()


def conflicting_carry(paths: CollectionFiles) -> bool:
    """Whether a decided compaction's carried journal has a newer journal beside it, which its
    steps never leave: renaming it in place would overwrite that one, so nothing may."""
    return paths.folded.exists() and paths.next_journal.exists() and paths.journal.exists()


def _settle_drop(paths: CollectionFiles) -> list[str]:
    """A drop sets the journal aside, then deletes ``<name>.json``: that deletion decides it."""
    if not paths.dropped.exists():
        return []
    if paths.snapshot.exists():  # not decided: the collection stays whole
        if conflicting_drop(paths):
            raise CorruptFileError(
                paths.dropped,
                f"an interrupted drop's journal, beside a newer {paths.journal}; "
                "merge or remove one of them by hand",
            )
        os.replace(paths.dropped, paths.journal)
        return [f"undid an interrupted drop of {paths.snapshot}: its journal is back"]
    atomic.remove_file(paths.dropped)
    return [f"finished an interrupted drop: removed {paths.dropped}"]


def _temp_files(paths: CollectionFiles) -> list[Path]:
    """The temp files of interrupted atomic writes of the collection's files."""
    written = {path.name for path in paths.written_atomically()}
    try:
        with os.scandir(paths.directory) as entries:
            names = [entry.name for entry in entries]
    except FileNotFoundError:
        return []
    found = [paths.directory / name for name in names if atomic.written_by_temp(name) in written]
    return sorted(path for path in found if not atomic.is_claimed(path))


_ROLES = (
    "snapshot",
    "journal",
    "compacting",
    "folded",
    "next_journal",
    "staged",
    "dropped",
    "indexes",
)
_WRITTEN_ROLES = (
    "snapshot",
    "compacting",
    "next_journal",
    "staged",
    "indexes",
)  # the files written through a temp file
_AFFIXES = {role: getattr(CollectionFiles(Path(), "\0"), role).name.split("\0") for role in _ROLES}


def owner_of(file_name: str) -> str | None:
    """The collection whose file (or temp file) ``file_name`` is, or None; locks and change
    counters aside."""
    written = atomic.written_by_temp(file_name)
    target, roles = (written, _WRITTEN_ROLES) if written else (file_name, _ROLES)
    for role in roles:
        prefix, suffix = _AFFIXES[role]
        if target.startswith(prefix) and target.endswith(suffix):
            stem = target[len(prefix) : len(target) - len(suffix)]
            if _is_valid_name(stem):
                return stem
    return None


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
    """Every collection that has a file in ``directory`` other than its lock."""
    with os.scandir(directory) as entries:
        owners = {owner_of(entry.name) for entry in entries if entry.is_file()}
    return sorted(name for name in owners if name is not None)


def _is_valid_name(name: str) -> bool:
    try:
        validate_collection_name(name)
    except ValueError:
        return False
    return True

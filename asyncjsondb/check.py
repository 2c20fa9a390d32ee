"""The consistency checker: verify every file of a database folder; repair only what loses nothing.

Files are read with the engine's own parsers (``snapshot.parse``, ``journal.scan`` through
``JournalFile.read_new``) under each collection's cross-process lock, so the checker sees exactly
what the engine would load and is safe while applications have the database open. The repairs are
those the engine makes itself on its next load: cut a journal's torn tail (an append that never
completed, so was never acknowledged) and remove the temp file of a write that never took effect.
Anything else (a bad snapshot, a bad journal line before good ones) is reported, never touched.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from . import backup
from .backends.files import atomic, batches, layout, snapshot
from .backends.files.changes import NO_COUNTER, existing_counter
from .backends.files.journal import JournalFile
from .backends.files.locks import ProcessLock
from .backends.files.segments import Records
from .errors import BackupError, CorruptFileError, StorageError
from .options import Options


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one file; ``position`` is a byte offset when it is known."""

    path: Path
    position: int | None
    message: str
    repairable: bool

    def __str__(self) -> str:
        at = f" at byte {self.position}" if self.position is not None else ""
        return f"{self.path}{at}: {self.message}"


@dataclass
class CheckReport:
    """``ok`` is True when the folder is sound after the call: nothing found, or all repaired."""

    ok: bool
    problems: list[Problem] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class CollectionStats:
    name: str
    records: int
    bytes: int  # size of <name>.json plus <name>.journal


@dataclass
class _Inspection:
    """What one collection's files hold, and what is wrong with them."""

    data: Records = field(default_factory=dict)
    size: int = 0
    problems: list[Problem] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)


def check_database(
    path: str | os.PathLike[str],
    *,
    repair: bool = False,
    lock_timeout: float = Options.lock_timeout,
) -> CheckReport:
    """Verify every collection file, journal and temp file of the database folder ``path``.

    With ``repair``, cut torn journal tails and remove stale temp files, and say so in
    ``repaired``. A backup folder (one with a manifest) also has its checksums verified.
    """
    directory = _folder(path)
    problems: list[Problem] = []
    repaired: list[str] = []
    for name in layout.names_with_files(directory):
        found = _inspect(directory, name, repair=repair, lock_timeout=lock_timeout)
        problems += found.problems
        repaired += found.repaired
    problems += _check_manifest(directory)
    ok = all(problem.repairable for problem in problems) and (repair or not problems)
    return CheckReport(ok=ok, problems=problems, repaired=repaired)


def collection_stats(
    path: str | os.PathLike[str], *, lock_timeout: float = Options.lock_timeout
) -> list[CollectionStats]:
    """Each collection's record count and size on disk, sorted by name.

    Raises CorruptFileError for a file the engine could not load either.
    """
    directory = _folder(path)
    stats = []
    for name in layout.collection_names(directory):
        found = _inspect(directory, name, repair=False, lock_timeout=lock_timeout)
        for problem in found.problems:
            if not problem.repairable:
                raise CorruptFileError(problem.path, problem.message, position=problem.position)
        stats.append(CollectionStats(name, len(found.data), found.size))
    return stats


def _folder(path: str | os.PathLike[str]) -> Path:
    directory = Path(path)
    if not directory.is_dir():
        raise StorageError("check", directory, NotADirectoryError(20, "not a folder"))
    return directory


def _inspect(directory: Path, name: str, *, repair: bool, lock_timeout: float) -> _Inspection:
    paths = layout.CollectionFiles(directory, name)
    lock = ProcessLock(paths.lock, lock_timeout)
    try:
        with lock:
            found = _Inspection()
            counter = existing_counter(paths.changes) if repair else NO_COUNTER
            try:
                _check_temps(paths, found, repair)
                has_snapshot = _read_snapshot(paths.snapshot, found)
                has_journal = _read_journal(paths.journal, found, repair)
                if found.repaired:  # processes that have the collection loaded read it again
                    counter.bump()
            finally:
                counter.close()
            if has_journal and not has_snapshot:
                found.problems.append(
                    Problem(
                        paths.journal,
                        None,
                        f"journal without {paths.snapshot.name}: it holds only the changes since "
                        "the last compaction; restore the collection file from a backup",
                        repairable=False,
                    )
                )
            return found
    finally:
        lock.close()


def _check_temps(paths: layout.CollectionFiles, found: _Inspection, repair: bool) -> None:
    """Files of an interrupted write, compaction or restore of ``<name>.json``.

    Repairing settles them exactly as the engine does when it opens the collection.
    """
    conflicts = {
        paths.dropped: layout.conflicting_drop(paths) and "an interrupted drop's journal",
        paths.next_journal: layout.conflicting_carry(paths) and "a compaction's carried journal",
    }
    conflict = any(conflicts.values())
    for path in layout.find_leftovers(paths):
        if conflicts.get(path):
            problem = f"{conflicts[path]}, beside a newer {paths.journal.name}"
            found.problems.append(Problem(path, None, problem, repairable=False))
            continue
        found.problems.append(
            Problem(
                path,
                None,
                f"left by an interrupted write, compaction or restore of {paths.snapshot.name}; "
                "the next open settles it",
                repairable=True,
            )
        )
    if repair and not conflict:
        found.repaired.extend(layout.settle_leftovers(paths))


def _read_snapshot(path: Path, found: _Inspection) -> bool:
    loaded = atomic.read_file(path)
    if loaded is None:
        return False
    raw, fd = loaded
    os.close(fd)
    found.size += len(raw)
    try:
        found.data = snapshot.parse(raw, path)
    except CorruptFileError as exc:
        found.problems.append(Problem(path, exc.position, exc.problem, repairable=False))
    return True


def _read_journal(path: Path, found: _Inspection, repair: bool) -> bool:
    journal_file = JournalFile.open(path, create=False)
    if journal_file is None:
        return False
    try:
        size = os.fstat(journal_file.fd).st_size
        found.size += size
        try:
            records, valid_end = journal_file.read_new()
        except CorruptFileError as exc:
            found.problems.append(Problem(path, exc.position, exc.problem, repairable=False))
            return True
        found.data = batches.replay(found.data, records)
        if journal_file.written_end > valid_end:
            torn = journal_file.written_end - valid_end
            found.problems.append(
                Problem(
                    path,
                    valid_end,
                    f"torn tail: the last {torn} bytes are an append that never completed, "
                    "so it was never acknowledged",
                    repairable=True,
                )
            )
            if repair:
                journal_file.truncate_torn_tail(valid_end)
                found.size -= size - valid_end
                found.repaired.append(
                    f"cut the torn tail of {path} at byte {valid_end} ({torn} bytes)"
                )
    finally:
        os.close(journal_file.fd)
    return True


def _check_manifest(directory: Path) -> list[Problem]:
    """A backup folder: verify the manifest and every checksum, as a restore would."""
    if not (directory / backup.MANIFEST_NAME).exists():
        return []
    try:
        backup.read_backup(directory)
    except CorruptFileError as exc:
        return [Problem(exc.path, exc.position, exc.problem, repairable=False)]
    except BackupError as exc:
        return [Problem(directory / backup.MANIFEST_NAME, None, exc.problem, repairable=False)]
    return []

"""The backup folder format: ``<name>.json`` files and a manifest, itself a database folder.

Every backend writes its backups with ``write_backup`` (from one consistent moment it read) and
reads them with ``read_backup``, which verifies every file (checksum and JSON) before a restore
changes anything. A backup is written to a temp folder and renamed into place.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any

from .backends.files import atomic, catalog, layout, snapshot
from .backends.files.segments import Records
from .codec import DecodeError, decode, encode
from .errors import BackupError, CorruptFileError, StorageError
from .names import validate_collection_name

MANIFEST_NAME = "asyncjsondb-backup.manifest"
FORMAT = "asyncjsondb-backup"
VERSION = 1


def check_target(target: Path) -> None:
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise BackupError(target, "already exists and is not an empty folder")


Indexes = Mapping[str, list[dict[str, Any]]]  # collection -> [{"path": ..., "unique": ...}]


class _Tally:
    """The bytes of a file as they are written: counted and hashed, then let go."""

    def __init__(self) -> None:
        self.digest = hashlib.sha256()
        self.size = 0

    def passing(self, pieces: Iterator[bytes], per_block: int = 1000) -> Iterator[bytes]:
        """``pieces`` joined a thousand at a time (joining a whole large collection at once
        would hold the GIL, and so every event loop of the process, for a long copy), each
        block freed once written: freeing 200 MB of blocks at the end is ~20 ms of unmapping
        memory, with the GIL held."""
        while block := b"".join(islice(pieces, per_block)):
            self.digest.update(block)
            self.size += len(block)
            yield block


def write_backup(
    moment: Mapping[str, snapshot.Pairs], target: Path, indexes: Indexes | None = None
) -> None:
    """Write ``moment`` (collection -> key -> encoded value) as a backup folder at ``target``,
    with each collection's index definitions in the manifest."""
    check_target(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # name the folder on the way that could not be made
        raise StorageError(f"write the backup {target}:", exc.filename or target, exc) from exc
    temp = atomic.temp_path_for(target)
    placed = False
    try:
        temp.mkdir()
        entries = {}
        for name, data in moment.items():
            tally = _Tally()
            written = layout.CollectionFiles(temp, name).snapshot
            os.close(atomic.write_atomically(written, tally.passing(snapshot.render(data))))
            entries[name] = {
                "file": written.name,
                "records": len(data),
                "bytes": tally.size,
                "sha256": tally.digest.hexdigest(),
            }
            if indexes and indexes.get(name):
                entries[name]["indexes"] = indexes[name]
        manifest = {
            "format": FORMAT,
            "version": VERSION,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "collections": entries,
        }
        os.close(atomic.write_atomically(temp / MANIFEST_NAME, [encode(manifest), b"\n"]))
        if target.exists():
            target.rmdir()
        os.rename(temp, target)
        placed = True
        atomic.fsync_directory(target.parent)
    except BaseException as exc:
        # A backup whose rename may not be durable is taken back, so that a retry can write it.
        shutil.rmtree(target if placed else temp, ignore_errors=True)
        if isinstance(exc, OSError) and not isinstance(exc, StorageError):
            raise StorageError("write the backup", target, exc) from exc
        raise


def read_backup(source: Path, only: str | None = None) -> dict[str, tuple[bytes, Records]]:
    """Verify a whole backup (or, with ``only``, its manifest and that collection); return each
    collection's file bytes and parsed data."""
    entries = _read_manifest(source)["collections"]
    if only is not None:
        if only not in entries:
            held = ", ".join(sorted(entries)) or "none"
            raise BackupError(source, f"holds no collection {only!r} (it holds: {held})")
        entries = {only: entries[only]}
    return {name: _read_entry(source, entry) for name, entry in entries.items()}


def read_backup_indexes(source: Path) -> dict[str, list[dict[str, Any]]]:
    """Each collection's index definitions in a backup (none in a backup made before them)."""
    manifest_path = source / MANIFEST_NAME
    return {
        name: catalog.checked_definitions(entry.get("indexes", []), manifest_path)
        for name, entry in _read_manifest(source)["collections"].items()
    }


@dataclass(frozen=True)
class BackupInfo:
    """A backup folder as its manifest describes it (its files are verified only by a restore
    or ``check``)."""

    path: Path
    created: str  # UTC, ISO 8601
    collections: dict[str, int]  # name -> records
    bytes: int  # of its collection files


def list_backups(folder: Path) -> list[BackupInfo]:
    """The backups in ``folder`` (its sub-folders with a readable manifest, and itself), oldest
    first. Folders that are not backups are left out."""
    if not folder.is_dir():
        raise BackupError(folder, "no such folder")
    try:
        candidates = [folder, *sorted(p for p in folder.iterdir() if p.is_dir())]
    except OSError as exc:
        raise StorageError("list", folder, exc) from exc
    found = []
    for candidate in candidates:
        try:
            manifest = _read_manifest(candidate)
        except (BackupError, CorruptFileError, StorageError):
            continue
        entries = manifest["collections"]
        records = {name: _count(entry.get("records")) for name, entry in entries.items()}
        size = sum(_count(entry.get("bytes")) for entry in entries.values())
        found.append(BackupInfo(candidate, str(manifest.get("created", "")), records, size))
    return sorted(found, key=lambda info: (info.created, str(info.path)))


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _read_manifest(source: Path) -> dict[str, Any]:
    """The manifest, its format and each collection's name and entry checked."""
    manifest_path = source / MANIFEST_NAME
    if not source.is_dir():
        raise BackupError(source, "no such folder")
    try:
        manifest: Any = decode(manifest_path.read_bytes())
    except FileNotFoundError:
        raise BackupError(source, f"no {MANIFEST_NAME}: not a backup folder") from None
    except OSError as exc:
        problem = exc.strerror or type(exc).__name__
        raise BackupError(source, f"cannot read {MANIFEST_NAME}: {problem}") from exc
    except (DecodeError, ValueError) as exc:
        raise CorruptFileError(manifest_path, f"not valid JSON ({exc})") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise CorruptFileError(manifest_path, f"not an {FORMAT} manifest")
    if manifest.get("version") != VERSION:
        raise BackupError(source, f"format version {manifest.get('version')!r} is not supported")
    entries = manifest.get("collections")
    if not isinstance(entries, dict):
        raise CorruptFileError(manifest_path, "'collections' is not an object")
    for entry in entries.values():
        if not isinstance(entry, dict) or not isinstance(entry.get("file"), str):
            raise CorruptFileError(manifest_path, f"bad collection entry {entry!r}")
    manifest["collections"] = {validate_collection_name(n): e for n, e in entries.items()}
    return manifest


def _read_entry(source: Path, entry: dict[str, Any]) -> tuple[bytes, Records]:
    path = source / entry["file"]
    if path.parent != source or not path.name.endswith(layout.SNAPSHOT_SUFFIX):
        raise CorruptFileError(source / MANIFEST_NAME, f"bad file name {entry['file']!r}")
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise BackupError(source, f"{path.name} is listed in the manifest but missing") from None
    except OSError as exc:
        raise StorageError("read", path, exc) from exc
    if hashlib.sha256(raw).hexdigest() != entry.get("sha256"):
        raise CorruptFileError(path, "content does not match the manifest's checksum")
    data = snapshot.parse(raw, path)
    if len(data) != entry.get("records"):
        raise CorruptFileError(path, "record count does not match the manifest")
    return raw, data

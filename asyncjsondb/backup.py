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
from itertools import islice
from pathlib import Path
from typing import Any

from .backends.files import atomic, catalog, layout, snapshot
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


def _in_blocks(pieces: Iterator[bytes], per_block: int = 1000) -> Iterator[bytes]:
    """Join ``pieces`` a thousand at a time: joining a whole large collection at once would
    hold the GIL, and so every event loop of the process, for a long copy."""
    while block := b"".join(islice(pieces, per_block)):
        yield block


def write_backup(
    moment: dict[str, dict[str, bytes]], target: Path, indexes: Indexes | None = None
) -> None:
    """Write ``moment`` (collection -> key -> encoded value) as a backup folder at ``target``,
    with each collection's index definitions in the manifest."""
    check_target(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = atomic.temp_path_for(target)
    try:
        temp.mkdir()
        entries = {}
        for name, data in moment.items():
            blocks = list(_in_blocks(snapshot.render(data)))
            written = layout.CollectionFiles(temp, name).snapshot
            os.close(atomic.write_atomically(written, blocks))
            digest = hashlib.sha256()
            for block in blocks:
                digest.update(block)
            entries[name] = {
                "file": written.name,
                "records": len(data),
                "bytes": sum(map(len, blocks)),
                "sha256": digest.hexdigest(),
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
        atomic.fsync_directory(target.parent)
    except BaseException as exc:
        shutil.rmtree(temp, ignore_errors=True)
        if isinstance(exc, OSError) and not isinstance(exc, StorageError):
            raise StorageError("write the backup", target, exc) from exc
        raise


def read_backup(source: Path) -> dict[str, tuple[bytes, dict[str, bytes]]]:
    """Verify a whole backup; return each collection's file bytes and parsed data."""
    return {
        validate_collection_name(name): _read_entry(source, entry)
        for name, entry in _read_entries(source).items()
    }


def read_backup_indexes(source: Path) -> dict[str, list[dict[str, Any]]]:
    """Each collection's index definitions in a backup (none in a backup made before them)."""
    return {
        name: catalog.checked_definitions(entry.get("indexes", []), source / MANIFEST_NAME)
        for name, entry in _read_entries(source).items()
        if isinstance(entry, dict)  # read_backup refuses any other
    }


def _read_entries(source: Path) -> dict[str, Any]:
    manifest_path = source / MANIFEST_NAME
    if not source.is_dir():
        raise BackupError(source, "no such folder")
    try:
        manifest: Any = decode(manifest_path.read_bytes())
    except FileNotFoundError:
        raise BackupError(source, f"no {MANIFEST_NAME}: not a backup folder") from None
    except (DecodeError, ValueError) as exc:
        raise CorruptFileError(manifest_path, f"not valid JSON ({exc})") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise CorruptFileError(manifest_path, f"not an {FORMAT} manifest")
    if manifest.get("version") != VERSION:
        raise BackupError(source, f"format version {manifest.get('version')!r} is not supported")
    entries = manifest.get("collections")
    if not isinstance(entries, dict):
        raise CorruptFileError(manifest_path, "'collections' is not an object")
    return entries


def _read_entry(source: Path, entry: Any) -> tuple[bytes, dict[str, bytes]]:
    if not isinstance(entry, dict) or not isinstance(entry.get("file"), str):
        raise CorruptFileError(source / MANIFEST_NAME, f"bad collection entry {entry!r}")
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

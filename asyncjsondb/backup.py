"""Backups: a folder of ``<name>.json`` files and a manifest, itself usable as a database folder.

A backup is taken with every collection locked at once, so it is one consistent moment of the
whole database even while writers go on; it is written to a temp folder and renamed into place.
A restore verifies every file of the backup (checksum and JSON) before it changes anything.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from . import files, snapshot
from .codec import DecodeError, decode, encode
from .errors import BackupError, CorruptFileError, InvalidNameError, StorageError
from .names import validate_collection_name
from .registry import Folder
from .store import CollectionStore

MANIFEST_NAME = "asyncjsondb-backup.manifest"
FORMAT = "asyncjsondb-backup"
VERSION = 1


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
    _check_target(target)
    with _every_collection_locked(folder) as stores:
        for store in stores:
            store._refresh_locked()
        moment = {store.name: dict(store.data) for store in stores}
    write_backup(moment, target)


def _check_target(target: Path) -> None:
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise BackupError(target, "already exists and is not an empty folder")


def write_backup(moment: dict[str, dict[str, bytes]], target: Path) -> None:
    """Write ``moment`` (collection -> key -> encoded value) as a backup folder at ``target``."""
    _check_target(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = files.temp_path_for(target)
    try:
        temp.mkdir()
        entries = {}
        for name, data in moment.items():
            raw = b"".join(snapshot.render(data))
            os.close(files.write_atomically(temp / f"{name}.json", [raw]))
            entries[name] = {
                "file": f"{name}.json",
                "records": len(data),
                "bytes": len(raw),
                "sha256": hashlib.sha256(raw).hexdigest(),
            }
        manifest = {
            "format": FORMAT,
            "version": VERSION,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "collections": entries,
        }
        os.close(files.write_atomically(temp / MANIFEST_NAME, [encode(manifest), b"\n"]))
        if target.exists():
            target.rmdir()
        os.rename(temp, target)
        files.fsync_directory(target.parent)
    except BaseException as exc:
        shutil.rmtree(temp, ignore_errors=True)
        if isinstance(exc, OSError) and not isinstance(exc, StorageError):
            raise StorageError("write the backup", target, exc) from exc
        raise


def read_backup(source: Path) -> dict[str, tuple[bytes, dict[str, bytes]]]:
    """Verify a whole backup; return each collection's file bytes and parsed data."""
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
    return {
        validate_collection_name(name): _read_entry(source, entry)
        for name, entry in entries.items()
    }


def _read_entry(source: Path, entry: Any) -> tuple[bytes, dict[str, bytes]]:
    if not isinstance(entry, dict) or not isinstance(entry.get("file"), str):
        raise CorruptFileError(source / MANIFEST_NAME, f"bad collection entry {entry!r}")
    path = source / entry["file"]
    if path.parent != source or not path.name.endswith(".json"):
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


def restore_backup(folder: Folder, source: Path) -> None:
    """Replace every collection with the backup's, in three phases under all the locks.

    Settle (fold each journal: the data does not change), stage (write every new file beside
    its collection), swap (renames and deletes). A failure in the first two changes nothing.
    """
    backup = read_backup(source)
    with _every_collection_locked(folder, backup) as stores:
        for store in stores:
            store.settle_locked()
        staged: dict[str, int] = {}
        try:
            for store in stores:
                if store.name in backup:
                    staged[store.name] = store.stage_locked(backup[store.name][0])
        except BaseException:
            for store in stores:
                store.unstage_locked(staged.get(store.name))
            raise
        for store in stores:
            if store.name in backup:
                store.install_staged_locked(staged[store.name], backup[store.name][1])
            else:
                store.remove_files_locked()

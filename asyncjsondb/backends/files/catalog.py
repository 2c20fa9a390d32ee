"""A collection's indexes in the file engine: their definitions on disk, the indexes in memory.

The definitions live in their own small file (``layout.CollectionFiles.indexes``), replaced
atomically, so every process sees an index created or dropped at its next refresh, which compares
the file's identity under the collection's lock. The indexes themselves are built from the data
when first needed after a load (``current``) and then follow every record committed or replayed,
so a unique index refuses a duplicate from any process. Callers hold the collection's locks.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from ...codec import decode
from ...errors import CorruptFileError, DuplicateKeyError
from ...paths import MISSING
from . import atomic
from .indexes import Change, IndexSet
from .journal import BatchRecord, ClearRecord, DeleteRecord, Record, SetRecord
from .segments import Records

_log = logging.getLogger("asyncjsondb")
Definition = dict[str, Any]  # {"path": str, "unique": bool}


class Catalog:
    """The definitions of one collection's indexes and, once built, the indexes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.definitions: list[Definition] = []
        self._identity: tuple[int, int, int] | None = None
        self._built: IndexSet | None = None  # None: to be built from the data at next use

    @property
    def empty(self) -> bool:
        return not self.definitions

    def forget(self) -> None:
        """The data was replaced: build again at next use."""
        self._built = None

    def reload_if_changed(self) -> None:
        """Read the definitions again if another process (or a restore) replaced the file."""
        stat = atomic.stat_or_none(self.path)
        identity = None if stat is None else (stat.st_ino, stat.st_size, stat.st_mtime_ns)
        if identity == self._identity:
            return
        self.definitions = [] if stat is None else _read_definitions(self.path)
        self._identity = identity
        self._built = None

    def prepare(self, data: Records) -> None:
        """Before a commit: build the indexes if a unique one must check the writes."""
        if self.definitions and any(definition["unique"] for definition in self.definitions):
            self.current(data)

    @property
    def prepared(self) -> bool:
        """Whether ``prepare`` has nothing to build: a commit then costs O(its records)."""
        return (
            not self.definitions
            or self._built is not None
            or not any(d["unique"] for d in self.definitions)
        )

    def current(self, data: Records) -> IndexSet:
        """The indexes, built over ``data`` (the collection in memory) if they are not yet."""
        if self._built is None:
            self._built = _build(self.definitions, data.items())
        return self._built

    def follow(self, records: Iterable[Record], get: Callable[[str], bytes | None]) -> None:
        """Apply records read or about to be written to the built indexes; ``get`` is the data
        before them. A unique index refusing them raises ``DuplicateKeyError``, nothing changed."""
        if self._built is None or self.empty:
            return
        changes, cleared = _changes(records, get)
        if cleared:
            self._built = _build(self.definitions, ())
        self._built.apply_many(changes)

    def create(self, path: str, unique: bool, data: Records) -> bool:
        """Build and record an index; False when it exists already. Raises (creating nothing)
        over duplicates of a unique one."""
        indexes = self.current(data)
        decoded = ((key, decode(raw)) for key, raw in data.items())
        if not indexes.create(path, decoded, unique=unique):
            return False
        try:
            self._write([*self.definitions, {"path": path, "unique": unique}])
        except BaseException:
            indexes.drop(path)
            raise
        return True

    def replace(self, definitions: list[Definition]) -> None:
        """Take ``definitions`` (a restore's) in place of the current ones."""
        if definitions:
            self._write(definitions)
        else:
            self.remove()

    def remove(self) -> None:
        """Delete the definitions (the collection is dropped, or restored without indexes)."""
        if atomic.stat_or_none(self.path) is not None:  # no unlink at all for most collections
            atomic.remove_file(self.path)
        self.definitions, self._identity, self._built = [], None, None

    def drop(self, path: str) -> bool:
        if not any(definition["path"] == path for definition in self.definitions):
            return False
        self._write([d for d in self.definitions if d["path"] != path])
        if self._built is not None:
            self._built.drop(path)
        return True

    def _write(self, definitions: list[Definition]) -> None:
        text = json.dumps(definitions, ensure_ascii=False).encode()
        fd = atomic.write_atomically(self.path, [text])
        try:
            stat = os.fstat(fd)
        finally:
            os.close(fd)
        self.definitions = definitions
        self._identity = (stat.st_ino, stat.st_size, stat.st_mtime_ns)


def _read_definitions(path: Path) -> list[Definition]:
    loaded = atomic.read_file(path)
    if loaded is None:
        return []
    text, fd = loaded
    os.close(fd)
    try:
        definitions = json.loads(text)
    except ValueError as exc:
        raise CorruptFileError(path, f"not JSON: {exc}") from None
    return checked_definitions(definitions, path)


def checked_definitions(definitions: object, path: Path) -> list[Definition]:
    """``definitions`` read from ``path``, if they are a list of ``{"path", "unique"}``."""
    if not isinstance(definitions, list) or not all(_is_definition(d) for d in definitions):
        raise CorruptFileError(path, 'not a list of {"path": str, "unique": bool}')
    return [{"path": d["path"], "unique": d["unique"]} for d in definitions]


def _is_definition(definition: object) -> bool:
    return (
        isinstance(definition, dict)
        and isinstance(definition.get("path"), str)
        and isinstance(definition.get("unique"), bool)
    )


def _build(definitions: list[Definition], items: Iterable[tuple[str, bytes]]) -> IndexSet:
    indexes = IndexSet()
    if definitions:
        decoded = [(key, decode(raw)) for key, raw in items]
        for definition in definitions:
            path, unique = definition["path"], definition["unique"]
            try:
                indexes.create(path, decoded, unique=unique)
            except DuplicateKeyError as exc:
                # Data that repeats a value (restored from a backup made without the index):
                # the data stays readable, queries stay right, and only uniqueness waits.
                _log.warning("the unique index on %r does not hold: %s", path, exc)
                indexes.create(path, decoded, unique=False)
    return indexes


def _changes(
    records: Iterable[Record], get: Callable[[str], bytes | None]
) -> tuple[list[Change], bool]:
    """Each record as ``(key, old, new)`` decoded values; True when a clear comes first."""
    written: dict[str, bytes | None] = {}  # what earlier records of the same call left
    changes: list[Change] = []
    cleared = False

    def before(key: str) -> Any:
        raw = written[key] if key in written else (None if cleared else get(key))
        return MISSING if raw is None else decode(raw)

    for record in _flat(records):
        match record:
            case SetRecord(key=key, value_json=value_json):
                changes.append((key, before(key), decode(value_json)))
                written[key] = value_json
            case DeleteRecord(key=key):
                old = before(key)
                if old is not MISSING:
                    changes.append((key, old, MISSING))
                written[key] = None
            case ClearRecord():
                changes, written, cleared = [], {}, True
    return changes, cleared


def _flat(records: Iterable[Record]) -> Iterable[Record]:
    for record in records:
        if isinstance(record, BatchRecord):
            yield from _flat(record.records)
        else:
            yield record

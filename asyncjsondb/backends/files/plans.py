"""How the file engine turns a mutation into the journal record it commits, inside the lock.

Planning is pure: it reads through a ``View`` and returns the record to commit (or None) and the
caller's result. Nothing is applied until the record is safely appended, so a failed mutation
changes nothing.
"""

from __future__ import annotations

import math
from typing import Any

from ...codec import decode, encode, encode_key
from ...errors import InvalidOperationError, InvalidValueError
from ...paths import Path as FieldPath
from ..base import Clear, Delete, DeleteMany, Increment, Mutation, SetMany, SetValue, Update
from ..increment import add, is_number, nested
from .journal import BatchRecord, ClearRecord, DeleteRecord, Record, SetRecord
from .segments import Records

Number = int | float
Plan = tuple[Record | None, Any]
_MISSING = object()


class View:
    """The collection as earlier mutations of the same commit left it, without touching it."""

    def __init__(self, data: Records) -> None:
        self._data = data
        self._changes: dict[str, bytes | None] = {}
        self._cleared = False

    def get(self, key: str) -> bytes | None:
        value = self._changes.get(key, _MISSING)
        if value is _MISSING:
            return None if self._cleared else self._data.get(key)
        return value  # type: ignore[return-value]

    def record(self, record: Record) -> None:
        match record:
            case SetRecord():
                self._changes[record.key] = record.value_json
            case DeleteRecord():
                self._changes[record.key] = None
            case ClearRecord():
                self._changes.clear()
                self._cleared = True
            case BatchRecord():
                for item in record.records:
                    self.record(item)


def plan(mutation: Mutation, view: View, collection: str) -> Plan:
    """The record that makes ``mutation`` (None when it changes nothing), and its result."""
    match mutation:
        case SetValue(key, value_json):
            return SetRecord(key, encode_key(key), value_json), True
        case Delete(key):
            if view.get(key) is None:
                return None, False
            return DeleteRecord(key, encode_key(key)), True
        case Clear():
            return ClearRecord(), True
        case SetMany(items):
            sets = tuple(SetRecord(k, encode_key(k), v) for k, v in items)
            return (BatchRecord(sets) if sets else None), len(sets)
        case DeleteMany(keys):
            present = [DeleteRecord(k, encode_key(k)) for k in keys if view.get(k) is not None]
            return (BatchRecord(tuple(present)) if present else None), len(present)
        case Update(key, updates):
            return _update(view, collection, key, updates)
        case Increment(key, field, amount):
            return _increment(view, collection, key, field, amount)


def _update(view: View, collection: str, key: str, updates: dict[str, Any]) -> Plan:
    stored = view.get(key)
    if stored is None:
        return None, False
    current = decode(stored)
    if not isinstance(current, dict):
        kind = type(current).__name__
        raise InvalidOperationError(
            f"update needs a stored object, found {kind}", collection=collection, key=key
        )
    current.update(updates)
    return SetRecord(key, encode_key(key), encode(current)), True


def _increment(view: View, collection: str, key: str, field: FieldPath, amount: Number) -> Plan:
    stored = view.get(key)
    current = None if stored is None else decode(stored)
    if current is None:
        document: Any = nested(field, amount)
        result = amount
    elif is_number(current):
        result = document = current + amount
    elif isinstance(current, dict):
        result = add(current, field, amount, collection, key)
        document = current
    else:
        kind = type(current).__name__
        raise InvalidOperationError(
            f"increment needs an object or a number, found {kind}", collection=collection, key=key
        )
    if isinstance(result, float) and not math.isfinite(result):
        raise InvalidValueError(f"incrementing by {amount!r} overflows to {result!r}", key=key)
    return SetRecord(key, encode_key(key), encode(document)), result

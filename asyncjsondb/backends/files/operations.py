"""Mutations as values: each plans a journal record from the current state, inside the lock.

Planning is pure: it reads through a ``View`` and returns the record to commit (or None) and the
caller's result. Nothing is applied until the record is safely appended, so a failed operation
changes nothing.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from ...codec import decode, encode, encode_key
from ...errors import InvalidOperationError, InvalidValueError
from ..base import Clear, Delete, Increment, Mutation, SetMany, SetValue, Update
from . import journal
from .journal import BatchRecord, ClearRecord, DeleteRecord, Record, SetRecord

Number = int | float
_MISSING = object()


class View:
    """The collection as earlier operations of the same commit left it, without touching it."""

    def __init__(self, data: dict[str, bytes]) -> None:
        self._data = data
        self._changes: dict[str, bytes | None] = {}
        self._cleared = False

    def get(self, key: str) -> bytes | None:
        value = self._changes.get(key, _MISSING)
        if value is _MISSING:
            return None if self._cleared else self._data.get(key)
        return value  # type: ignore[return-value]

    def record(self, record: Record) -> None:
        if isinstance(record, SetRecord):
            self._changes[record.key] = record.value_json
        elif isinstance(record, DeleteRecord):
            self._changes[record.key] = None
        elif isinstance(record, ClearRecord):
            self._changes.clear()
            self._cleared = True
        else:
            for item in record.records:
                self.record(item)


Plan = tuple[Record | None, Any]


@dataclass(frozen=True)
class Operation:
    """One caller's mutation: ``plan(view, collection)`` gives its record and result."""

    plan: Callable[[View, str], Plan]
    durable: bool


def set_value(key: str, value_json: bytes) -> Callable[[View, str], Plan]:
    record = SetRecord(key, encode_key(key), value_json)
    return lambda view, collection: (record, True)


def delete(key: str) -> Callable[[View, str], Plan]:
    record = DeleteRecord(key, encode_key(key))

    def plan(view: View, collection: str) -> Plan:
        return (record, True) if view.get(key) is not None else (None, False)

    return plan


def clear() -> Callable[[View, str], Plan]:
    return lambda view, collection: (ClearRecord(), True)


def set_many(items: Iterable[tuple[str, bytes]]) -> Callable[[View, str], Plan]:
    record = BatchRecord(tuple(SetRecord(k, encode_key(k), v) for k, v in items))
    return lambda view, collection: (record if record.records else None, len(record.records))


def delete_many(keys: Iterable[str]) -> Callable[[View, str], Plan]:
    """Delete the distinct ``keys`` that exist (the caller removed duplicates)."""

    def plan(view: View, collection: str) -> Plan:
        present = [DeleteRecord(k, encode_key(k)) for k in keys if view.get(k) is not None]
        return (BatchRecord(tuple(present)) if present else None), len(present)

    return plan


def update(key: str, updates: dict[str, Any]) -> Callable[[View, str], Plan]:
    def plan(view: View, collection: str) -> Plan:
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

    return plan


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def increment(key: str, field: str, amount: Number) -> Callable[[View, str], Plan]:
    def plan(view: View, collection: str) -> Plan:
        stored = view.get(key)
        current = None if stored is None else decode(stored)
        if current is None:
            document: Any = {field: amount}
            result = amount
        elif _is_number(current):
            result = document = current + amount
        elif isinstance(current, dict):
            if field in current and not _is_number(current[field]):
                kind = type(current[field]).__name__
                raise InvalidOperationError(
                    f"field {field!r} holds {kind}, not a number", collection=collection, key=key
                )
            result = current[field] = current.get(field, 0) + amount
            document = current
        else:
            kind = type(current).__name__
            raise InvalidOperationError(
                f"increment needs an object or a number, found {kind}",
                collection=collection,
                key=key,
            )
        if isinstance(result, float) and not math.isfinite(result):
            raise InvalidValueError(f"incrementing by {amount!r} overflows to {result!r}", key=key)
        return SetRecord(key, encode_key(key), encode(document)), result

    return plan


def apply_all(data: dict[str, bytes], records: Iterable[Record]) -> None:
    for record in records:
        journal.apply(data, record)


def plan_for(mutation: Mutation) -> Callable[[View, str], Plan]:
    """The journal plan of a backend-neutral mutation."""
    if isinstance(mutation, SetValue):
        return set_value(mutation.key, mutation.value_json)
    if isinstance(mutation, Delete):
        return delete(mutation.key)
    if isinstance(mutation, Clear):
        return clear()
    if isinstance(mutation, Update):
        return update(mutation.key, mutation.updates)
    if isinstance(mutation, Increment):
        return increment(mutation.key, mutation.field, mutation.amount)
    if isinstance(mutation, SetMany):
        return set_many(mutation.items)
    return delete_many(mutation.keys)

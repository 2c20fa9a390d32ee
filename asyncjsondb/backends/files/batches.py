"""Applying committed records to the dict that readers on event loops read without a lock.

A reader must see a batch whole or not at all, and a batch must cost O(its size), not a copy of
the collection. So a batch is first reduced, in Python, to its net effect on the keys it names
(``Changes``), and then applied in one pass of C code: ``deque(map(...), maxlen=0)`` over
``dict.pop`` and ``dict.__setitem__`` runs no Python bytecode, so no other thread can run
between its first and last step (CPython switches threads only between bytecodes; keys are
``str`` and values ``bytes``, whose hashing, comparison and freeing are C too). Readers that take
several keys do it in one such call as well (``list(data.items())``, ``map(data.get, keys)``).
A batch after a ``clear`` builds a new dict from nothing and swaps it in: O(batch) as well.
So does a batch that takes a dict past ``segments.SEGMENT`` keys: it is copied into ``Segments``
first (whose ``apply`` is the same single pass over its dicts).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import chain, repeat
from operator import is_

from . import journal
from .journal import BatchRecord, ClearRecord, DeleteRecord, Record, SetRecord
from .segments import Records, Segments, grown, outgrows

_REPLAY = 4096  # journal records applied to Segments in one pass: a millisecond or so


@dataclass
class Changes:
    """The net effect of records on ``data``, in the order a sequential replay leaves keys:
    ``removed`` keys go, ``updated`` ones keep their place, ``added`` ones go to the end."""

    data: Records
    removed: dict[str, None] = field(default_factory=dict)
    updated: dict[str, bytes] = field(default_factory=dict)
    added: dict[str, bytes] = field(default_factory=dict)

    def set(self, key: str, value: bytes) -> None:
        if key in self.added:
            self.added[key] = value
        elif key in self.data and key not in self.removed:
            self.updated[key] = value
        else:
            self.added[key] = value

    def delete(self, key: str) -> None:
        self.added.pop(key, None)
        self.updated.pop(key, None)
        if key in self.data:
            self.removed[key] = None

    def apply(self) -> None:
        """Apply all of it at once (see the module docstring for why it is atomic)."""
        data = self.data
        if isinstance(data, Segments):
            data.apply(self.removed, self.updated, self.added)
            return
        deque(
            chain(
                map(data.pop, self.removed, repeat(None)),
                map(data.__setitem__, self.updated, self.updated.values()),
                map(data.__setitem__, self.added, self.added.values()),
            ),
            maxlen=0,
        )


def apply_committed(data: Records, records: list[Record]) -> Records:
    """Apply ``records`` so that readers of ``data`` see all or none of them; return the
    mapping readers should use from now on (a new one after a ``clear``, or past a size)."""
    if len(records) == 1:  # the common case: one key, set or deleted in one step
        match records[0]:
            case SetRecord(key, _, value_json):
                data = grown(data, 1)
                data[key] = value_json
                return data
            case DeleteRecord(key):
                data.pop(key, None)
                return data
    clears = [i for i, record in enumerate(records) if isinstance(record, ClearRecord)]
    changes = Changes({} if clears else data)
    _collect(changes, records[clears[-1] + 1 :] if clears else records)
    changes.data = grown(changes.data, len(changes.added))
    changes.apply()
    return changes.data


def sets_in(records: list[Record]) -> int:
    """How many sets ``records`` hold, a batch's counted: at most that many keys are added."""
    count = 0
    for record in records:
        if type(record) is BatchRecord:
            count += sum(map(is_, map(type, record.records), repeat(SetRecord)))
        else:
            count += type(record) is SetRecord
    return count


def prepared(data: Records, records: list[Record]) -> Records:
    """``data``, or its ``Segments`` copy when the sets in ``records`` could take a dict past
    ``SEGMENT`` (not after a clear: applying them builds a new mapping). Before a commit's
    append: a copy that fails must not leave a record in the journal that memory lacks."""
    if isinstance(data, Segments) or ClearRecord in map(type, records):
        return data
    return grown(data, sets_in(records))


def replay(data: Records, records: list[Record]) -> Records:
    """Apply records read from a journal to ``data``, which nobody reads yet; return what
    replaces it. Into a dict that stays within ``SEGMENT``, a record at a time (the fastest
    way); else a chunk at a time, a batch's records loose (nobody reads yet), as commits are
    applied, so that no C call is long."""
    if isinstance(data, dict) and not outgrows(data, sets_in(records)):
        journal.apply(data, records)
        return data
    loose = list(chain.from_iterable(map(_loose, records)))
    for start in range(0, len(loose), _REPLAY):
        data = apply_committed(data, loose[start : start + _REPLAY])
    return data


def _loose(record: Record) -> Iterable[Record]:
    return record.records if isinstance(record, BatchRecord) else (record,)


def _collect(changes: Changes, records: Iterable[Record]) -> None:
    for record in records:
        match record:
            case SetRecord():
                changes.set(record.key, record.value_json)
            case DeleteRecord():
                changes.delete(record.key)
            case BatchRecord():
                _collect(changes, record.records)
            case ClearRecord():  # pragma: no cover - apply_committed starts after the last one
                raise AssertionError("a clear inside a batch")

"""Indexes held in memory by the file engine: one per field path, kept current by every write.

An index maps each value a path holds to the keys holding it (a list also files its key under
each element, so that equality and ranges find records "holding" a value, as queries do), keeps
the distinct numbers and strings sorted for ranges, and answers in insertion order, which the
collection's ``KeyOrder`` numbers. Keys and tokens cost one dict slot each when a value is held
by one key only, the common case for the fields people index.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import Any, TypeAlias

from sortedcontainers import SortedList  # type: ignore[import-untyped]

from ...errors import DuplicateKeyError, InvalidQueryError
from ...ordering import freeze
from ...paths import MISSING, Path, parse_path

Change: TypeAlias = "tuple[str, Any, Any]"  # key, old value, new value (MISSING when absent)
_Posting: TypeAlias = "str | dict[str, None]"  # one key, or an insertion-ordered set of keys
_LAST = sys.maxsize


class KeyOrder:
    """Each key's place in the collection's insertion order, shared by its indexes."""

    def __init__(self, keys: Iterable[str] = ()) -> None:
        self.seq: dict[str, int] = {key: n for n, key in enumerate(keys)}
        self._next = len(self.seq)

    def apply(self, key: str, old: Any, new: Any) -> None:
        if new is MISSING:
            self.seq.pop(key, None)
        elif old is MISSING and key not in self.seq:
            self.seq[key] = self._next
            self._next += 1

    def arrange(self, keys: Iterable[str]) -> list[str]:
        """``keys`` in insertion order (linear time when they already are)."""
        seq = self.seq
        return sorted(keys, key=lambda key: seq.get(key, _LAST))


def _add(postings: dict[Any, _Posting], token: Any, key: str, seq: dict[str, int]) -> bool:
    """File ``key`` under ``token``; False when that leaves the keys out of insertion order."""
    held = postings.get(token)
    if held is None:
        postings[token] = key
        return True
    place = seq.get(key, _LAST)  # a key not numbered yet is being inserted: it comes last
    if type(held) is str:
        if held != key:
            first = place < seq.get(held, _LAST)
            postings[token] = {key: None, held: None} if first else {held: None, key: None}
        return True
    if key in held:
        return True
    in_order = seq.get(next(reversed(held)), _LAST) <= place
    held[key] = None  # type: ignore[index]
    return in_order


def _remove(postings: dict[Any, _Posting], token: Any, key: str, seq: dict[str, int]) -> bool:
    held = postings.get(token)
    if held == key:
        del postings[token]
    elif type(held) is dict:
        held.pop(key, None)
        if len(held) == 1:
            postings[token] = next(iter(held))
    return True


def _keys(held: _Posting | None) -> Iterable[str]:
    if held is None:
        return ()
    return (held,) if type(held) is str else held


class PathIndex:
    """The index of one path; ``unique`` ones hold each whole value for one key at most."""

    def __init__(self, path: Path, order: KeyOrder, *, unique: bool = False) -> None:
        self.path = path
        self.unique = unique
        self.order = order
        self.whole: dict[Any, _Posting] = {}  # the field's value -> keys
        self.elements: dict[Any, _Posting] = {}  # an element of a list field -> keys
        self.numbers: SortedList = SortedList()  # distinct numbers held, whole or as elements
        self.strings: SortedList = SortedList()
        self.lists = 0  # records whose field is a list: their order is not the index's
        self.unordered: set[Any] = set()  # tokens whose keys are out of insertion order
        self._get = path.getter()

    # --- keeping it current ----------------------------------------------------------------

    def apply(self, key: str, old: Any, new: Any) -> None:
        """Follow one write; a unique violation raises before anything changes."""
        get = self._get
        before = get(key, old) if old is not MISSING else MISSING
        after = get(key, new) if new is not MISSING else MISSING
        if before is after:
            return
        token = freeze(after) if after is not MISSING else MISSING
        if before is not MISSING:
            if token is not MISSING and freeze(before) == token:
                return
            self._file(key, before, adding=False)
        if token is not MISSING:
            if self.unique:
                self._check_unique(key, after, token, before)
            self._file(key, after, adding=True)

    def _check_unique(self, key: str, value: Any, token: Any, before: Any) -> None:
        holder = self.whole.get(token)
        if holder is not None and holder != key:
            if before is not MISSING:
                self._file(key, before, adding=True)  # put back what was taken out
            other = holder if type(holder) is str else next(iter(holder))
            raise DuplicateKeyError(self.path.text, value, key=key, other_key=str(other))

    def _file(self, key: str, value: Any, *, adding: bool) -> None:
        token = freeze(value)
        change = _add if adding else _remove
        seq = self.order.seq
        if not change(self.whole, token, key, seq):
            self.unordered.add(token)
        self._sort(token, adding)
        if type(value) is list:
            self.lists += 1 if adding else -1
            for element in {freeze(item) for item in value}:
                change(self.elements, element, key, seq)
                self._sort(element, adding)

    def _sort(self, token: Any, adding: bool) -> None:
        kind = type(token)
        if kind is str:
            values = self.strings
        elif kind is int or kind is float:
            values = self.numbers
        else:
            return
        held = token in self.whole or token in self.elements
        if adding and held and token not in values:
            values.add(token)
        elif not adding and not held:
            values.discard(token)

    # --- lookups ---------------------------------------------------------------------------

    def count(self, value: Any) -> int:
        token = freeze(value)
        return len(set(_keys(self.whole.get(token))) | set(_keys(self.elements.get(token))))

    def equal(self, values: Iterable[Any]) -> list[str]:
        """Keys whose field equals or (as a list) holds one of ``values``, in insertion order."""
        tokens = list(dict.fromkeys(freeze(value) for value in values))
        if len(tokens) == 1:
            return list(self._holders(tokens[0]))
        found: dict[str, None] = {}
        for token in tokens:
            found.update(dict.fromkeys(self._holders(token)))
        return self.order.arrange(found)

    def walk(
        self,
        lower: tuple[Any, bool] | None,
        upper: tuple[Any, bool] | None,
        *,
        descending: bool = False,
    ) -> Iterator[str]:
        """Keys holding a number (or string) in the bounds, in value order; ties in insertion
        order. ``lower`` and ``upper`` are ``(value, inclusive)``; a key may come twice when
        its list holds two such values."""
        bound = (lower or upper or (0, True))[0]
        values = self.strings if type(bound) is str else self.numbers
        tokens = values.irange(
            lower[0] if lower else None,
            upper[0] if upper else None,
            (lower[1] if lower else True, upper[1] if upper else True),
            reverse=descending,
        )
        for token in tokens:
            yield from self._holders(token)

    def _holders(self, token: Any) -> Iterable[str]:
        """The keys holding ``token``, whole or in a list, in insertion order."""
        if token in self.elements:
            both = [*_keys(self.whole.get(token)), *_keys(self.elements[token])]
            return self.order.arrange(dict.fromkeys(both))
        held = self.whole.get(token)
        if type(held) is dict and token in self.unordered:
            self.whole[token] = held = dict.fromkeys(self.order.arrange(held))
            self.unordered.discard(token)
        return _keys(held)

    def between(self, lower: tuple[Any, bool] | None, upper: tuple[Any, bool] | None) -> list[str]:
        """``walk``'s keys, once each, in insertion order."""
        return self.order.arrange(dict.fromkeys(self.walk(lower, upper)))

    def memory(self) -> int:
        """Bytes this index holds beyond the keys themselves (which the collection holds)."""
        size = sys.getsizeof(self.whole) + sys.getsizeof(self.elements)
        for postings in (self.whole, self.elements):
            for token, held in postings.items():
                size += _token_size(token) + (sys.getsizeof(held) if type(held) is dict else 0)
        for values in (self.numbers, self.strings):
            size += sum(sys.getsizeof(part) for part in values._lists)  # noqa: SLF001
            size += sys.getsizeof(values._maxes)  # noqa: SLF001
        return size


def _token_size(token: Any) -> int:
    if type(token) is tuple:
        return sys.getsizeof(token) + sum(_token_size(part) for part in token)
    if type(token) is frozenset:
        return sys.getsizeof(token) + sum(_token_size(part) for part in token)
    return sys.getsizeof(token) if token is not None and type(token) is not bool else 0


class IndexSet:
    """A collection's indexes and the insertion order they answer in."""

    def __init__(self) -> None:
        self.order = KeyOrder()
        self.indexes: dict[str, PathIndex] = {}

    def create(self, path: str, items: Iterable[tuple[str, Any]], *, unique: bool = False) -> bool:
        """Build an index over ``items`` (the collection, in insertion order); False when it
        exists already. Over duplicates of a unique one it raises and builds nothing."""
        checked = parse_path(path, location="index")
        if checked.is_key:
            raise InvalidQueryError("the key is indexed already", location="index")
        existing = self.indexes.get(path)
        if existing is not None:
            if existing.unique != unique:
                raise InvalidQueryError(
                    f"an index on {path!r} exists with unique={existing.unique}: drop it first",
                    location="index",
                )
            return False
        records = list(items)
        order = self.order if self.indexes else KeyOrder(key for key, _ in records)
        index = PathIndex(checked, order, unique=unique)
        for key, value in records:
            index.apply(key, MISSING, value)
        self.order = order
        self.indexes[path] = index
        return True

    def drop(self, path: str) -> bool:
        return self.indexes.pop(path, None) is not None

    def describe(self) -> list[dict[str, Any]]:
        return [{"path": path, "unique": index.unique} for path, index in self.indexes.items()]

    def apply(self, key: str, old: Any, new: Any) -> None:
        """Follow one write in every index, or in none when a unique one refuses it."""
        applied: list[PathIndex] = []
        try:
            for index in self.indexes.values():
                index.apply(key, old, new)
                applied.append(index)
        except DuplicateKeyError:
            for index in applied:
                index.apply(key, new, old)
            raise
        if applied:
            self.order.apply(key, old, new)

    def apply_many(self, changes: Iterable[Change]) -> None:
        """Follow writes in order; when one is refused, undo the others and raise."""
        if not self.indexes:
            return
        done: list[tuple[PathIndex, Change]] = []
        places: list[tuple[str, int | None]] = []  # each key's place before the batch
        try:
            for key, old, new in changes:
                for index in self.indexes.values():
                    index.apply(key, old, new)
                    done.append((index, (key, old, new)))
                places.append((key, self.order.seq.get(key)))
                self.order.apply(key, old, new)
        except DuplicateKeyError:
            for key, place in reversed(places):  # places first: the indexes file keys by them
                if place is None:
                    self.order.seq.pop(key, None)
                else:
                    self.order.seq[key] = place
            for index, (key, old, new) in reversed(done):
                index.apply(key, new, old)
            raise

    def memory(self) -> int:
        order = self.order.seq
        size = sys.getsizeof(order) + sum(sys.getsizeof(n) for n in order.values())
        return size + sum(index.memory() for index in self.indexes.values())

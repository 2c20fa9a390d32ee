"""``Collection``: the dict-like async API of one collection.

Backends hand values over as encoded JSON, so every read decodes a private copy (mutating what
``get``, ``find`` or a filter received never changes stored data) and every write encodes, which
validates it before anything is touched.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from typing import Any

from .backends import base
from .backends.base import STALE, CollectionBackend
from .codec import bulk_decoding, decode, encode, holding
from .errors import InvalidQueryError, InvalidValueError, ReadOnlyError
from .names import validate_key
from .ordering import project
from .paths import Path, parse_path
from .query import MATCH_ALL, Query, parse_where
from .steps import UNIT, Steps, discard, fill, gather, taken, units

Number = int | float


class Collection:
    """A named set of key -> JSON value pairs, stored as ``<db_path>/<name>.json``."""

    def __init__(
        self,
        database: object,
        name: str,
        backend: CollectionBackend,
        check_open: Callable[[], None],
        *,
        read_only: bool = False,
    ) -> None:
        self._database = database  # named in the repr
        self._name = name
        self._backend = backend
        self._check_open = check_open  # raises DatabaseClosedError once the database is closed
        self._read_only = read_only

    @property
    def name(self) -> str:
        return self._name

    def __repr__(self) -> str:
        return f"<Collection {self.name!r} of {self._database!r}>"

    def _open(self) -> CollectionBackend:
        self._check_open()
        return self._backend

    def _writable(self, operation: str) -> CollectionBackend:
        backend = self._open()
        if self._read_only:
            where = getattr(self._database, "db_path", self._database)
            raise ReadOnlyError(str(where), f"{operation} on {self._name!r}")
        return backend

    # -- reads -----------------------------------------------------------------------------

    async def get(self, key: str, default: Any = None) -> Any:
        """The value stored under ``key`` (a private copy), or ``default``."""
        if type(key) is not str or "\0" in key or not key.isascii():
            key = validate_key(key)
        self._check_open()  # not ``_open()``: a call is a tenth of a cached ``get``
        raw = self._backend.get_cached(key)
        if raw is STALE:
            raw = await self._backend.get(key)
        return default if raw is None else decode(raw)  # type: ignore[arg-type]

    async def get_many(self, keys: Iterable[str]) -> dict[str, Any]:
        """The stored values of those ``keys`` that exist, in the order asked."""
        steps = Steps()
        decoded: dict[str, Any] = {}
        with bulk_decoding():  # the list of keys too: a young pass would visit every one
            wanted = await gather(_valid_keys, [_not_a_str(keys, "keys")], steps)
            holding(len(wanted))
            found = await self._open().get_many(wanted)
            await fill(decoded, _decoded_items, [found.items()], steps)
        await discard(found, steps)  # not all at once on return: a cache miss per entry
        await discard(wanted, steps)
        return decoded

    async def exists(self, key: str) -> bool:
        return await self._open().contains(validate_key(key))

    async def keys(self) -> list[str]:
        return await self._open().keys()

    # Bulk reads decode a backend's chunks in steps, letting other tasks of the event loop run
    # between them (``steps``); the cyclic GC stays paused for the whole call (``bulk_decoding``).

    async def values(self) -> list[Any]:
        with bulk_decoding():
            return await gather(_decoded_values, self._open().value_chunks())

    async def items(self) -> list[tuple[str, Any]]:
        with bulk_decoding():
            return await gather(_decoded_items, self._open().item_chunks())

    async def iter_items(self) -> AsyncIterator[tuple[str, Any]]:
        """``async for key, value in collection.iter_items()``: every record in insertion order,
        decoded a few at a time, so a page of a large collection decodes only what it takes."""
        steps = Steps()
        async for chunk in self._open().item_chunks():
            for unit in units(chunk):
                with bulk_decoding():
                    decoded = _decoded_items(unit)
                for pair in decoded:
                    yield pair
                await steps.let_go()

    async def count(self, where: Mapping[str, Any] | None = None) -> int:
        """How many records there are, or how many match ``where``."""
        node = parse_where(where)
        if node == MATCH_ALL:  # {} matches every record, objects or not
            return await self._open().count()
        return await self._open().count_matching(node)

    async def find(
        self,
        filter_func: Callable[[Any], Any] | None = None,
        limit: int | None = None,
        *,
        where: Mapping[str, Any] | None = None,
        sort: Any = None,
        skip: int = 0,
        fields: list[str] | None = None,
    ) -> list[Any]:
        """Values (in insertion order, or by ``sort``) for which ``filter_func(value)`` is true
        and which match ``where``; ``skip`` and ``limit`` page them, ``fields`` projects them.

        The filter receives a private copy of each value, so it may mutate it freely.
        """
        found = await self.find_items(
            filter_func, limit, where=where, sort=sort, skip=skip, fields=fields
        )
        if len(found) <= UNIT:
            return [value for _, value in found]
        return await gather(_values_of, taken(found))  # the pairs freed as it goes

    async def find_items(
        self,
        filter_func: Callable[[Any], Any] | None = None,
        limit: int | None = None,
        *,
        where: Mapping[str, Any] | None = None,
        sort: Any = None,
        skip: int = 0,
        fields: list[str] | None = None,
    ) -> list[tuple[str, Any]]:
        """``find``'s records as ``(key, value)`` pairs."""
        _check_limit(limit)
        if filter_func is not None and not callable(filter_func):
            raise InvalidValueError(f"filter_func must be callable, not {filter_func!r}")
        query = Query.parse(where, sort=sort, fields=fields, skip=skip, limit=limit)
        backend = self._open()
        if filter_func is None:
            return await backend.query(query)
        if where is None and sort is None:  # the plain lambda scan: it may stop at ``limit``
            return await self._filtered_scan(backend, filter_func, query)
        everything = Query(query.where, query.sort, [], 0, None)

        def kept(unit: Sequence[tuple[str, Any]]) -> list[tuple[str, Any]]:
            return [item for item in unit if filter_func(item[1])]

        return _page(await gather(kept, [await backend.query(everything)]), query)

    async def _filtered_scan(
        self, backend: CollectionBackend, keep: Callable[[Any], Any], query: Query
    ) -> list[tuple[str, Any]]:
        found: list[tuple[str, Any]] = []
        wanted = None if query.limit is None else query.skip + query.limit
        if wanted == 0:
            return found
        steps = Steps()
        with bulk_decoding():
            async for chunk in backend.item_chunks():
                for unit in units(chunk):
                    for key, raw in unit:
                        value = decode(raw)
                        if keep(value):
                            found.append((key, value))
                            if wanted is not None and len(found) >= wanted:
                                return _page(found, query)
                    await steps.let_go()
        return _page(found, query)

    async def find_one(self, where: Mapping[str, Any] | None = None, *, sort: Any = None) -> Any:
        """The first value matching ``where`` (by ``sort``, else in insertion order), or None."""
        found = await self._open().query(Query.parse(where, sort=sort, limit=1))
        return found[0][1] if found else None

    async def explain(
        self, where: Mapping[str, Any] | None = None, sort: Any = None
    ) -> dict[str, Any]:
        """How a query would run: the index it would use (``None`` for a scan) and the plan."""
        return await self._open().explain(Query.parse(where, sort=sort))

    # -- indexes ---------------------------------------------------------------------------

    async def create_index(self, path: str, *, unique: bool = False) -> bool:
        """Index the field at ``path`` (dotted); False when that index exists already.

        A ``unique`` index refuses writes that would repeat a value (``DuplicateKeyError``);
        over existing duplicates it raises and creates nothing."""
        checked = parse_path(path, location="index")
        if checked.is_key:
            raise InvalidQueryError("the key is indexed already", location="index")
        if type(unique) is not bool:
            raise InvalidQueryError(f"unique takes True or False, not {unique!r}", location="index")
        return await self._writable("create_index").create_index(checked.text, unique)

    async def drop_index(self, path: str) -> bool:
        """Remove the index on ``path``; False when there was none."""
        checked = parse_path(path, location="index")
        return await self._writable("drop_index").drop_index(checked.text)

    async def list_indexes(self) -> list[dict[str, Any]]:
        """``[{"path": ..., "unique": ...}]``, in the order they were created."""
        return await self._open().list_indexes()

    # -- writes ----------------------------------------------------------------------------

    async def set(self, key: str, value: Any) -> bool:
        """Store ``value`` (a copy of it) under ``key``."""
        key = validate_key(key)
        return bool(await self._writable("set").apply(base.SetValue(key, _encode(value, key))))

    async def set_many(self, items: Mapping[str, Any] | Iterable[tuple[str, Any]]) -> int:
        """Store several values at once: one journal record, so all or none survive a crash."""
        pairs = items.items() if isinstance(items, Mapping) else _iterable(items, "items")
        encoded = tuple((validate_key(k), _encode(v, k)) for k, v in map(_pair, pairs))
        return int(await self._writable("set_many").apply(base.SetMany(encoded)))

    async def delete(self, key: str) -> bool:
        """Remove ``key``; False when it was not there."""
        key = validate_key(key)
        return bool(await self._writable("delete").apply(base.Delete(key)))

    async def delete_many(self, keys: Iterable[str]) -> int:
        """Remove several keys at once (all or none); return how many existed."""
        wanted = tuple(dict.fromkeys(validate_key(key) for key in _not_a_str(keys, "keys")))
        return int(await self._writable("delete_many").apply(base.DeleteMany(wanted)))

    async def clear(self) -> bool:
        await self._writable("clear").apply(base.Clear())
        return True

    async def update(self, key: str, updates: Mapping[str, Any]) -> bool:
        """Merge ``updates`` into the object stored under ``key``; False when ``key`` is absent."""
        key = validate_key(key)
        if not isinstance(updates, Mapping):
            raise InvalidValueError(f"updates must be a mapping, not {type(updates).__name__}")
        private = decode(_encode(dict(updates), key))
        return bool(await self._writable("update").apply(base.Update(key, private)))

    async def increment(self, key: str, field: str = "value", amount: Number = 1) -> Number:
        """Add ``amount`` to a numeric field (or to a stored bare number); return the new number.

        ``field`` is a dotted path, as in queries: ``"stats.views"`` is ``{"stats": {"views": n}}``.
        A missing key becomes ``{field: amount}`` (nested for a dotted path); a stored object gets
        the missing field and the objects on its way. See ``backends/increment.py``.
        """
        key = validate_key(key)
        path = _field_path(field, key)
        if isinstance(amount, bool) or not isinstance(amount, (int, float)):
            raise InvalidValueError(f"amount must be a number, not {amount!r}", key=key)
        if isinstance(amount, float) and not math.isfinite(amount):
            raise InvalidValueError(f"amount must be finite, not {amount!r}", key=key)
        result: Number = await self._writable("increment").apply(base.Increment(key, path, amount))
        return result


def _field_path(field: object, key: str) -> Path:
    """``field`` checked as a dotted path; ``_key`` names the key in queries, never a field."""
    if not isinstance(field, str):
        raise InvalidValueError(f"field must be a str, not {field!r}", key=key)
    try:
        path = parse_path(field)
    except InvalidQueryError as exc:
        raise InvalidValueError(f"field {field!r}: {exc.problem}", key=key) from None
    if path.is_key:
        raise InvalidValueError(f"field {field!r} names the record's key, not a field", key=key)
    return path


def _check_limit(limit: object) -> None:
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int)):
        raise InvalidValueError(f"limit must be an int or None, not {limit!r}")
    if limit is not None and limit < 0:
        raise InvalidValueError(f"limit must not be negative, got {limit}")


def _page(found: list[tuple[str, Any]], query: Query) -> list[tuple[str, Any]]:
    end = None if query.limit is None else query.skip + query.limit
    page = found if query.skip == 0 and end is None else found[query.skip : end]  # no copy
    if query.fields:
        return [(key, project(key, value, query.fields)) for key, value in page]
    return page


def _valid_keys(keys: Iterable[Any]) -> list[str]:
    return [validate_key(key) for key in keys]


def _values_of(pairs: Iterable[tuple[str, Any]]) -> list[Any]:
    return [value for _, value in pairs]


def _decoded_values(raws: Iterable[bytes]) -> list[Any]:
    return list(map(decode, raws))


def _decoded_items(pairs: Iterable[tuple[str, bytes]]) -> list[tuple[str, Any]]:
    return [(key, decode(raw)) for key, raw in pairs]


def _encode(value: Any, key: str) -> bytes:
    try:
        return encode(value)
    except InvalidValueError as exc:
        raise InvalidValueError(exc.reason, key=key) from None


def _not_a_str(values: Iterable[Any], what: str) -> Iterable[Any]:
    if isinstance(values, (str, bytes)):
        raise InvalidValueError(f"{what} must be a collection of keys, not a single {what[:-1]}")
    return _iterable(values, what)


def _iterable(values: Any, what: str) -> Iterable[Any]:
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        kind = type(values).__name__
        raise InvalidValueError(f"{what} must be an iterable, not {kind}")
    return values


def _pair(item: Any) -> tuple[Any, Any]:
    """One ``(key, value)`` item of ``set_many``, or InvalidValueError saying what it is."""
    if isinstance(item, (str, bytes)) or not isinstance(item, (tuple, list)) or len(item) != 2:
        raise InvalidValueError(f"set_many items must be (key, value) pairs, not {item!r}")
    return item[0], item[1]

"""``Collection``: the dict-like async API of one collection.

Backends hand values over as encoded JSON, so every read decodes a private copy (mutating what
``get``, ``find`` or a filter received never changes stored data) and every write encodes, which
validates it before anything is touched.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from typing import Any

from .backends import base
from .backends.base import STALE, CollectionBackend
from .codec import bulk_decoding, decode, encode
from .errors import InvalidValueError, ReadOnlyError
from .names import validate_key

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
        backend = self._open()
        raw = backend.get_cached(key)
        if raw is STALE:
            raw = await backend.get(key)
        return default if raw is None else decode(raw)  # type: ignore[arg-type]

    async def get_many(self, keys: Iterable[str]) -> dict[str, Any]:
        """The stored values of those ``keys`` that exist, in the order asked."""
        wanted = [validate_key(key) for key in _not_a_str(keys, "keys")]
        found = await self._open().get_many(wanted)
        return {key: decode(raw) for key, raw in found.items()}

    async def exists(self, key: str) -> bool:
        return await self._open().contains(validate_key(key))

    async def keys(self) -> list[str]:
        return await self._open().keys()

    # Bulk reads decode a backend's chunks one at a time, and the backend lets the event loop run
    # between chunks; the cyclic GC stays paused for the whole call (see ``bulk_decoding``).

    async def values(self) -> list[Any]:
        found: list[Any] = []
        with bulk_decoding():
            async for chunk in self._open().value_chunks():
                found.extend(map(decode, chunk))
        return found

    async def items(self) -> list[tuple[str, Any]]:
        found: list[tuple[str, Any]] = []
        with bulk_decoding():
            async for chunk in self._open().item_chunks():
                found.extend((key, decode(raw)) for key, raw in chunk)
        return found

    async def iter_items(self) -> AsyncIterator[tuple[str, Any]]:
        """``async for key, value in collection.iter_items()``: every record in insertion order,
        decoded a chunk at a time, so a page of a large collection decodes only what it takes."""
        async for chunk in self._open().item_chunks():
            with bulk_decoding():
                decoded = [(key, decode(raw)) for key, raw in chunk]
            for pair in decoded:
                yield pair

    async def count(self) -> int:
        return await self._open().count()

    async def find(
        self, filter_func: Callable[[Any], Any] | None = None, limit: int | None = None
    ) -> list[Any]:
        """Values (in insertion order) for which ``filter_func(value)`` is true, at most ``limit``.

        The filter receives a private copy of each value, so it may mutate it freely.
        """
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int)):
            raise InvalidValueError(f"limit must be an int or None, not {limit!r}")
        if limit is not None and limit < 0:
            raise InvalidValueError(f"limit must not be negative, got {limit}")
        if filter_func is not None and not callable(filter_func):
            raise InvalidValueError(f"filter_func must be callable, not {filter_func!r}")
        backend = self._open()
        found: list[Any] = []
        if limit == 0:
            return found
        keep = filter_func or _everything
        with bulk_decoding():
            async for chunk in backend.value_chunks():
                for value in map(decode, chunk):
                    if keep(value):
                        found.append(value)
                        if limit is not None and len(found) >= limit:
                            return found
        return found

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

        A missing key becomes ``{field: amount}``; a stored object without the field gets it.
        """
        key = validate_key(key)
        if not isinstance(field, str):
            raise InvalidValueError(f"field must be a str, not {field!r}", key=key)
        if isinstance(amount, bool) or not isinstance(amount, (int, float)):
            raise InvalidValueError(f"amount must be a number, not {amount!r}", key=key)
        if isinstance(amount, float) and not math.isfinite(amount):
            raise InvalidValueError(f"amount must be finite, not {amount!r}", key=key)
        result: Number = await self._writable("increment").apply(base.Increment(key, field, amount))
        return result


def _everything(value: Any) -> bool:
    return True


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

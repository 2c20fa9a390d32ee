"""A whole collection read without stalling the event loop: copied a slice at a time, as one
consistent moment.

Copying a million entries in one call holds the loop (and the GIL) for tens of milliseconds. So a
bulk read copies references a slice at a time on the loop, letting other tasks run between slices
when ``steps`` says so, and watches the store's ``version``: a seqlock that writers make odd while
they change the dict in place. A copy that a write overlapped starts again; after a few tries, it
is taken in the pool under the store's mutex, which writers hold while they change the dict.
``looked_up`` reads many keys the same way.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from typing import TypeVar

from ...bridge import run_blocking, sharing_the_gil
from ...codec import bulk_decoding, holding
from ...steps import Steps, drained
from .segments import Records, lookup
from .store import CollectionStore

T = TypeVar("T")
SLICE = 1_000  # entries per copy: tens of microseconds
_TRIES = 3

View = Callable[[Records], Iterable[T]]  # keys_of, values_of or items_of


def keys_of(data: Records) -> Iterable[str]:
    return data.keys()


def values_of(data: Records) -> Iterable[bytes]:
    return data.values()


def items_of(data: Records) -> Iterable[tuple[str, bytes]]:
    return data.items()


async def copy_in_slices(
    store: CollectionStore, view: View[T], steps: Steps | None = None
) -> list[list[T]]:
    """``view(store.data)`` as one moment, in slices of ``SLICE``.

    The collector is paused meanwhile: a copy of items is a million new tuples, which would set
    off its passes, full ones among them (tens of milliseconds each at a million records)."""
    steps = steps or Steps()
    with bulk_decoding():
        copied = await _copy(store, view, steps)
        holding(len(copied) * SLICE)
        return copied


async def _copy(store: CollectionStore, view: View[T], steps: Steps) -> list[list[T]]:
    for _ in range(_TRIES):
        copied = await _try_copy(store, view, steps)
        if copied is not None:
            return copied
    return await run_blocking(_copy_under_mutex, store, view)


async def looked_up(store: CollectionStore, keys: list[str]) -> list[list[bytes | None]]:
    """``store.data.get(key)`` for every key, as one moment, in slices (not joined into one
    list: that is a C call over every value, ~25 ms for 333k values spread over memory)."""

    def view(data: Records) -> Iterable[bytes | None]:
        return lookup(data, keys)

    return await copy_in_slices(store, view)


async def _try_copy(store: CollectionStore, view: View[T], steps: Steps) -> list[list[T]] | None:
    version = store.version
    if version % 2:  # a writer is changing the dict right now
        await asyncio.sleep(0)
        return None
    entries = iter(view(store.data))
    copied: list[list[T]] = []
    while True:
        try:
            chunk = list(islice(entries, SLICE))
        except RuntimeError:  # the dict changed size under the iterator
            return None
        if store.version != version:
            return None
        if not chunk:
            return copied
        copied.append(chunk)
        await steps.let_go()


class Copy:
    """A copy of ``data``'s items made a slice at a time, read once, for pool threads that hold
    the locks:
    between slices the interpreter can switch to the event loop's thread. Kept as slices of
    keys and of values, not a new dict (the last resize of a growing million-key dict is one C
    call of tens of milliseconds, and every event loop of the process would wait for it) nor
    pairs (freeing a million tuples at once is another)."""

    __slots__ = ("_keys", "_values", "_length")

    def __init__(self, data: Records) -> None:
        keys, values = iter(data), iter(data.values())  # the same order: nobody writes meanwhile
        self._keys = list(sharing_the_gil(iter(lambda: list(islice(keys, SLICE)), [])))
        self._values = list(sharing_the_gil(iter(lambda: list(islice(values, SLICE)), [])))
        self._length = len(data)
        holding(2 * self._length)  # made in a ``bulk_decoding``: no young pass visits them all

    def __len__(self) -> int:
        return self._length

    def items(self) -> Iterator[tuple[str, bytes]]:
        """The pairs in order, once: each slice is let go as it is passed, since freeing them
        all at the end is one C call (~20 ms at a million records) that holds the GIL."""
        for keys, values in zip(drained(self._keys), drained(self._values), strict=True):
            yield from zip(keys, values, strict=True)


def _copy_under_mutex(store: CollectionStore, view: View[T]) -> list[list[T]]:
    """The copy in a pool thread, where writers cannot change the dict; still a slice per C
    call, so that the interpreter can switch to the event loop's thread between them."""
    with store.mutex:
        entries = iter(view(store.data))
        return list(sharing_the_gil(iter(lambda: list(islice(entries, SLICE)), [])))

"""A whole collection read without stalling the event loop: copied a slice at a time, as one
consistent moment.

Copying a million entries in one call holds the loop (and the GIL) for tens of milliseconds. So a
bulk read copies references a slice at a time on the loop, letting other tasks run between slices,
and watches the store's ``version``: a seqlock that writers make odd while they change the dict in
place. A copy that a write overlapped starts again; after a few tries, it is taken in the pool under
the store's mutex, which writers hold while they change the dict.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from itertools import islice
from typing import TypeVar

from ...bridge import run_blocking
from .store import CollectionStore

T = TypeVar("T")
SLICE = 1_000  # entries per step: well under a millisecond to copy, about one to decode
_TRIES = 3

View = Callable[[dict[str, bytes]], Iterable[T]]  # dict.keys, dict.values or dict.items


async def copy_in_slices(store: CollectionStore, view: View[T]) -> list[list[T]]:
    """``view(store.data)`` as one moment, in slices of ``SLICE``."""
    for _ in range(_TRIES):
        copied = await _try_copy(store, view)
        if copied is not None:
            return copied
    return await run_blocking(_copy_under_mutex, store, view)


async def _try_copy(store: CollectionStore, view: View[T]) -> list[list[T]] | None:
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
        await asyncio.sleep(0)


def copy_dict(data: dict[str, bytes]) -> dict[str, bytes]:
    """A copy of ``data`` made a slice at a time, for pool threads that hold the locks: between
    slices the interpreter can switch to the event loop's thread."""
    copy: dict[str, bytes] = {}
    entries = iter(data.items())
    while chunk := list(islice(entries, SLICE)):
        copy.update(chunk)
    return copy


def _copy_under_mutex(store: CollectionStore, view: View[T]) -> list[list[T]]:
    with store.mutex:
        entries = list(view(store.data))
    return [entries[start : start + SLICE] for start in range(0, len(entries), SLICE)]

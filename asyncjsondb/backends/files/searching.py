"""Answering a query over one collection in memory: a scan, or a plan through its indexes.

A collection without indexes is scanned over a copy of its items, needing no lock. With indexes,
the query runs under the store's ``mutex`` (commits change the indexes under it): on the event
loop when the mutex is free at once, which is the usual case and costs no thread hop, else in a
worker thread that may wait for it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from itertools import islice
from typing import Any, TypeVar

from ...bridge import run_blocking
from ...codec import bulk_decoding, decode
from ...errors import LockTimeoutError
from ...paths import MISSING
from ...query import MATCH_ALL, Node, Query
from . import planner
from .store import CollectionStore

T = TypeVar("T")


async def run(store: CollectionStore, query: Query) -> list[tuple[str, Any]]:
    """The query's answer: ``(key, value)`` pairs with freshly decoded (private) values."""
    if query.where == MATCH_ALL and not query.sort:  # a page: decode only what it holds
        end = None if query.limit is None else query.skip + query.limit
        try:
            page = list(islice(store.data.items(), query.skip, end))
        except RuntimeError:  # a commit in another thread changed the dict: copy it first
            page = list(islice(list(store.data.items()), query.skip, end))
        return Query(MATCH_ALL, [], query.fields, 0, None).run(
            (key, decode(raw)) for key, raw in page
        )
    if store.catalog.empty:
        items = list(store.data.items())
        with bulk_decoding():
            return query.run(_candidates(items, query.where))
    return await _under_mutex(store, lambda: _planned(store, query))


async def explain(store: CollectionStore, query: Query) -> dict[str, Any]:
    if store.catalog.empty:
        return planner.Plan().explain()
    return await _under_mutex(store, lambda: _plan(store, query).explain())


def _candidates(items: list[tuple[str, bytes]], where: Node) -> Iterator[tuple[str, Any]]:
    """Decoded records that may match: a record whose JSON text lacks a string or boolean that
    every match must hold is skipped undecoded. Without a backslash in the text no string in it
    is escaped, so such a value would appear there literally; with one, the record is decoded."""
    needles = _necessary_text(where)
    if not needles:
        for key, raw in items:
            yield key, decode(raw)
        return
    for key, raw in items:
        for needle in needles:
            if needle not in raw and b"\\" not in raw:
                break
        else:
            yield key, decode(raw)


def _necessary_text(where: Node) -> list[bytes]:
    needles = []
    for condition in planner.conjuncts(where):
        operand = condition.operand
        if condition.op != "$eq" or condition.path.is_key:
            continue
        if type(operand) is bool:
            needles.append(b"true" if operand else b"false")
        elif type(operand) is str:
            needles.append(b'"' + operand.encode(errors="surrogatepass") + b'"')
    return needles


def _plan(store: CollectionStore, query: Query) -> planner.Plan:
    return planner.choose(query.where, query.sort, store.catalog.current(store.data))


def _planned(store: CollectionStore, query: Query) -> list[tuple[str, Any]]:
    data = store.data

    def items() -> Iterator[tuple[str, Any]]:
        for key, raw in list(data.items()):
            yield key, decode(raw)

    def get(key: str) -> Any:
        raw = data.get(key)
        return MISSING if raw is None else decode(raw)

    with bulk_decoding():
        return planner.run(query, store.catalog.current(data), items, get)


async def _under_mutex(store: CollectionStore, work: Callable[[], T]) -> T:
    if store.mutex.acquire(blocking=False):
        try:
            return work()
        finally:
            store.mutex.release()
    return await run_blocking(_waiting, store, work)


def _waiting(store: CollectionStore, work: Callable[[], T]) -> T:
    timeout = store.options.lock_timeout
    if not store.mutex.acquire(timeout=timeout):
        raise LockTimeoutError(store.plock.path, timeout)
    try:
        return work()
    finally:
        store.mutex.release()

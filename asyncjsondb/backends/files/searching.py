"""Answering a query over one collection in memory: a scan, or a plan through its indexes.

A collection without indexes is scanned over a copy of its items, needing no lock: copied and
matched in steps on the loop (``slices``, ``steps``), and sorted or projected in the pool when
the matches are many (a sort is one call that cannot yield). With indexes,
the query runs under the store's ``mutex`` (commits change the indexes under it): on the event
loop when the mutex is free at once, which is the usual case and costs no thread hop, else in a
worker thread that may wait for it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from itertools import chain, islice
from typing import Any, TypeVar

from ...bridge import run_blocking
from ...codec import bulk_decoding, decode
from ...errors import LockTimeoutError
from ...paths import MISSING
from ...query import MATCH_ALL, Node, Query, compile_where
from ...steps import Steps, drained, gather
from . import planner
from .slices import SLICE, copy_in_slices, items_of
from .store import CollectionStore

Item = tuple[str, bytes]

T = TypeVar("T")


async def run(store: CollectionStore, query: Query) -> list[tuple[str, Any]]:
    """The query's answer: ``(key, value)`` pairs with freshly decoded (private) values."""
    end = None if query.limit is None else query.skip + query.limit
    rest = Query(MATCH_ALL, query.sort, query.fields, query.skip, query.limit)
    paged = query.where == MATCH_ALL and not query.sort  # a page: decode only what it holds
    if paged:
        rest = Query(MATCH_ALL, [], query.fields, 0, None)
        if end is not None and end <= SLICE:  # a short one, at once
            try:
                page = list(islice(store.data.items(), query.skip, end))
            except RuntimeError:  # a commit in another thread changed the dict: copy it first
                page = list(islice(list(store.data.items()), query.skip, end))
            return rest.run((key, decode(raw)) for key, raw in page)
    if store.catalog.empty or not await _under_mutex(store, lambda: _uses_index(store, query)):
        steps = Steps()
        chunks = await copy_in_slices(store, items_of, steps)
        with bulk_decoding():  # over the sort and the paging too: they make containers
            if paged:
                window = islice(chain.from_iterable(drained(chunks)), query.skip, end)
                found = await gather(_decoded, [window], steps)
            else:
                found = await gather(_scanner(chunks, query.where), drained(chunks), steps)
            if not rest.sort and not rest.fields:
                if paged or (query.skip == 0 and end is None):
                    return found
                return found[query.skip : end]
            if len(found) > SLICE:
                return await run_blocking(rest.run, found)  # a sort cannot yield
            return rest.run(found)
    return await _under_mutex(store, lambda: _planned(store, query))


def _uses_index(store: CollectionStore, query: Query) -> bool:
    """Whether the plan goes through an index; else it is a scan, done in steps without it."""
    return _plan(store, query).index is not None


async def count(store: CollectionStore, where: Node) -> int:
    """How many records match ``where``: each unit's matches are freed as soon as counted, so
    the call never frees (or holds) a whole answer at once."""
    if not store.catalog.empty:
        return len(await run(store, Query(where, [], [], 0, None)))
    steps = Steps()
    chunks = await copy_in_slices(store, items_of, steps)
    scan = _scanner(chunks, where)
    with bulk_decoding():
        return sum(await gather(lambda unit: (len(scan(unit)),), drained(chunks), steps))


async def explain(store: CollectionStore, query: Query) -> dict[str, Any]:
    if store.catalog.empty:
        return planner.Plan().explain()
    return await _under_mutex(store, lambda: _plan(store, query).explain())


def _decoded(items: Sequence[Item]) -> list[tuple[str, Any]]:
    return [(key, decode(raw)) for key, raw in items]


def _scanner(
    chunks: list[list[Item]], where: Node
) -> Callable[[Sequence[Item]], list[tuple[str, Any]]]:
    """A scan of some of ``chunks`` for the records matching ``where``, decoded.

    A record whose JSON text lacks a string or a boolean that every match holds is skipped
    undecoded: without a backslash in the text no string in it is escaped, so such a value
    would appear there literally. The skip is kept only while it skips: over a sample where the
    text is nearly always there it costs more than it saves."""
    matcher = compile_where(where)
    needles = _necessary_text(where)
    if needles:
        sample = chunks[0][:_SAMPLE] if chunks else []
        passing = [item for item in sample if _may_hold(item[1], needles)]
        if len(passing) > len(sample) * _WORTH_IT:
            needles = []
    if not needles:

        def scan(items: Sequence[Item]) -> list[tuple[str, Any]]:
            return [(key, value) for key, raw in items if matcher(key, value := decode(raw))]

        return scan
    first, last, rest = needles[0], needles[-1], needles[1:-1]  # mostly one or two

    def skim(items: Sequence[Item]) -> list[tuple[str, Any]]:
        return [
            (key, value)
            for key, raw in items
            if (
                (first in raw and last in raw and (not rest or _may_hold(raw, rest)))
                or b"\\" in raw
            )
            and matcher(key, value := decode(raw))
        ]

    return skim


_SAMPLE = 512
_WORTH_IT = 0.5  # the share of records the texts must rule out, at least


def _may_hold(raw: bytes, needles: list[bytes]) -> bool:
    return all(needle in raw for needle in needles) or b"\\" in raw


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

"""Long work on an event loop, in steps: the one place that decides when it lets other tasks run.

A bulk read decodes, matches or copies a million records on the loop. Done at once, that holds
every other request of the worker for a second; yielding after every record costs more than the
work. So work goes in small units (``UNIT`` records, well under a millisecond each), and after
each unit ``let_go`` looks at the clock: once ``BUDGET`` has passed since the loop last ran
other tasks, it yields. The budget is time, not a count, so a slow machine, large values or a
costly filter yield as often as they need to.
"""

from __future__ import annotations

import asyncio
import time
from bisect import bisect_left
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Iterator, Sequence
from itertools import islice
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")
K = TypeVar("K")
V = TypeVar("V")

BUDGET = 0.002  # seconds of work between two chances for other tasks to run
UNIT = 128  # records between looks at the clock


_resumed = 0.0  # when work in steps last got the loop back, in this process


class Steps:
    """The clock of one piece of work on the loop.

    Its budget counts from when work in steps last got the loop back, not from its own start:
    a call that runs several pieces one after the other (a scan, then taking its answer apart)
    would otherwise hold the loop for one budget per piece. When other tasks ran in between,
    that moment is old, and the new piece only yields one turn early."""

    __slots__ = ("_due", "yields")

    def __init__(self) -> None:
        self._due = min(time.perf_counter(), _resumed) + BUDGET
        self.yields = 0  # how many times it let other tasks run (for tests)

    async def let_go(self, now: bool = False) -> None:
        """Let other tasks run if this work has held the loop for ``BUDGET`` (or ``now``)."""
        global _resumed
        if now or time.perf_counter() >= self._due:
            # Resumed, this task runs first in the loop's next turn, before the timers and I/O
            # that came due during its step, which the loop queues behind it: then they would
            # wait for two steps. So its first turn only yields again.
            await asyncio.sleep(0)
            await asyncio.sleep(0)
            self.yields += 1
            _resumed = time.perf_counter()
            self._due = _resumed + BUDGET


def drained(chunks: list[list[T]]) -> Iterator[list[T]]:
    """``chunks`` in order, each dropped from the list as it is taken: a copy of a million
    pairs is then freed a chunk at a time, not all at once when the work ends."""
    chunks.reverse()
    while chunks:
        yield chunks.pop()


def taken(items: list[T]) -> Iterator[list[T]]:
    """``items`` in runs of ``UNIT``, in order, each removed from the list as it is taken (so
    freed by then, if nothing else holds it); the list is empty at the end."""
    items.reverse()
    while items:
        unit = items[-UNIT:]
        del items[-UNIT:]
        unit.reverse()
        yield unit


def units(items: Iterable[T]) -> Iterator[Sequence[T]]:
    """``items`` in runs of ``UNIT`` (a short list as it is)."""
    if isinstance(items, list) and len(items) <= UNIT:
        yield items
        return
    remaining = iter(items)
    while unit := list(islice(remaining, UNIT)):
        yield unit


async def _units_of(
    chunks: AsyncIterable[Iterable[T]] | Iterable[Iterable[T]],
) -> AsyncIterator[Sequence[T]]:
    if isinstance(chunks, AsyncIterable):
        async for chunk in chunks:
            for unit in units(chunk):
                yield unit
    else:
        for chunk in chunks:
            for unit in units(chunk):
                yield unit


async def each(
    work: Callable[[Sequence[T]], object],
    chunks: AsyncIterable[Iterable[T]] | Iterable[Iterable[T]],
    steps: Steps | None = None,
) -> None:
    """``work(unit)`` for every unit of ``chunks``, in order, letting other tasks run between
    units once the budget is spent."""
    steps = steps or Steps()
    async for unit in _units_of(chunks):
        work(unit)
        await steps.let_go()


async def fill(
    target: dict[K, V],
    work: Callable[[Sequence[T]], Iterable[tuple[K, V]]],
    chunks: AsyncIterable[Iterable[T]] | Iterable[Iterable[T]],
    steps: Steps | None = None,
) -> None:
    """``target.update(work(unit))`` for every unit of ``chunks``, in steps. A unit that will
    make ``target`` grow starts a step of its own: growing moves every entry to a new table
    in one C call (~10 ms at 175k entries on fresh memory), which would else come on top of
    a whole budget of work."""
    steps = steps or Steps()
    async for unit in _units_of(chunks):
        if will_grow(len(target), len(unit)):
            await steps.let_go(now=True)
        target.update(work(unit))
        await steps.let_go()


async def discard(items: list[Any] | dict[Any, Any], steps: Steps | None = None) -> None:
    """Empty ``items`` a unit at a time. Freeing a container of a few hundred thousand values
    spread over memory at once is one C call of several milliseconds: a cache miss for every
    value whose count of references it lowers."""
    steps = steps or Steps()
    if isinstance(items, dict):
        pop = items.popitem
        while items:
            for _ in range(min(UNIT, len(items))):
                pop()
            await steps.let_go()
    else:
        while items:
            del items[-UNIT:]
            await steps.let_go()


# The sizes past which a dict that only ever had keys added moves to a larger table: two
# thirds of each power of two (CPython's usable fraction). Smaller ones take no time to speak of.
_GROWTHS = [(1 << bits << 1) // 3 for bits in range(15, 48)]


def will_grow(size: int, adding: int) -> bool:
    """Whether adding up to ``adding`` new keys to a dict of ``size`` keys, which only ever had
    keys added, makes it move to a larger table."""
    at = bisect_left(_GROWTHS, size)
    return at < len(_GROWTHS) and _GROWTHS[at] < size + adding


async def gather(
    work: Callable[[Sequence[T]], Iterable[R]],
    chunks: AsyncIterable[Iterable[T]] | Iterable[Iterable[T]],
    steps: Steps | None = None,
) -> list[R]:
    """Everything ``work(unit)`` yields over every unit of ``chunks``, in order."""
    found: list[R] = []
    await each(lambda unit: found.extend(work(unit)), chunks, steps)
    return found

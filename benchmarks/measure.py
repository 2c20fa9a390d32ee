"""What a workload measures (``Row``), and the timing helpers every workload shares."""

from __future__ import annotations

import gc
import math
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Row:
    """One system's result on one workload: ``ops`` operations took ``seconds``.

    ``value`` holds a workload's own number when it has one (the final counter of the
    multi-process increments, the resident bytes of the memory probe, the stale reads).
    ``spread`` holds the p50, p99 and max seconds of single waits where the worst one matters
    (a write's latency, the event loop's lateness).
    """

    workload: str
    size: int
    system: str
    ops: int
    seconds: float
    value: float | None = None
    note: str = ""
    spread: tuple[float, float, float] | None = None

    @property
    def rate(self) -> float:
        return self.ops / self.seconds if self.seconds > 0 else math.nan


def spread(samples: list[float]) -> tuple[float, float, float]:
    """p50, p99 and max of ``samples`` (nearest rank); zeros when there are none."""
    if not samples:
        return 0.0, 0.0, 0.0
    ordered = sorted(samples)

    def rank(fraction: float) -> float:
        return ordered[min(len(ordered) - 1, math.ceil(fraction * len(ordered)) - 1)]

    return rank(0.5), rank(0.99), ordered[-1]


def median_round(rounds: list[tuple[int, float]]) -> tuple[int, float]:
    """The (ops, seconds) round of median rate (the lower one of an even count)."""
    ordered = sorted(rounds, key=lambda item: item[0] / item[1] if item[1] > 0 else math.inf)
    return ordered[(len(ordered) - 1) // 2]


async def timed(action: Callable[[], Awaitable[T]]) -> tuple[float, T]:
    """Seconds ``action()`` took, after a garbage collection so it does not pay for ours."""
    gc.collect()
    started = time.perf_counter()
    result = await action()
    return time.perf_counter() - started, result


async def round_robin(
    count: int,
    rounds: int,
    budget: float,
    measure: Callable[[int, int], Awaitable[tuple[int, float]]],
    complete: int = 1,
) -> list[tuple[int, float]]:
    """Each system's median round of ``measure(system, round_number) -> (ops, seconds)``.

    Rounds are interleaved, every system once per round, so that a noisy moment of the machine
    hits all systems alike and their ratios stay fair. A system stops after a round of fewer
    than ``complete`` ops (cut by its budget) or once its rounds took ``budget`` seconds.

    Whatever is alive when the rounds start (the records, every system's loaded data) is kept
    out of the garbage collector's scans meanwhile: one system's millions of objects must not
    slow down the collections that another system's reads trigger.
    """
    results: list[list[tuple[int, float]]] = [[] for _ in range(count)]
    gc.collect()
    gc.freeze()
    try:
        for round_number in range(rounds):
            for system, mine in enumerate(results):
                spent = sum(seconds for _, seconds in mine)
                if mine and (mine[-1][0] < complete or spent >= budget):
                    continue
                mine.append(await measure(system, round_number))
    finally:
        gc.unfreeze()
    return [median_round(mine) for mine in results]


async def ops_within(
    operations: Iterable[Callable[[], Awaitable[object]]], budget: float
) -> tuple[int, float]:
    """Run ``operations`` in turn until they end or ``budget`` seconds pass (at least one runs).

    Returns how many ran and the seconds they took: the rate of a peer too slow to finish.
    """
    gc.collect()
    done = 0
    started = time.perf_counter()
    deadline = started + budget
    for operation in operations:
        await operation()
        done += 1
        if time.perf_counter() >= deadline:
            break
    return done, time.perf_counter() - started

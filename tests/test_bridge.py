"""``bridge.sharing_the_gil``: a pool thread's long work releases the GIL on a clock, not never
and not after every step (the loop-stall benchmark measures what that buys an event loop)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from asyncjsondb import bridge


class Clock:
    """``time.perf_counter`` that advances one millisecond per reading."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 0.001
        return self.now


def releases_while_taking(monkeypatch: pytest.MonkeyPatch, steps: int, every: float) -> list[int]:
    """The steps after which the GIL was released (``time.sleep(0)``)."""
    released: list[int] = []
    taken: list[int] = []
    clock = SimpleNamespace(perf_counter=Clock(), sleep=lambda seconds: released.append(taken[-1]))
    monkeypatch.setattr(bridge, "time", clock)  # bridge's clock only, not every thread's
    for step in bridge.sharing_the_gil(range(steps), every=every):
        taken.append(step)
    assert taken == list(range(steps))  # every step, in order
    return released


def test_the_gil_is_released_once_per_period_of_work(monkeypatch: pytest.MonkeyPatch) -> None:
    # each step reads the clock once (1 ms), so a 2.5 ms period ends every third step
    assert releases_while_taking(monkeypatch, 10, every=0.0025) == [2, 5, 8]


def test_short_work_never_lets_go(monkeypatch: pytest.MonkeyPatch) -> None:
    assert releases_while_taking(monkeypatch, 10, every=1.0) == []

"""``bridge.sharing_the_gil``: a pool thread's long work releases the GIL on a clock, not never
and not after every step (the loop-stall benchmark measures what that buys an event loop)."""

from __future__ import annotations

import math
import sys
import threading
import time
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


def test_quick_switches_lowers_the_interval_while_any_use_runs_and_puts_it_back() -> None:
    """Nested and threaded uses are counted; the interval goes back only at the last exit, and
    not over a value someone else set meanwhile, nor up from a lower one of the application."""
    original = sys.getswitchinterval()
    try:
        with bridge.quick_switches():
            assert math.isclose(sys.getswitchinterval(), bridge.QUICK_SWITCH)
            other = threading.Thread(target=_hold_quick_switches, args=(0.05,))
            other.start()
            with bridge.quick_switches():
                pass
            assert math.isclose(sys.getswitchinterval(), bridge.QUICK_SWITCH)
        assert math.isclose(sys.getswitchinterval(), bridge.QUICK_SWITCH)  # the thread's runs on
        other.join()
        assert sys.getswitchinterval() == original
        with bridge.quick_switches():
            sys.setswitchinterval(0.002)  # the application's own choice, made meanwhile
        assert math.isclose(sys.getswitchinterval(), 0.002)
        sys.setswitchinterval(0.0001)
        with bridge.quick_switches():
            assert math.isclose(sys.getswitchinterval(), 0.0001)  # never raised
        assert math.isclose(sys.getswitchinterval(), 0.0001)
    finally:
        sys.setswitchinterval(original)


def _hold_quick_switches(seconds: float) -> None:
    with bridge.quick_switches():
        time.sleep(seconds)

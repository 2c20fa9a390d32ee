"""The one place where work leaves the caller's event loop.

Blocking work goes to a process-wide thread pool, not the loop's default executor: work handed to
it finishes even when the loop that asked for it closes (Django closes a loop after every WSGI
request), so no write is ever left half done by a dying loop.

Coroutines of resources bound to one event loop (an asyncpg pool) run on a loop of their own in a
daemon thread, so that callers on any loop, in any thread, can share them.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import math
import os
import sys
import threading
import time
import weakref
from collections.abc import Awaitable, Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol, TypeVar

T = TypeVar("T")

_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()
_executor_pid = 0


def executor() -> ThreadPoolExecutor:
    """The process's pool, made anew in a forked child (threads do not survive fork)."""
    global _executor, _executor_pid
    if _executor is not None and _executor_pid == os.getpid():
        return _executor
    with _executor_lock:
        if _executor is None or _executor_pid != os.getpid():
            workers = min(32, (os.cpu_count() or 1) + 4)
            _executor = ThreadPoolExecutor(workers, thread_name_prefix="asyncjsondb")
            _executor_pid = os.getpid()
        return _executor


def _after_fork_in_child() -> None:
    global _executor, _executor_lock
    _executor, _executor_lock = None, threading.Lock()  # the pool's threads stayed in the parent


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class ForkAware(Protocol):
    def after_fork_in_child(self) -> None: ...


_fork_aware: weakref.WeakSet[ForkAware] = weakref.WeakSet()


def reset_after_fork(instance: ForkAware) -> None:
    """Call ``instance.after_fork_in_child()`` in a forked child, for as long as it lives."""
    _fork_aware.add(instance)


def _reset_fork_aware() -> None:
    for instance in list(_fork_aware):
        instance.after_fork_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_fork_aware)


def sharing_the_gil(steps: Iterable[T], every: float = 0.002) -> Iterator[T]:
    """``steps``, as a pool thread takes them, letting event loops in every ``every`` seconds.

    A thread that computes without a system call keeps the GIL until the interpreter forces a
    switch (``sys.getswitchinterval()``, 5 ms), so a loop whose timer came due waits that long,
    often twice in a row. ``time.sleep(0)`` releases the GIL, and a waiting thread usually takes
    it then: usually, not always (CPython hands it over only on a forced switch, and a waiter that
    loses the race waits a whole interval again), so this lowers the typical wait, it bounds
    nothing. Each release lets a loop run a turn, so releasing after every step would stretch
    work done under the collection's locks several times over: only every ``every`` seconds."""
    due = time.perf_counter() + every
    for step in steps:
        yield step
        if time.perf_counter() >= due:
            time.sleep(0)
            due = time.perf_counter() + every


QUICK_SWITCH = 0.0005  # seconds: the switch interval while a worker thread parses at length
_switching = threading.Lock()
_switching_depth = 0
_switching_saved = 0.0


@contextlib.contextmanager
def quick_switches() -> Iterator[None]:
    """While a worker thread computes for seconds (loading a large collection), let an event
    loop take the GIL within ~0.5 ms instead of 5.

    A thread that wants the GIL waits ``sys.getswitchinterval()`` before CPython makes the one
    computing let go, and a whole interval again when it loses the race to re-take it. Measured
    while a million records load (~3 s): a loop's 1 ms ticks were late by up to 6.8-15.9 ms with
    the default 5 ms, by up to 4.3-6.8 ms with 0.5 ms, the load taking as long. The interval is
    the interpreter's: lowered while such work runs (nested and threaded uses counted), never
    raised, and put back after, unless something else changed it meanwhile.
    """
    global _switching_depth, _switching_saved
    with _switching:
        if _switching_depth == 0:
            _switching_saved = sys.getswitchinterval()
            if _switching_saved > QUICK_SWITCH:
                sys.setswitchinterval(QUICK_SWITCH)
        _switching_depth += 1
    try:
        yield
    finally:
        with _switching:
            _switching_depth -= 1
            if _switching_depth == 0:
                _restore_switch_interval()


def _restore_switch_interval() -> None:
    if _switching_saved > QUICK_SWITCH and math.isclose(sys.getswitchinterval(), QUICK_SWITCH):
        sys.setswitchinterval(_switching_saved)


def _after_fork_in_child_switching() -> None:  # forked in the middle of another thread's load
    global _switching, _switching_depth
    if _switching_depth:
        _restore_switch_interval()
    _switching, _switching_depth = threading.Lock(), 0


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child_switching)


async def run_blocking(function: Callable[..., T], *args: object) -> T:
    """Run ``function(*args)`` in the pool and await its result from any event loop."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(executor(), functools.partial(function, *args))


class LoopThread:
    """An event loop in a daemon thread of its own, started at first use (and after a fork)."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pid = 0
        self._lock = threading.Lock()
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=self._after_fork_in_child)

    def _after_fork_in_child(self) -> None:
        self._loop, self._lock = None, threading.Lock()

    def loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._pid != os.getpid():
                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=loop.run_forever, name=self._name, daemon=True)
                thread.start()
                self._loop, self._pid = loop, os.getpid()
            return self._loop

    def owns(self, loop: asyncio.AbstractEventLoop) -> bool:
        """Whether ``loop`` is this thread's loop (without starting the thread)."""
        return loop is self._loop and self._pid == os.getpid()

    async def run(self, function: Callable[..., Awaitable[T]], *args: object) -> T:
        """Await ``function(*args)`` on this thread's loop, from any event loop."""
        loop = self.loop()
        if asyncio.get_running_loop() is loop:
            return await function(*args)
        future = asyncio.run_coroutine_threadsafe(_call(function, *args), loop)
        return await asyncio.wrap_future(future)


async def _call(function: Callable[..., Awaitable[T]], *args: object) -> T:
    return await function(*args)

"""The one place where blocking work leaves the event loop.

A process-wide thread pool, not the loop's default executor: work handed to it finishes even when
the loop that asked for it closes (Django closes a loop after every WSGI request), so no write is
ever left half done by a dying loop.
"""

from __future__ import annotations

import asyncio
import functools
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")

_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()
_executor_pid = 0


def executor() -> ThreadPoolExecutor:
    """The process's pool, made anew in a forked child (threads do not survive fork)."""
    global _executor, _executor_pid
    with _executor_lock:
        if _executor is None or _executor_pid != os.getpid():
            workers = min(32, (os.cpu_count() or 1) + 4)
            _executor = ThreadPoolExecutor(workers, thread_name_prefix="asyncjsondb")
            _executor_pid = os.getpid()
        return _executor


async def run_blocking(function: Callable[..., T], *args: object) -> T:
    """Run ``function(*args)`` in the pool and await its result from any event loop."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(executor(), functools.partial(function, *args))

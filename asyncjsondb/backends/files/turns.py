"""How long writes have committed on an event loop without giving it a turn.

A write that commits inline returns without suspending, so a task writing in a loop would keep
the loop from everything else. Each loop gets a budget (``BUDGET`` seconds of inline commits);
a marker callback, queued at the first inline commit, runs once the loop gets a turn and starts
the next budget. Past the budget, writes suspend (they gather into the next batch) and the loop
runs what waits, the marker included.
"""

from __future__ import annotations

import asyncio
import time
import weakref

BUDGET = 0.002  # seconds of back-to-back inline commits before the loop gets a turn


class Turns:
    """Per event loop: when the current run of inline commits began, while its marker waits."""

    def __init__(self) -> None:
        self._since: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, float] = (
            weakref.WeakKeyDictionary()
        )

    def may_commit_now(self, loop: asyncio.AbstractEventLoop) -> bool:
        """True when a write may commit without suspending: nothing else is ready to run on
        ``loop`` this turn (a ready task may write too, and join the same batch), and the
        loop's budget is not spent. Loops that do not show their ready queue always gather."""
        ready = getattr(loop, "_ready", None)
        since = self._since.get(loop)
        if ready is None or len(ready) > (0 if since is None else 1):  # 1: our marker
            return False
        if since is None:
            self._since[loop] = time.perf_counter()
            loop.call_soon(self._had_a_turn, loop)
            return True
        return time.perf_counter() - since < BUDGET

    def _had_a_turn(self, loop: asyncio.AbstractEventLoop) -> None:
        self._since.pop(loop, None)

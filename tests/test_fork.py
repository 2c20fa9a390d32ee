"""A lock another thread holds at ``fork`` does not deadlock the child (a preforking server forks
while its threads work): the database's attach lock and the Django module's lock."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncjsondb_django.database
from asyncjsondb import AsyncJSONDB
from asyncjsondb_django import get_db
from tests.django_helpers import Folders

pytest_plugins = ["tests.django_support"]


def _forked_child_succeeds(lock: Any, work: Callable[[], None]) -> bool:
    """Fork while another thread holds ``lock``; True when ``work()`` then ran in the child."""
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with lock:
            held.set()
            release.wait()

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 1
        try:
            signal.signal(signal.SIGALRM, signal.SIG_DFL)  # a hang guard, not a speed limit:
            signal.alarm(10)  # a deadlocked child dies of it
            work()
            code = 0
        finally:
            os._exit(code)
    release.set()
    holder.join()
    status = os.waitpid(pid, 0)[1]
    return os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0


def test_a_fork_while_a_thread_attaches_the_folder(tmp_path: Path) -> None:
    db = AsyncJSONDB(tmp_path)

    async def use() -> None:
        async with db:
            await (await db.get_collection("c")).set("k", 1)

    assert _forked_child_succeeds(db._backend._attach_lock, lambda: asyncio.run(use()))  # type: ignore[attr-defined]


def test_a_fork_while_a_thread_looks_up_the_django_database(jsondb_folders: Folders) -> None:
    assert _forked_child_succeeds(asyncjsondb_django.database._lock, get_db)

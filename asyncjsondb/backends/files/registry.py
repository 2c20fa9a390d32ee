"""Process-wide sharing: every ``AsyncJSONDB`` on the same folder uses the same stores.

Two database objects on one path in one process are then consistent at once, not merely within
``cache_ttl`` as two processes are; and a web app that opens a database per request (a Django view
calling ``create_database``) does not reload its collections every time.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from ...errors import DatabaseClosedError
from ...options import Options
from .commits import CommitQueue
from .store import CollectionStore

_lock = threading.Lock()
# Readers (``read_only``) share stores among themselves only: a store opens its files for
# reading or for writing, once.
_folders: dict[tuple[Path, bool], Folder] = {}


class Folder:
    """The stores of one database folder (each with its commit queue), and how many open
    database objects use them."""

    def __init__(self, path: Path, options: Options) -> None:
        self.path = path
        self.options = options
        self.users = 0
        self.closed = False
        self._queues: dict[str, CommitQueue] = {}
        self._queues_lock = threading.Lock()

    def commits(self, name: str) -> CommitQueue:
        """The commit queue of collection ``name``, made with its store at first use."""
        with self._queues_lock:
            if self.closed:  # its last user closed: a store made now would never be closed
                raise DatabaseClosedError(self.path)
            queue = self._queues.get(name)
            if queue is None:
                store = CollectionStore(self.path, name, self.options)
                queue = self._queues[name] = CommitQueue(store)
            return queue

    def store(self, name: str) -> CollectionStore:
        return self.commits(name).store

    def close(self) -> list[CommitQueue]:
        """Refuse new stores; the queues (and so the stores) used since the folder was attached,
        for the caller to close."""
        with self._queues_lock:
            self.closed = True
            return list(self._queues.values())


def _after_fork_in_child() -> None:
    global _lock
    _lock = threading.Lock()  # another thread may have held it at the fork
    for folder in _folders.values():
        folder._queues_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def attach(path: Path, options: Options) -> Folder:
    with _lock:
        key = (path, options.read_only)
        folder = _folders.get(key)
        if folder is None:
            folder = _folders[key] = Folder(path, options)
        folder.users += 1
        return folder


def detach(folder: Folder) -> bool:
    """Drop one user; True when it was the last, and the caller must close the stores."""
    with _lock:
        folder.users -= 1
        if folder.users > 0:
            return False
        _folders.pop((folder.path, folder.options.read_only), None)
        return True

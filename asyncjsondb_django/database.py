"""``get_db()``: the process-wide database that async views share.

Django runs an async view on whatever event loop serves the request: one long-lived loop under
ASGI, a new loop (often in a new thread) for each request under WSGI and the sync test client.
The core is safe across loops and threads, so one ``AsyncJSONDB`` per settings can serve them all;
it is looked up from the settings on every call, so ``override_settings`` picks another database.
"""

from __future__ import annotations

import os
import threading

from asyncjsondb import AsyncJSONDB
from asyncjsondb.options import Options

from .conf import Location, conf, is_url

_lock = threading.Lock()
_databases: dict[tuple[str, Options], AsyncJSONDB] = {}


def _after_fork_in_child() -> None:
    global _lock
    _lock = threading.Lock()  # another thread may have held it at the fork (a preforking server)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def open_db() -> AsyncJSONDB:
    """A new database on the settings' PATH and OPTIONS; the caller closes it."""
    return AsyncJSONDB(conf.PATH, **conf.OPTIONS)


def get_db() -> AsyncJSONDB:
    """The process-wide database for the current settings; do not close it.

    Call it inside the view (not at import time), so that settings changes are honoured.
    """
    options = conf.OPTIONS
    key = (_identity(conf.PATH), Options.from_kwargs(options))
    with _lock:
        database = _databases.get(key)
        if database is None:
            database = _databases[key] = AsyncJSONDB(key[0], **options)
        return database


def _identity(location: Location) -> str:
    """One key per database: a URL as written (one pool per URL), a folder by absolute path."""
    return str(location) if is_url(location) else os.path.abspath(location)


async def close_databases() -> None:
    """Close every database ``get_db()`` handed out (tests, orderly shutdowns).

    Closing folds the journals into the ``.json`` files (or closes the server's pool); the next
    ``get_db()`` opens afresh.
    """
    with _lock:
        databases = list(_databases.values())
        _databases.clear()
    for database in databases:
        await database.close()

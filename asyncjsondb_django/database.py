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

from .conf import conf

_lock = threading.Lock()
_databases: dict[tuple[str, Options], AsyncJSONDB] = {}


def open_db() -> AsyncJSONDB:
    """A new database on the settings' PATH and OPTIONS; the caller closes it."""
    return AsyncJSONDB(conf.PATH, **conf.OPTIONS)


def get_db() -> AsyncJSONDB:
    """The process-wide database for the current settings; do not close it.

    Call it inside the view (not at import time), so that settings changes are honoured.
    """
    options = conf.OPTIONS
    key = (os.path.abspath(conf.PATH), Options.from_kwargs(options))
    with _lock:
        database = _databases.get(key)
        if database is None:
            database = _databases[key] = AsyncJSONDB(key[0], **options)
        return database


async def close_databases() -> None:
    """Close every database ``get_db()`` handed out (tests, orderly shutdowns).

    Closing folds the journals into the ``.json`` files; the next ``get_db()`` opens afresh.
    """
    with _lock:
        databases = list(_databases.values())
        _databases.clear()
    for database in databases:
        await database.close()

"""Django integration of AsyncJSONDB: settings, ``get_db()``, system checks, management commands.

Add ``"asyncjsondb_django"`` to ``INSTALLED_APPS`` and, in an async view, ``db = get_db()``.
"""

from __future__ import annotations

from .database import close_databases, get_db, open_db

__all__ = ["close_databases", "get_db", "open_db"]

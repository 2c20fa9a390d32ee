"""Storage backends: ``files`` (a folder of JSON files) and ``postgres`` (a PostgreSQL server).

``open_backend`` picks one for a ``db_path``; ``base`` says what every backend provides.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import ConfigurationError
from ..options import Options
from .base import Backend

URL_SCHEMES = ("postgresql", "postgres")


def open_backend(db_path: str | os.PathLike[str], options: Options) -> Backend:
    """The backend for ``db_path``: a ``postgresql://`` URL or a folder. Touches nothing yet."""
    location = os.fspath(db_path)
    if "://" in location:
        scheme = location.split("://", 1)[0]
        if scheme not in URL_SCHEMES:
            raise ConfigurationError("db_path", f"{scheme}:// is not supported; use postgresql://")
        from .postgres.backend import PostgresBackend  # imports the driver: only for a URL

        return PostgresBackend(location, options)
    given = options.server_only()
    if given:
        raise ConfigurationError(given[0], "applies only to a postgresql:// database")
    # Imported here, so that a module of a backend (the backup format needs the files' snapshot
    # format) can be imported on its own without loading every backend.
    from .files.backend import FileBackend

    return FileBackend(Path(location), options)

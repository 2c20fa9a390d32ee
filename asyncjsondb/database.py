"""``AsyncJSONDB``: a database of named collections, and the entry point of the API."""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from types import TracebackType
from typing import Any

from .backends import open_backend
from .backends.base import Backend, CollectionBackend
from .backup import BackupInfo, list_backups
from .bridge import run_blocking
from .collection import Collection
from .errors import DatabaseClosedError, ReadOnlyError
from .names import validate_collection_name
from .options import Options


class AsyncJSONDB:
    """A database in ``db_path``: one ``<name>.json`` file per collection.

    The object is cheap to create and touches no file until first used. Use it from any event
    loop, thread or process; close it with ``await db.close()`` or ``async with``.
    """

    def __init__(self, db_path: str | os.PathLike[str] = "./data", **options: Any) -> None:
        self.options = Options.from_kwargs(options)
        self._backend: Backend = open_backend(db_path, self.options)
        location = os.fspath(db_path)
        self.db_path: Path | str = location if "://" in location else Path(location)
        self._collections: dict[str, tuple[Collection, CollectionBackend]] = {}
        self._closed = False
        self._used = False

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<AsyncJSONDB {self._backend.location!r} {state}>"

    async def __aenter__(self) -> AsyncJSONDB:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    def _check_open(self) -> None:
        if self._closed:
            raise DatabaseClosedError(self._backend.location)

    def _start(self) -> Backend:
        self._check_open()
        self._used = True
        return self._backend

    def _start_writing(self, operation: str) -> Backend:
        backend = self._start()
        if self.options.read_only:
            raise ReadOnlyError(self._backend.location, operation)
        return backend

    # -- collections -----------------------------------------------------------------------

    async def get_collection(self, name: str) -> Collection:
        """The collection ``name``, created (as an empty ``{}`` file) if it does not exist."""
        cached = self._collections.get(name)
        if cached is not None:
            self._check_open()
            if cached[1].known_to_exist():
                return cached[0]
            await self._start().collection(name)  # dropped meanwhile? made again, as if new
            return cached[0]
        validate_collection_name(name)
        backend = await self._start().collection(name)
        collection = Collection(
            self, name, backend, self._check_open, read_only=self.options.read_only
        )
        return self._collections.setdefault(name, (collection, backend))[0]

    async def drop_collection(self, name: str) -> bool:
        """Delete the collection's files; False when it did not exist."""
        validate_collection_name(name)
        backend = self._start_writing(f"dropping {name!r}")
        self._collections.pop(name, None)
        return await backend.drop(name)

    async def list_collections(self) -> list[str]:
        """Names of the collections in the database, sorted."""
        return await self._start().names()

    async def compact(self) -> list[str]:
        """Fold every collection's journal into its ``.json`` file; return the ones compacted."""
        return await self._start_writing("compaction").compact()

    # -- backup ----------------------------------------------------------------------------

    async def backup(self, backup_path: str | os.PathLike[str]) -> bool:
        """Write a consistent copy of every collection, plus a manifest, to a new folder.

        The folder is itself a database folder (open it with ``AsyncJSONDB(backup_path)``).
        """
        await self._start().backup(Path(backup_path))
        return True

    async def restore(
        self, backup_path: str | os.PathLike[str], *, collection: str | None = None
    ) -> bool:
        """Replace every collection with the backup's, after verifying the whole backup.

        A missing or corrupt backup raises and changes nothing. Afterwards the database holds
        exactly the backup's collections, for existing ``Collection`` objects too. With
        ``collection``, only that one is replaced (from a backup whose manifest and that file
        verify); the others are left as they are.
        """
        if collection is not None:
            validate_collection_name(collection)
        backend = self._start_writing("restore")
        await backend.restore(Path(backup_path), collection)
        return True

    async def list_backups(self, folder: str | os.PathLike[str]) -> list[BackupInfo]:
        """The backups in ``folder`` and in its sub-folders, oldest first (from their manifests:
        path, creation time, records per collection, bytes)."""
        self._check_open()
        return await run_blocking(list_backups, Path(folder))

    # -- lifetime --------------------------------------------------------------------------

    async def close(self) -> None:
        """Commit queued writes, fold journals into the ``.json`` files, release the files.

        The folding happens when the last open database object of this process on the folder
        closes. Closing twice is harmless, and a close that was cancelled is finished by the next.
        Operations racing a close finish before it or raise ``DatabaseClosedError``.
        """
        self._closed = True
        self._collections.clear()
        await self._backend.close()

    def __del__(self) -> None:
        if not getattr(self, "_closed", True) and getattr(self, "_used", False):
            warnings.warn(
                f"{self!r} was never closed; call 'await db.close()' or use 'async with'",
                ResourceWarning,
                stacklevel=1,
            )


def create_database(db_path: str | os.PathLike[str] = "./data", **options: Any) -> AsyncJSONDB:
    """Create a database object for ``db_path`` (see ``AsyncJSONDB`` for the options)."""
    return AsyncJSONDB(db_path, **options)

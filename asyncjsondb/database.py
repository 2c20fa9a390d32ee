"""``AsyncJSONDB``: a folder of collections, and the entry point of the API."""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from types import TracebackType
from typing import Any

from . import backup as backup_module
from . import registry
from .bridge import run_blocking
from .collection import Collection
from .errors import DatabaseClosedError, StorageError
from .names import validate_collection_name
from .options import Options
from .store import CollectionStore


class AsyncJSONDB:
    """A database in ``db_path``: one ``<name>.json`` file per collection.

    The object is cheap to create and touches no file until first used. Use it from any event
    loop, thread or process; close it with ``await db.close()`` or ``async with``.
    """

    def __init__(self, db_path: str | os.PathLike[str] = "./data", **options: Any) -> None:
        self.db_path = Path(db_path)
        self.options = Options.from_kwargs(options)
        self._folder: registry.Folder | None = None
        self._collections: dict[str, Collection] = {}
        self._closed = False

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<AsyncJSONDB {str(self.db_path)!r} {state}>"

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
            raise DatabaseClosedError(self.db_path)

    async def _attach(self) -> registry.Folder:
        self._check_open()
        if self._folder is None:
            path = await run_blocking(_prepare_folder, self.db_path)
            if self._folder is None:
                self._folder = registry.attach(path, self.options.store_settings())
        return self._folder

    async def _store(self, name: str) -> CollectionStore:
        validate_collection_name(name)
        return (await self._attach()).store(name)

    # -- collections -----------------------------------------------------------------------

    async def get_collection(self, name: str) -> Collection:
        """The collection ``name``, created (as an empty ``{}`` file) if it does not exist."""
        collection = self._collections.get(name)
        if collection is not None:
            self._check_open()
            return collection
        store = await self._store(name)
        await run_blocking(store.create)
        collection = self._collections.setdefault(name, Collection(self, store))
        return collection

    async def drop_collection(self, name: str) -> bool:
        """Delete the collection's files; False when it did not exist."""
        store = await self._store(name)
        self._collections.pop(name, None)
        return await run_blocking(store.drop)

    async def list_collections(self) -> list[str]:
        """Names of the collections in the folder, sorted."""
        folder = await self._attach()
        return await run_blocking(backup_module.collection_names, folder.path)

    async def compact(self) -> list[str]:
        """Fold every collection's journal into its ``.json`` file; return the ones compacted."""
        folder = await self._attach()
        names = await run_blocking(backup_module.collection_names, folder.path)
        done = []
        for name in names:
            if await run_blocking(folder.store(name).compact):
                done.append(name)
        return done

    # -- backup ----------------------------------------------------------------------------

    async def backup(self, backup_path: str | os.PathLike[str]) -> bool:
        """Write a consistent copy of every collection, plus a manifest, to a new folder.

        The folder is itself a database folder (open it with ``AsyncJSONDB(backup_path)``).
        """
        folder = await self._attach()
        await run_blocking(backup_module.create_backup, folder, Path(backup_path))
        return True

    async def restore(self, backup_path: str | os.PathLike[str]) -> bool:
        """Replace every collection with the backup's, after verifying the whole backup.

        A missing or corrupt backup raises and changes nothing. Afterwards the database holds
        exactly the backup's collections, for existing ``Collection`` objects too.
        """
        folder = await self._attach()
        await run_blocking(backup_module.restore_backup, folder, Path(backup_path))
        return True

    # -- lifetime --------------------------------------------------------------------------

    async def close(self) -> None:
        """Commit queued writes, fold journals into the ``.json`` files, release the files.

        The folding happens when the last open database object of this process on the folder
        closes. Closing twice is harmless.
        """
        if self._closed:
            return
        self._closed = True
        folder, self._folder = self._folder, None
        self._collections.clear()
        if folder is not None and registry.detach(folder):
            for store in folder.loaded_stores():
                await run_blocking(store.close)

    def __del__(self) -> None:
        if not getattr(self, "_closed", True) and getattr(self, "_folder", None) is not None:
            warnings.warn(
                f"{self!r} was never closed; call 'await db.close()' or use 'async with'",
                ResourceWarning,
                stacklevel=1,
            )


def create_database(db_path: str | os.PathLike[str] = "./data", **options: Any) -> AsyncJSONDB:
    """Create a database object for ``db_path`` (see ``AsyncJSONDB`` for the options)."""
    return AsyncJSONDB(db_path, **options)


def _prepare_folder(path: Path) -> Path:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StorageError("create the database folder", path, exc) from exc
    if not os.access(path, os.W_OK | os.X_OK):
        raise StorageError("write to", path, PermissionError(13, "Permission denied"))
    return Path(os.path.realpath(path))

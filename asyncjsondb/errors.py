"""The one error hierarchy of AsyncJSONDB.

Every failure a caller can see is a ``DatabaseError``; catch a subclass to handle one kind::

    DatabaseError
    ├── InvalidNameError       a collection name that could escape the folder or is not portable
    ├── InvalidKeyError        a key that is not a ``str``
    ├── InvalidValueError      a value that standard JSON cannot hold (NaN, sets, objects, ...)
    ├── InvalidOperationError  an operation that does not fit the stored value (update a list, ...)
    ├── InvalidQueryError      a filter, sort or projection that is not in the query language
    ├── DuplicateKeyError      a write or index that would repeat a value a unique index holds once
    ├── CorruptFileError       a data, journal or backup file that does not parse or verify
    ├── BackupError            a backup folder that is missing or incomplete
    ├── ConfigurationError     an unknown or out-of-range option
    ├── DatabaseClosedError    a call on a database after ``close()``
    ├── ReadOnlyError          a write to a database opened with ``read_only=True``
    ├── LockTimeoutError       another process held the collection lock for too long
    ├── ServerError            the database server (PostgreSQL) failed or could not be reached
    └── StorageError           the operating system refused a read or write (disk full, EACCES)

A failed call leaves disk and memory as they were before it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


class DatabaseError(Exception):
    """Root of every error raised by AsyncJSONDB."""

    def __reduce__(self) -> tuple[Any, ...]:
        # Subclasses take other arguments than their message: rebuild without calling __init__,
        # so that errors cross process boundaries (multiprocessing pickles them).
        return _rebuild, (type(self), self.args, self.__dict__)


def _rebuild(
    cls: type[DatabaseError], args: tuple[Any, ...], state: dict[str, Any]
) -> DatabaseError:
    error = cls.__new__(cls, *args)
    (OSError if issubclass(cls, OSError) else Exception).__init__(error, *args)
    error.__dict__.update(state)
    return error


class InvalidNameError(DatabaseError, ValueError):
    """A collection name that is empty, too long, hidden, or contains a path separator."""

    def __init__(self, name: object, reason: str) -> None:
        self.name = name
        self.reason = reason
        super().__init__(f"invalid collection name {name!r}: {reason}")


class InvalidKeyError(DatabaseError, TypeError):
    """A key that is not a ``str``."""

    def __init__(self, key: object, reason: str = "keys must be str") -> None:
        self.key = key
        super().__init__(f"invalid key {key!r}: {reason}")


class InvalidValueError(DatabaseError, ValueError):
    """A value that cannot be stored as standard JSON."""

    def __init__(self, reason: str, *, key: str | None = None) -> None:
        self.key = key
        self.reason = reason
        where = f" for key {key!r}" if key is not None else ""
        super().__init__(f"invalid value{where}: {reason}")


class InvalidOperationError(DatabaseError, TypeError):
    """An operation that does not apply to the stored value, e.g. ``update`` on a list."""

    def __init__(self, reason: str, *, collection: str, key: str) -> None:
        self.collection = collection
        self.key = key
        super().__init__(f"{collection}[{key!r}]: {reason}")


class CorruptFileError(DatabaseError):
    """A file that does not parse or verify; it is never overwritten or repaired silently."""

    def __init__(self, path: str | Path, problem: str, *, position: int | None = None) -> None:
        self.path = Path(path)
        self.problem = problem
        self.position = position
        at = f" at byte {position}" if position is not None else ""
        super().__init__(f"corrupt file {self.path}{at}: {problem}")


class BackupError(DatabaseError):
    """A backup folder that is missing, incomplete, or not a backup."""

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"backup {self.path}: {problem}")


class ConfigurationError(DatabaseError, ValueError):
    """An unknown option, or an option with a value it cannot take."""

    def __init__(self, option: str, problem: str) -> None:
        self.option = option
        super().__init__(f"option {option!r}: {problem}")


class DatabaseClosedError(DatabaseError):
    """The database (or the collection's database) was closed."""

    def __init__(self, db_path: str | Path) -> None:
        self.db_path = Path(db_path)
        super().__init__(f"database {self.db_path} is closed")


class ReadOnlyError(DatabaseError):
    """A write (or drop, compaction, restore) on a database opened with ``read_only=True``."""

    def __init__(self, location: str | Path, operation: str) -> None:
        self.location = str(location)
        self.operation = operation
        super().__init__(
            f"database {self.location} was opened with read_only=True: {operation} would write"
        )


class LockTimeoutError(DatabaseError, TimeoutError):
    """The cross-process lock of a collection was not acquired within ``lock_timeout``."""

    def __init__(self, path: str | Path, timeout: float) -> None:
        self.path = Path(path)
        self.timeout = timeout
        super().__init__(f"could not lock {self.path} within {timeout:g} s")


class ServerError(DatabaseError):
    """The database server failed a statement or could not be reached."""

    def __init__(self, location: str, problem: str) -> None:
        self.location = location
        self.problem = problem
        super().__init__(f"{location}: {problem}")


class StorageError(DatabaseError, OSError):
    """The operating system refused an operation; nothing was changed."""

    def __init__(self, action: str, path: str | Path, cause: OSError) -> None:
        self.action = action
        self.path = Path(path)
        self.cause = cause
        super().__init__(cause.errno, f"could not {action} {self.path}: {cause.strerror or cause}")

    def __str__(self) -> str:
        return str(self.args[1])


class InvalidQueryError(DatabaseError, ValueError):
    """A filter, sort or projection outside the query language; ``location`` says where in it."""

    def __init__(self, problem: str, *, location: str = "") -> None:
        self.problem = problem
        self.location = location
        at = f" at {location}" if location else ""
        super().__init__(f"invalid query{at}: {problem}")


class DuplicateKeyError(DatabaseError, ValueError):
    """A value that a unique index already holds for another key; nothing was written."""

    def __init__(self, path: str, value: object, *, key: str, other_key: str) -> None:
        self.path = path
        self.value = value
        self.key = key
        self.other_key = other_key
        super().__init__(
            f"unique index on {path!r}: {key!r} would repeat the value {value!r} "
            f"already held by {other_key!r}"
        )

"""AsyncJSONDB: an asyncio document database whose collections are plain, crash-safe JSON files."""

from __future__ import annotations

from .backup import BackupInfo
from .collection import Collection
from .database import AsyncJSONDB, create_database
from .document import Document
from .errors import (
    BackupError,
    ConfigurationError,
    CorruptFileError,
    DatabaseClosedError,
    DatabaseError,
    DuplicateKeyError,
    InvalidKeyError,
    InvalidNameError,
    InvalidOperationError,
    InvalidQueryError,
    InvalidValueError,
    LockTimeoutError,
    ReadOnlyError,
    ServerError,
    StorageError,
)
from .utils import create_timestamp, create_unique_id

__version__ = "0.1.0"

__all__ = [
    "AsyncJSONDB",
    "BackupError",
    "BackupInfo",
    "Collection",
    "ConfigurationError",
    "CorruptFileError",
    "DatabaseClosedError",
    "DatabaseError",
    "Document",
    "DuplicateKeyError",
    "InvalidKeyError",
    "InvalidNameError",
    "InvalidOperationError",
    "InvalidQueryError",
    "InvalidValueError",
    "LockTimeoutError",
    "ReadOnlyError",
    "ServerError",
    "StorageError",
    "create_database",
    "create_timestamp",
    "create_unique_id",
]

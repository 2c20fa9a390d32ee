"""The options of ``AsyncJSONDB(db_path, **options)``, checked once, at construction."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any, Literal

from .errors import ConfigurationError

Durability = Literal["fsync", "flush"]


@dataclass(frozen=True)
class Options:
    """``durability='fsync'``: a write is on stable storage when its await returns (survives power
    loss). ``'flush'``: it is handed to the operating system (survives a crash of the process, not
    of the machine), several times faster; like SQLite's ``synchronous=FULL`` and ``NORMAL``.

    ``cache_ttl``: the longest a read trusts memory without looking at the files. On one machine
    reads never lag (a shared-memory change counter, ``backends/files/changes``); it bounds
    staleness only for writes from other hosts of a network file system. 0 checks every read.

    ``read_only``: read without writing anything, for read-only media or accounts; every write
    raises ``ReadOnlyError`` (see docs/read-only.md for what a reader locks and sees).

    ``lock_timeout`` and the compaction options go with the folder's stores, which every database
    object of the process on that folder shares: the first object's values apply.
    """

    cache_ttl: float = 1.0
    durability: Durability = "fsync"
    lock_timeout: float = 10.0
    auto_compact: bool = True
    compact_ratio: float = 1.0
    compact_min_bytes: int = 1 << 20
    schema: str | None = None
    table_prefix: str | None = None
    pool_size: int | None = None
    read_only: bool = False

    def __post_init__(self) -> None:
        if self.durability not in ("fsync", "flush"):
            raise ConfigurationError("durability", "must be 'fsync' or 'flush'")
        for name in ("cache_ttl", "lock_timeout", "compact_ratio", "compact_min_bytes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
                raise ConfigurationError(name, f"must be a non-negative number, not {value!r}")
        if not math.isfinite(self.lock_timeout):
            raise ConfigurationError("lock_timeout", "must be finite (seconds to wait for a lock)")
        for name in ("auto_compact", "read_only"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigurationError(name, "must be True or False")
        for name in ("schema", "table_prefix"):
            if getattr(self, name) is not None and not isinstance(getattr(self, name), str):
                raise ConfigurationError(name, "must be a str")
        size = self.pool_size
        if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 1):
            raise ConfigurationError("pool_size", f"must be a positive int, not {size!r}")

    def server_only(self) -> list[str]:
        """The PostgreSQL-only options that were given (a folder refuses them)."""
        return [name for name in SERVER_OPTIONS if getattr(self, name) is not None]

    @classmethod
    def from_kwargs(cls, options: dict[str, Any]) -> Options:
        unknown = sorted(set(options) - set(OPTION_NAMES))
        if unknown:
            known = ", ".join(OPTION_NAMES)
            raise ConfigurationError(unknown[0], f"unknown option; the options are {known}")
        return cls(**options)

    @property
    def durable(self) -> bool:
        return self.durability == "fsync"


OPTION_NAMES: tuple[str, ...] = tuple(field.name for field in fields(Options))
SERVER_OPTIONS = ("schema", "table_prefix", "pool_size")

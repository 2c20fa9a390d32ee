"""The machine's limits: what any store built on a dict or on an appended file could reach."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..records import Record, key

LINE = b"x" * 199 + b"\n"
_sync = getattr(os, "fdatasync", os.fsync)


class DictStore:
    """A plain dict in an ``async def``: no copies, no files."""

    name = "dict (limit)"

    def __init__(self) -> None:
        self.data: dict[str, Record] = {}

    async def open(self, folder: Path) -> None:
        self.data = {}

    async def fill(self, records: Mapping[int, Record]) -> None:
        self.data.update((key(index), value) for index, value in records.items())

    async def set(self, index: int, value: Record) -> None:
        self.data[key(index)] = value

    def key_of(self, index: int) -> str:
        return key(index)

    async def get(self, record_key: str) -> Any:
        return self.data.get(record_key)

    async def find_age_over(self, age: int) -> list[Any]:
        return [value for value in self.data.values() if value["age"] > age]

    async def close(self) -> None:
        self.data = {}


class RawAppend:
    """A 200-byte ``os.write`` to a file opened for appending, then ``fdatasync`` (``fsync``
    where the OS lacks it), the call the journal makes; or no sync at all (``flush``)."""

    def __init__(self, sync: bool) -> None:
        self.sync = sync
        self.name = "append+fsync (limit)" if sync else "append+flush (limit)"
        self._fd: int | None = None

    async def open(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(folder / "raw.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    async def fill(self, records: Mapping[int, Record]) -> None:
        """Grow the file to the size of a collection of ``records`` (appends do not care)."""
        assert self._fd is not None
        os.write(self._fd, LINE * len(records))
        _sync(self._fd)

    async def set(self, index: int, value: Record) -> None:
        assert self._fd is not None
        os.write(self._fd, LINE)
        if self.sync:
            _sync(self._fd)

    async def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

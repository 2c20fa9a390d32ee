"""No descriptor outlives a failure or a close, and bulk writes keep no more memory than a fresh
process needs for the same data."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from asyncjsondb import AsyncJSONDB, StorageError
from tests.faults import SyscallFaults, open_descriptors

ROOT = Path(__file__).resolve().parent.parent


def _opening_a_folder(name: str, args: tuple[Any, ...]) -> bool:
    return name == "os.open" and os.path.isdir(args[0])


async def test_a_failed_journal_creation_leaks_no_descriptor(tmp_path: Path) -> None:
    async with AsyncJSONDB(tmp_path) as db:
        c = await db.get_collection("c")
        faults = SyscallFaults(matching=_opening_a_folder, error=errno.EMFILE)
        with faults, pytest.raises(StorageError):
            await c.set("a", 1)
        await c.set("a", 2)
    leaked = [fd for fd in open_descriptors() if str(tmp_path) in fd]
    assert leaked == []


MEMORY = """
import asyncio, sys
from asyncjsondb import AsyncJSONDB

def resident() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096

async def main(path, mode):
    start = resident()
    async with AsyncJSONDB(path, durability="flush") as db:
        c = await db.get_collection("c")
        if mode == "write":
            for batch in range(4):
                await c.set_many({f"k{batch}-{i}": {"n": i, "s": "x" * 40} for i in range(10_000)})
        else:
            assert await c.count() == 40_000
        print(resident() - start)  # before close: what the open database holds

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


def _grown_by(path: Path, mode: str) -> int:
    out = subprocess.run(
        [sys.executable, "-c", MEMORY, str(path), mode],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        check=True,
        timeout=60,
    )
    return int(out.stdout)


def test_bulk_writes_keep_no_more_memory_than_a_fresh_read(tmp_path: Path) -> None:
    written = _grown_by(tmp_path, "write")
    read = _grown_by(tmp_path, "read")
    assert written <= 3 * read, f"{written >> 20} MB after writing, {read >> 20} MB after reading"

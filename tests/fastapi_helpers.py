"""Helpers of the FastAPI integration tests: reading a database folder back, and free ports."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Any

from asyncjsondb import AsyncJSONDB

ROOT = Path(__file__).resolve().parents[1]


async def read_collection(db_path: Path, name: str) -> dict[str, Any]:
    """The collection's content as a new database object sees it (from the files)."""
    async with AsyncJSONDB(db_path, cache_ttl=0) as db:
        return dict(await (await db.get_collection(name)).items())


def read_collection_sync(db_path: Path, name: str) -> dict[str, Any]:
    return asyncio.run(read_collection(db_path, name))


def free_port() -> int:
    """A loopback TCP port that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def files_in(path: Path) -> set[str]:
    """Every file under ``path``, relative to it."""
    return {str(p.relative_to(path)) for p in path.rglob("*") if p.is_file()}

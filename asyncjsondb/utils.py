"""Small helpers for documents: ids and timestamps."""

from __future__ import annotations

import time
import uuid


def now() -> float:
    return time.time()


async def create_unique_id() -> str:
    """A random UUID4, as a string."""
    return str(uuid.uuid4())


async def create_timestamp() -> float:
    """The current time as a Unix timestamp (seconds, float)."""
    return now()

"""A journal's end as a crash leaves it, for the tests of recovery and repair.

The engine writes zeros ahead of its appends (``journal.py``): the records end where the zeros
begin, and an append that a crash cut short lies there, not at the end of the file.
"""

from __future__ import annotations

import os
from pathlib import Path


def records_of(journal: Path) -> bytes:
    """The journal's bytes without the zeros written ahead."""
    try:
        return journal.read_bytes().rstrip(b"\0")
    except FileNotFoundError:  # compacted meanwhile
        return b""


def records_end(journal: Path) -> int:
    """Where the next append goes: the end of the records."""
    return len(records_of(journal))


def tear(journal: Path, partial: bytes) -> int:
    """Write ``partial`` where the next append goes, as a crash mid-append leaves it; return
    where it starts (the valid end)."""
    end = records_end(journal)
    fd = os.open(journal, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        os.pwrite(fd, partial, end)
    finally:
        os.close(fd)
    return end

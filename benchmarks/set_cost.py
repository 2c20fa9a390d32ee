"""Where a durable ``set`` spends its time: the fdatasync, the pwrite, and the rest (Python and
the event loop), beside the same pwrite + fdatasync in a bare loop on a file of the same folder.

    python -m benchmarks.set_cost [--ops 3000] [--rounds 3] [--dir /var/tmp]

The journal's ``pwrite`` and ``fdatasync`` are timed where the engine calls them; the bare loop
writes the same frame size over zeros written ahead, as the journal does, so its fdatasync is
the disk's price for what the engine asks. Each figure is the median of the rounds (a mean per
``set``), the two loops taking turns in every round.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

if __package__ in (None, ""):  # python benchmarks/set_cost.py
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from asyncjsondb import AsyncJSONDB
from asyncjsondb.backends.files import journal
from asyncjsondb.codec import encode

VALUE = {"name": "user", "age": 31, "email": "a@example.com", "tags": ["a", "b"], "x": "y" * 80}
_AHEAD = 64 * 1024


class Timed:
    """Wraps a function, adding the seconds its calls take."""

    def __init__(self, function: Callable[..., object]) -> None:
        self.function, self.seconds, self.calls = function, 0.0, 0

    def __call__(self, *args: object) -> object:
        started = time.perf_counter()
        try:
            return self.function(*args)
        finally:
            self.seconds += time.perf_counter() - started
            self.calls += 1


async def engine_round(folder: Path, ops: int) -> tuple[float, float, float]:
    """Seconds per set, per fdatasync and per pwrite, over ``ops`` sequential durable sets."""
    sync, write = Timed(journal._sync_data), Timed(os.pwrite)
    async with AsyncJSONDB(folder, durability="fsync") as db:
        collection = await db.get_collection("bench")
        for n in range(300):  # warm: the inline path, zeros ahead
            await collection.set(f"warm{n}", VALUE)
        journal._sync_data, os.pwrite = sync, write  # type: ignore[assignment]
        try:
            started = time.perf_counter()
            for n in range(ops):
                await collection.set(f"k{n}", VALUE)
            seconds = time.perf_counter() - started
        finally:
            journal._sync_data, os.pwrite = sync.function, write.function  # type: ignore[assignment]
    return seconds / ops, sync.seconds / max(sync.calls, 1), write.seconds / max(write.calls, 1)


def bare_round(path: Path, ops: int, frame: int) -> float:
    """Seconds per fdatasync of ``frame`` bytes written over zeros written ahead."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    line, offset, size, synced = b"x" * (frame - 1) + b"\n", 0, 0, 0.0
    try:
        for _ in range(ops):
            payload = line
            if offset + len(line) > size:
                payload += bytes(_AHEAD)
                size = offset + len(payload)
            os.pwrite(fd, payload, offset)
            offset += len(line)
            started = time.perf_counter()
            os.fdatasync(fd)
            synced += time.perf_counter() - started
    finally:
        os.close(fd)
    return synced / ops


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dir", default=None, help="where to make the temporary folder")
    arguments = parser.parse_args(argv)
    sets, syncs, writes, bare = [], [], [], []
    with tempfile.TemporaryDirectory(prefix="asyncjsondb-setcost-", dir=arguments.dir) as root:
        for round_ in range(arguments.rounds):
            folder = Path(root) / f"db{round_}"
            per_set, per_sync, per_write = asyncio.run(engine_round(folder, arguments.ops))
            sets.append(per_set)
            syncs.append(per_sync)
            writes.append(per_write)
            frame = len(journal.frame(journal.SetRecord("k1000", b'"k1000"', encode(VALUE))))
            bare.append(bare_round(Path(root) / f"bare{round_}", arguments.ops, frame))
    us = 1e6
    per_set, per_sync = statistics.median(sets) * us, statistics.median(syncs) * us
    per_write, per_bare = statistics.median(writes) * us, statistics.median(bare) * us
    print(f"durable set, {arguments.ops} sequential, median of {arguments.rounds} rounds")
    print(f"  per set            {per_set:8.1f} us")
    print(f"  its fdatasync      {per_sync:8.1f} us")
    print(f"  its pwrite         {per_write:8.1f} us")
    print(f"  the rest           {per_set - per_sync - per_write:8.1f} us  (Python, event loop)")
    print(f"  bare fdatasync     {per_bare:8.1f} us  (same frame over zeros ahead, no engine)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

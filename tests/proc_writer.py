"""A process that writes until it is killed, for the crash tests (run as a script).

``python proc_writer.py crash DB LOG ROUND MODE DURABILITY SEED``: several tasks write at once. Each
writes an intent line to LOG before an operation and an ack line only after its await returned, so
the log says exactly which writes were acknowledged when the process was killed. MODE 'journal'
sets and increments; 'compact' adds set_many and delete, and compacts every ~2 KiB of journal (the
test gives the collection a large snapshot first, so compactions take much of the time).

``python proc_writer.py burst DB DURABILITY COUNT``: ``COUNT`` concurrent sets, then prints
``acked <fsyncs>`` and waits to be killed.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import sys
from typing import Any

from asyncjsondb import AsyncJSONDB

TASKS = 4


def value_for(key: str) -> dict[str, Any]:
    return {"key": key, "pad": "x" * (len(key) * 7 % 41)}


class Log:
    """Appends whole lines with one ``write`` each, so a kill leaves no half-acknowledged line."""

    def __init__(self, path: str) -> None:
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def line(self, **entry: Any) -> None:
        os.write(self.fd, (json.dumps(entry) + "\n").encode())


async def crash(db: str, log_path: str, round_: int, mode: str, durability: str, seed: int) -> None:
    log = Log(log_path)
    options: dict[str, Any] = {"durability": durability}
    if mode == "compact":
        options.update(compact_min_bytes=2048, compact_ratio=0.001)  # compact every ~20 writes
    database = AsyncJSONDB(db, **options)  # never closed: the process is killed
    c = await database.get_collection("c")
    await asyncio.gather(*(_task(c, log, round_, mode, t, seed) for t in range(TASKS)))


async def _task(c: Any, log: Log, round_: int, mode: str, task: int, seed: int) -> None:
    rng = random.Random(seed * 100 + task)
    acked: list[str] = []
    for i in range(10**9):
        op = f"{round_}-{task}-{i}"
        roll = rng.random()
        if roll < 0.2:
            counter = f"count-{task}"
            log.line(t="intent", op=op, kind="increment", keys=[counter])
            log.line(t="ack", op=op, value=await c.increment(counter))
        elif mode == "compact" and roll < 0.35:
            keys = [f"k-{op}-{n}" for n in range(3)]
            log.line(t="intent", op=op, kind="set_many", keys=keys)
            await c.set_many({key: value_for(key) for key in keys})
            log.line(t="ack", op=op)
            acked += keys
        elif mode == "compact" and roll < 0.5 and acked:
            key = acked.pop(rng.randrange(len(acked)))
            log.line(t="intent", op=op, kind="delete", keys=[key])
            assert await c.delete(key)
            log.line(t="ack", op=op)
        else:
            key = f"k-{op}"
            log.line(t="intent", op=op, kind="set", keys=[key])
            await c.set(key, value_for(key))
            log.line(t="ack", op=op)
            acked.append(key)


async def burst(db: str, durability: str, count: int) -> None:
    syncs = [0]
    for name in ("fsync", "fdatasync"):  # counted, not changed: every call still syncs
        if hasattr(os, name):
            setattr(os, name, _counting(getattr(os, name), syncs))
    database = AsyncJSONDB(db, durability=durability)  # never closed: the process is killed
    c = await database.get_collection("c")
    await asyncio.gather(*(c.set(f"k{n}", value_for(f"k{n}")) for n in range(count)))
    print(f"acked {syncs[0]}", flush=True)
    await asyncio.sleep(3600)


def _counting(real: Any, calls: list[int]) -> Any:
    def sync(fd: int) -> None:
        calls[0] += 1
        real(fd)

    return sync


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    if command == "crash":
        db, log_path, round_, mode, durability, seed = args
        asyncio.run(crash(db, log_path, int(round_), mode, durability, int(seed)))
    else:
        db, durability, count = args
        asyncio.run(burst(db, durability, int(count)))

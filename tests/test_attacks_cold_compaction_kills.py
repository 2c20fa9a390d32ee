"""A writer that compacts off the locks all the time, SIGKILLed at seeded random moments.

The child process sets, deletes and clears keys one at a time (``durability="fsync"``), logging
each write before it starts and once it is acknowledged; its journal is folded every few KiB by
the off-lock path (``OFF_LOCK_MIN_BYTES`` 0), so the kill lands in renders and swaps as often as
in commits. Sometimes the whole process group dies (the rendering child too), sometimes only the
writer (the rendering child lives on, orphaned). Then a fresh reader must find every acknowledged
write and no deleted key back; the one write in flight may be there or not.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from asyncjsondb import AsyncJSONDB

pytestmark = pytest.mark.timeout(60)
ROOT = Path(__file__).resolve().parent.parent
ROUNDS = 3

WRITER = r"""
import asyncio, json, os, random, sys
from asyncjsondb import AsyncJSONDB
from asyncjsondb.backends.files import compaction

compaction.OFF_LOCK_MIN_BYTES = 0
path, log_path, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
rng = random.Random(seed)
log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

async def main():
    db = AsyncJSONDB(path, compact_min_bytes=3000, compact_ratio=0.5)
    c = await db.get_collection("c")
    os.write(log, b"open\n")
    for i in range(100000):
        key = f"k{rng.randrange(12)}"
        roll = rng.random()
        if roll < 0.55:
            op = ["set", key, {"i": i, "pad": "x" * rng.randrange(80)}]
        elif roll < 0.9:
            op = ["delete", key]
        elif roll < 0.97:
            op = ["delete_many", [key, f"k{rng.randrange(12)}"]]
        else:
            op = ["clear"]
        os.write(log, json.dumps(op).encode() + b"\n")
        await getattr(c, op[0])(*op[1:])
        os.write(log, b"ack\n")

asyncio.run(main())
"""


def replay(log: list[str]) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The state every acknowledged write leaves, and the state if the one in flight landed."""
    state: dict[str, Any] = {}
    pending: list[Any] | None = None
    for line in log:
        if line == "ack":
            assert pending is not None
            apply(state, pending)
            pending = None
        else:
            pending = json.loads(line)
    if pending is None:
        return state, None
    landed = dict(state)
    apply(landed, pending)
    return state, landed


def apply(state: dict[str, Any], op: list[Any]) -> None:
    method, *args = op
    if method == "set":
        state[args[0]] = args[1]
    elif method == "delete":
        state.pop(args[0], None)
    elif method == "delete_many":
        for key in args[0]:
            state.pop(key, None)
    else:
        state.clear()


async def read_afresh(path: Path) -> dict[str, Any]:
    async with AsyncJSONDB(path) as db:
        return dict(await (await db.get_collection("c")).items())


def test_killed_while_compacting_off_the_locks_keeps_every_acknowledged_write(
    tmp_path: Path,
) -> None:
    rng = random.Random(20261203)
    for round_number in range(ROUNDS):
        path, log_path = tmp_path / f"db{round_number}", tmp_path / f"log{round_number}"
        writer = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path), str(log_path), str(round_number)],
            cwd=ROOT,
            start_new_session=True,  # its own group: the rendering child can die with it
        )
        try:
            while not log_path.exists() or b"open" not in log_path.read_bytes():
                assert writer.poll() is None, "the writer ended before it opened the folder"
                time.sleep(0.01)
            time.sleep(rng.uniform(0.1, 0.6))  # a seeded moment, not a threshold
            whole_group = rng.random() < 0.5
            os.killpg(writer.pid, signal.SIGKILL) if whole_group else writer.kill()
        finally:
            writer.kill()
            writer.wait()
        lines = log_path.read_text().split("\n")
        complete = lines[1:-1]  # the last may be a torn line: not started
        acknowledged, landed = replay(complete)
        found = asyncio.run(read_afresh(path))
        assert found in (acknowledged, landed), (whole_group, len(complete))
        with contextlib.suppress(ProcessLookupError):  # an orphaned renderer: it has had its say
            os.killpg(writer.pid, signal.SIGKILL)

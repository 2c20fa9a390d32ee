"""Compaction and group commit (issue 3), on real files and real processes.

Compaction folds ``<name>.journal`` into ``<name>.json``; it may run in any process at any time,
so it must never lose a write another process is making, and after ``close()`` the ``.json``
alone must hold the data. Group commit shares one fsync among concurrent writers; every write it
acknowledged must survive a SIGKILL right after.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from asyncjsondb import AsyncJSONDB
from tests import proc_workers
from tests.journal_tail import records_end
from tests.proc_workers import SPAWN, Peer, Workers, in_fresh_process, padded, read_all

ROOT = Path(__file__).resolve().parent.parent
WRITER = [sys.executable, "-m", "tests.proc_writer"]  # from ROOT: the package pytest imports

pytestmark = pytest.mark.timeout(60)  # real processes: never let one hang the suite


def _json_file(path: Path) -> Any:
    with open(path, encoding="utf-8") as stream:
        return json.load(stream)


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


WRITERS, MIN_WRITES, ENOUGH_COMPACTIONS = 3, 60, 5


@pytest.mark.timeout(90)
def test_compaction_racing_writers_in_other_processes_loses_nothing(
    db_path: Path, durability: str
) -> None:
    compactions, stop = SPAWN.Value("i", 0), SPAWN.Event()
    with Workers() as workers:
        busy = workers.start(proc_workers.compactor, str(db_path), compactions, stop)
        writers = [
            workers.start(
                proc_workers.compaction_writer,
                *(str(db_path), durability, i, MIN_WRITES, compactions, ENOUGH_COMPACTIONS),
            )
            for i in range(WRITERS)
        ]
        reports = workers.take(writers)
        stop.set()
        assert workers.take([busy])[0] > 0
    assert compactions.value >= ENOUGH_COMPACTIONS  # the writes really raced compactions
    expected = {k: v for r in reports for k, v in r["own"].items()}
    expected["counter"] = {"value": sum(r["increments"] for r in reports)}
    stored = in_fresh_process(read_all, str(db_path), "c")
    assert stored == expected
    assert _json_file(db_path / "c.json") == expected
    assert not (db_path / "c.journal").exists()


BURST = 1000


def test_group_commit_keeps_every_acknowledged_write_through_sigkill(
    db_path: Path, durability: str
) -> None:
    writer = subprocess.Popen(
        [*WRITER, "burst", str(db_path), durability, str(BURST)], cwd=ROOT, stdout=subprocess.PIPE
    )
    try:
        assert writer.stdout is not None
        acked = writer.stdout.readline().decode().split()
    finally:
        writer.kill()  # the moment the 1000 awaits have returned
        writer.wait(10)
        if writer.stdout is not None:
            writer.stdout.close()
    assert writer.returncode == -signal.SIGKILL
    assert acked[0] == "acked"
    if durability == "fsync":
        assert int(acked[1]) < BURST  # concurrent writers shared their fsyncs
    assert (db_path / "c.journal").exists()  # nothing was folded: the journal alone holds them

    async def reopen() -> dict[str, Any]:
        async with AsyncJSONDB(db_path) as db:
            return dict(await (await db.get_collection("c")).items())

    expected = {f"k{n}": padded(f"k{n}") for n in range(BURST)}
    assert asyncio.run(reopen()) == expected
    assert _json_file(db_path / "c.json") == expected


async def test_after_close_the_json_file_alone_holds_all_data(
    db_path: Path, durability: str
) -> None:
    expected: dict[str, Any] = {}
    db = AsyncJSONDB(db_path, durability=durability, auto_compact=False)
    c = await db.get_collection("c")
    await c.set_many({f"k{n}": {"n": n} for n in range(50)})
    expected.update({f"k{n}": {"n": n} for n in range(50)})
    await c.clear()
    expected.clear()
    await c.set_many({f"k{n}": {"n": n, "é": "ünïcode"} for n in range(40)})
    expected.update({f"k{n}": {"n": n, "é": "ünïcode"} for n in range(40)})
    for n in range(0, 40, 3):
        await c.delete(f"k{n}")
        del expected[f"k{n}"]
    await c.delete_many(["k1", "k2", "missing"])
    del expected["k1"], expected["k2"]
    await c.set("k0", [1, 2.5, None, True])  # deleted before, so it comes back at the end
    expected["k0"] = [1, 2.5, None, True]
    await c.update("k4", {"extra": {"nested": "yes"}})
    expected["k4"]["extra"] = {"nested": "yes"}
    assert await c.increment("k5", "n", 10) == 15
    expected["k5"]["n"] = 15
    assert await c.increment("bare") == 1
    expected["bare"] = {"value": 1}
    assert _size(db_path / "c.journal") > 0
    await db.close()
    assert not (db_path / "c.journal").exists()
    on_disk = _json_file(db_path / "c.json")
    assert list(on_disk.items()) == list(expected.items())  # same data, same order
    async with AsyncJSONDB(db_path) as again:
        assert await (await again.get_collection("c")).items() == list(expected.items())


async def _once_compacted(
    db_path: Path, min_bytes: int, ratio: float, slack: int
) -> tuple[int, float]:
    """The journal's end and its bound, once they agree (within ``slack``) or after 5 s: the
    compaction a commit starts runs in the pool while the writes go on, so the next few
    writes may land before it swaps."""
    deadline = time.monotonic() + 5
    while True:
        journal = records_end(db_path / "c.journal")
        bound = max(min_bytes, ratio * _size(db_path / "c.json"))
        if journal <= bound + slack or time.monotonic() > deadline:
            return journal, bound
        await asyncio.sleep(0.002)


async def test_auto_compact_keeps_the_journal_bounded(db_path: Path, durability: str) -> None:
    min_bytes, ratio, frame_at_most = 4096, 0.5, 200
    async with AsyncJSONDB(
        db_path, durability=durability, compact_min_bytes=min_bytes, compact_ratio=ratio
    ) as db:
        c = await db.get_collection("c")
        appended = compactions = previous = 0
        widest = 0.0
        for n in range(600):
            key = f"k{n % 150}"  # overwrites, then new keys as the snapshot grows
            await c.set(key if n < 300 else f"new{n}", padded(key))
            journal, bound = await _once_compacted(db_path, min_bytes, ratio, frame_at_most)
            assert journal <= bound + frame_at_most, (n, journal, bound)
            appended += max(0, journal - previous)
            compactions += journal < previous
            previous, widest = journal, max(widest, bound)
        assert appended > 2 * widest  # without compaction the bound would have been broken
        assert compactions > 0
        assert await c.count() == 150 + 300


async def test_compact_returns_the_names_it_compacted(db_path: Path, durability: str) -> None:
    peer = Peer(str(db_path), durability=durability)
    peer.call("z", "set", "left", "by a crashed process")
    peer.vanish()  # z.journal stays behind
    async with AsyncJSONDB(db_path, durability=durability) as db:
        a, _b, c, _d = [await db.get_collection(name) for name in "abcd"]
        await a.set("x", 1)
        await c.set_many({"y": 2, "w": 3})
        assert sorted(p.name for p in db_path.glob("*.journal")) == [
            "a.journal",
            "c.journal",
            "z.journal",
        ]
        assert await db.compact() == ["a", "c", "z"]
        assert list(db_path.glob("*.journal")) == []
        assert await db.compact() == []
        assert await a.get("x") == 1
        assert _json_file(db_path / "z.json") == {"left": "by a crashed process"}
        assert _json_file(db_path / "c.json") == {"y": 2, "w": 3}
        assert _json_file(db_path / "b.json") == {}

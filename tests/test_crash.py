"""Guarantee 3 and the journal's recovery rules, with real processes killed by SIGKILL.

A writer process logs an intent before each operation and an ack only after its await returned;
it is killed at seeded random moments, again and again on the same folder. After each kill every
file must parse, and (checked against the log) every acknowledged write must be there, no write
may be half there, and nothing may appear that was never written. Torn and corrupt journals are
made by hand from a real journal.
"""

from __future__ import annotations

import asyncio
import json
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from asyncjsondb import AsyncJSONDB, CorruptFileError
from asyncjsondb.backends.files.atomic import is_claimed
from tests.attack_scenarios import environment_long
from tests.journal_tail import records_of, tear
from tests.proc_writer import value_for

ROOT = Path(__file__).resolve().parent.parent
WRITER = [sys.executable, "-m", "tests.proc_writer"]  # from ROOT: the package pytest imports
ROUNDS = 48 if environment_long() else 8  # kills per test
# A large snapshot makes each compaction slow, so many kills land in the middle of one.
BALLAST = {"journal": 0, "compact": 20_000}
LOCK_FILES = {".c.lock", ".c.changes", ".asyncjsondb.lock"}  # not data

pytestmark = pytest.mark.timeout(60)  # real processes: never let one hang the suite


def _strict_json(raw: bytes) -> Any:
    """Parse as standard JSON: NaN and Infinity are not."""

    def refuse(token: str) -> Any:
        raise ValueError(f"non-standard JSON constant {token}")

    return json.loads(raw, parse_constant=refuse)


def _log_entries(log: Path) -> list[dict[str, Any]]:
    """Complete lines only: a line cut by the kill was never an acknowledgement."""
    text = log.read_text() if log.exists() else ""
    return [json.loads(line) for line in text.splitlines(keepends=True) if line.endswith("\n")]


def _wait_for_an_ack(log: Path, round_: int, writer: subprocess.Popen[bytes]) -> None:
    mark = f'"t": "ack", "op": "{round_}-'.encode()
    start = log.stat().st_size if log.exists() else 0
    deadline = time.monotonic() + 20
    while True:
        if log.exists():
            with open(log, "rb") as stream:
                stream.seek(start)
                if mark in stream.read():
                    return
        if writer.poll() is not None:
            assert writer.stderr is not None
            raise AssertionError(f"writer died by itself: {writer.stderr.read().decode()}")
        assert time.monotonic() < deadline, "writer acknowledged nothing within 20 s"
        time.sleep(0.005)


def check_against_log(stored: dict[str, Any], log: Path, ballast: dict[str, Any]) -> int:
    """Assert ``stored`` holds ``ballast`` and what the log says; return the number of acks."""
    assert {key: stored.pop(key, None) for key in ballast} == ballast
    intents: dict[str, dict[str, Any]] = {}
    acked: set[str] = set()
    counters: dict[str, list[int]] = {}  # key -> [last acknowledged value, intents since]
    for entry in _log_entries(log):
        op = entry["op"]
        if entry["t"] == "intent":
            intents[op] = entry
            if entry["kind"] == "increment":
                counters.setdefault(entry["keys"][0], [0, 0])[1] += 1
        else:
            acked.add(op)
            if intents[op]["kind"] == "increment":
                counters[intents[op]["keys"][0]] = [entry["value"], 0]
    deleted = {e["keys"][0]: op for op, e in intents.items() if e["kind"] == "delete"}
    writes = {op: e["keys"] for op, e in intents.items() if e["kind"] in ("set", "set_many")}
    created = {key: op for op, keys in writes.items() for key in keys}
    assert set(stored) <= set(created) | set(counters), "a key that was never written"
    for key, op in created.items():
        if key in stored:
            assert stored[key] == value_for(key)
            assert deleted.get(key) not in acked, f"acknowledged delete lost: {key}"
        else:
            assert op not in acked or key in deleted, f"acknowledged write lost: {key}"
    for op, entry in intents.items():
        if entry["kind"] == "set_many" and op not in acked:
            present = [key in stored for key in entry["keys"]]
            assert all(present) or not any(present), f"set_many {op} half applied: {present}"
    for key, (last_acked, pending) in counters.items():
        value = stored.get(key, {"value": 0})["value"]
        assert last_acked <= value <= last_acked + pending, (key, value, last_acked, pending)
    return len(acked)


@pytest.mark.timeout(90)
@pytest.mark.parametrize("mode", ["journal", "compact"])
def test_sigkill_at_random_moments_loses_no_acknowledged_write(
    tmp_path: Path, db_path: Path, durability: str, mode: str
) -> None:
    rng = random.Random(f"{mode}-{durability}")
    log = tmp_path / "log.jsonl"
    acknowledged = 0
    ballast = {f"ballast-{n}": value_for(f"ballast-{n}") for n in range(BALLAST[mode])}
    asyncio.run(_store(db_path, ballast))
    for round_ in range(ROUNDS):
        writer = subprocess.Popen(
            [
                *WRITER,
                "crash",
                str(db_path),
                str(log),
                str(round_),
                mode,
                durability,
                str(rng.randrange(10**6)),
            ],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            _wait_for_an_ack(log, round_, writer)
            time.sleep(rng.uniform(0, 0.25))
        finally:
            writer.kill()
            writer.wait(10)
            assert writer.stderr is not None
            writer.stderr.close()
        assert writer.returncode == -signal.SIGKILL
        _orphans_let_go(db_path)
        _strict_json((db_path / "c.json").read_bytes())  # parses even mid-compaction
        if round_ % 2 == 0 and round_ != ROUNDS - 1:
            continue  # the next writer opens what this kill left behind, torn tail and all
        acknowledged = _reopen_and_check(db_path, durability, log, ballast)
    assert acknowledged > ROUNDS


def _orphans_let_go(db_path: Path) -> None:
    """Wait until no process claims a temp file of the folder: a killed writer's compaction
    child dies with it (``test_the_rendering_child_dies_with_its_parent`` holds that), but a
    moment later, and a reopen that ran before would find the file still claimed and, rightly,
    leave it. A wait, not a check: an orphan also lets go when it ends its render."""
    deadline = time.monotonic() + 10
    while claimed := [p.name for p in db_path.iterdir() if ".tmp-" in p.name and is_claimed(p)]:
        assert time.monotonic() < deadline, f"still claimed after the writer died: {claimed}"
        time.sleep(0.01)


async def _store(db_path: Path, items: dict[str, Any]) -> None:
    async with AsyncJSONDB(db_path) as db:
        await (await db.get_collection("c")).set_many(items)


def _reopen_and_check(db_path: Path, durability: str, log: Path, ballast: dict[str, Any]) -> int:
    async def reopen() -> dict[str, Any]:
        async with AsyncJSONDB(db_path, durability=durability) as db:
            stored = dict(await (await db.get_collection("c")).items())
            leftovers = {p.name for p in db_path.iterdir()} - LOCK_FILES - {"c.json", "c.journal"}
            assert leftovers == set(), "temp files left after reopen"
            return stored

    stored = asyncio.run(reopen())
    assert _strict_json((db_path / "c.json").read_bytes()) == stored  # close folded the journal
    acknowledged = check_against_log(stored, log, ballast)
    assert not (db_path / "c.journal").exists()
    return acknowledged


# -- journals torn and corrupted by hand ------------------------------------------------------


async def _crash_image(db_path: Path, image: Path, durability: str) -> dict[str, Any]:
    """Copy the folder while the database is open, as a crash would leave it: snapshot + journal."""
    async with AsyncJSONDB(db_path, durability=durability) as db:
        c = await db.get_collection("c")
        await c.set("before", "compaction")
        await db.compact()
        for n in range(6):
            await c.set(f"k{n}", value_for(f"k{n}"))
        await c.increment("counter", amount=5)
        await c.delete("k2")
        await c.set_many({"m1": [1], "m2": {"two": 2}})
        await c.update("k3", {"extra": True})
        expected = dict(await c.items())
        shutil.copytree(db_path, image, ignore=shutil.ignore_patterns(".*.lock"))
    return expected


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.name not in LOCK_FILES}


def _journal_lines(image: Path) -> list[bytes]:
    return records_of(image / "c.journal").splitlines(keepends=True)


TAILS: dict[str, Callable[[list[bytes]], bytes]] = {
    "half a line": lambda lines: lines[-1][: len(lines[-1]) // 2],
    "garbage without newline": lambda lines: b"\x00\xffnot a record",
    "a whole line with a sector never written": lambda lines: b"\0" * 8 + lines[-1][8:],
    "zeros from a grown file": lambda lines: b"\x00" * 4096,
}


@pytest.mark.parametrize("tail", list(TAILS), ids=list(TAILS))
async def test_a_torn_journal_tail_is_cut_and_every_complete_record_kept(
    tmp_path: Path, db_path: Path, durability: str, tail: str
) -> None:
    image = tmp_path / "image"
    expected = await _crash_image(db_path, image, durability)
    journal = image / "c.journal"
    complete = records_of(journal)
    assert len(_journal_lines(image)) >= 5
    tear(journal, TAILS[tail](_journal_lines(image)))
    async with AsyncJSONDB(image, durability=durability) as db:
        c = await db.get_collection("c")
        assert dict(await c.items()) == expected
        assert records_of(journal) == complete  # the torn tail is cut, nothing else
        await c.set("after", 1)  # appends go after the last complete record
    assert _strict_json((image / "c.json").read_bytes()) == {**expected, "after": 1}
    assert not journal.exists()


DAMAGED_ENDS: dict[str, Callable[[list[bytes]], bytes]] = {
    "several bad lines": lambda lines: b"garbage\n" + lines[-1][:-5] + b"XXXX\n",
    "a whole line failing its checksum": lambda lines: b"0" * 8 + lines[-1][8:],
    "a bad line, then a torn one": lambda lines: b"garbage\n" + lines[-1][:-5],
    "two lines merged by a damaged newline": lambda lines: lines[-2][:-1] + b" " + lines[-1],
}


@pytest.mark.parametrize("end", list(DAMAGED_ENDS), ids=list(DAMAGED_ENDS))
async def test_damage_beyond_one_torn_line_at_the_end_raises(
    tmp_path: Path, db_path: Path, durability: str, end: str
) -> None:
    image = tmp_path / "image"
    await _crash_image(db_path, image, durability)
    lines = _journal_lines(image)
    kept = lines[:-2] if end.startswith("two lines") else lines
    (image / "c.journal").write_bytes(b"".join(kept) + DAMAGED_ENDS[end](lines))
    before = _files(image)
    db = AsyncJSONDB(image, durability=durability)
    try:
        with pytest.raises(CorruptFileError) as caught:
            await db.get_collection("c")
    finally:
        await db.close()
    assert caught.value.position == sum(len(line) for line in kept)
    assert _files(image) == before


@pytest.mark.parametrize("line", [0, 1, 3])
async def test_corruption_before_the_tail_raises_and_changes_no_file(
    tmp_path: Path, db_path: Path, durability: str, line: int
) -> None:
    image = tmp_path / "image"
    await _crash_image(db_path, image, durability)
    lines = _journal_lines(image)
    assert len(lines) > line + 1  # valid records follow the damaged one
    damaged = bytearray(lines[line])
    damaged[len(damaged) // 2] ^= 0x01  # one flipped bit in the record's body
    lines[line] = bytes(damaged)
    (image / "c.journal").write_bytes(b"".join(lines))
    before = _files(image)
    position = sum(len(earlier) for earlier in lines[:line])
    for _ in range(2):  # a second attempt finds it again: nothing was "repaired"
        db = AsyncJSONDB(image, durability=durability)
        try:
            with pytest.raises(CorruptFileError) as caught:
                await db.get_collection("c")
        finally:
            await db.close()
        assert caught.value.path.resolve() == (image / "c.journal").resolve()
        assert caught.value.position == position
        assert "c.journal" in str(caught.value) and f"at byte {position}" in str(caught.value)
        assert _files(image) == before

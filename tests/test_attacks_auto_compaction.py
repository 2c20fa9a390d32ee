"""Attacks on the automatic compaction that runs in a pool job of its own while writes go on
(``commits._compact_in_pool_if_due``), off the locks (``compaction.OFF_LOCK_MIN_BYTES`` is 0
here), with the records appended meanwhile carried ahead (``compaction._carry_ahead``).

Every test compares the end state with a model dict, in this process and in a fresh one.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from asyncjsondb import AsyncJSONDB, DatabaseError
from asyncjsondb.backends.files import compaction, rewrite
from asyncjsondb.backends.files.commits import CommitQueue
from tests.attack_scenarios import check_folder, environment_long
from tests.faults import open_descriptors

pytestmark = pytest.mark.timeout(60)
ROOT = Path(__file__).resolve().parent.parent
TINY = {"compact_min_bytes": 64, "compact_ratio": 0.0}  # a compaction after nearly every commit
LONG = environment_long()  # ASYNCJSONDB_ATTACK_LONG=1: more seeds, rounds and stages
SEEDS = range(3) if LONG else range(1)
KILL_ROUNDS = 6 if LONG else 3
STAGES = ["render", "carried"] if LONG else ["carried"]

READER = """
import asyncio, json, sys
from asyncjsondb import AsyncJSONDB
async def main():
    async with AsyncJSONDB(sys.argv[1], cache_ttl=0) as db:
        names = await db.list_collections()
        out = {}
        for name in names:
            out[name] = dict(await (await db.get_collection(name)).items())
    print(json.dumps(out))
asyncio.run(main())
"""


def fresh_read(path: Path) -> dict[str, dict[str, Any]]:
    """Every collection as a process that has never opened ``path`` reads it."""
    done = subprocess.run(
        [sys.executable, "-c", READER, str(path)],
        cwd=ROOT,
        capture_output=True,
        check=True,
        timeout=30,
    )
    found: dict[str, dict[str, Any]] = json.loads(done.stdout)
    return found


@pytest.fixture(autouse=True)
def off_lock_always(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(compaction, "OFF_LOCK_MIN_BYTES", 0)


@pytest.fixture
def carries(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """For each swap of an off-lock render that carried records: whether the carry was used."""
    real = compaction._write_next
    seen: list[bool] = []

    def write_next(path: Path, carried: bytes, carry: compaction.Carry | None) -> int:
        seen.append(carry is not None and carried.startswith(carry.copied))
        return real(path, carried, carry)

    monkeypatch.setattr(compaction, "_write_next", write_next)
    return seen


def paused_render(monkeypatch: pytest.MonkeyPatch) -> tuple[threading.Event, threading.Event]:
    """Make the first automatic render wait, off the locks: (started, go)."""
    real = rewrite.render
    started, go = threading.Event(), threading.Event()

    def render(taken: rewrite.Capture) -> tuple[Path, int]:
        if not started.is_set():
            started.set()
            assert go.wait(30)
        return real(taken)

    monkeypatch.setattr(rewrite, "render", render)
    return started, go


def paused_after_carry(monkeypatch: pytest.MonkeyPatch) -> tuple[threading.Event, threading.Event]:
    """Make the first automatic compaction wait after its carry was copied, before the swap."""
    real = compaction._carry_ahead
    started, go = threading.Event(), threading.Event()

    def carry_ahead(taken: rewrite.Capture) -> compaction.Carry | None:
        carried = real(taken)
        if not started.is_set():
            started.set()
            assert go.wait(30)
        return carried

    monkeypatch.setattr(compaction, "_carry_ahead", carry_ahead)
    return started, go


async def wait_for(event: threading.Event) -> None:
    for _ in range(1000):
        if event.is_set():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the event never came")


# -- 1. tasks and threads writing and reading while compactions fire constantly --------------


async def _writer(db: AsyncJSONDB, tag: str, model: dict[str, Any], rng: random.Random) -> None:
    c = await db.get_collection("c")
    batches: list[list[str]] = []
    for i in range(40):
        op = rng.random()
        if op < 0.4:
            key = f"{tag}-s{i}"
            await c.set(key, {"v": i, "pad": "p" * rng.randrange(60)})
            model[key] = {"v": i}
            got = await c.get(key)  # read-your-write, whatever compaction runs
            assert got is not None and got["v"] == i, (key, got)
        elif op < 0.7:
            keys = [f"{tag}-b{i}-{j}" for j in range(rng.randrange(1, 8))]
            await c.set_many({k: {"v": i, "size": len(keys)} for k in keys})
            model.update({k: {"v": i} for k in keys})
            batches.append(keys)
            found = await c.get_many(keys)
            assert set(found) == set(keys)
        elif op < 0.85 and batches:
            keys = batches.pop(rng.randrange(len(batches)))
            assert await c.delete_many(keys) == len(keys)
            for k in keys:
                model.pop(k)
            assert await c.get_many(keys) == {}
        else:
            n = await c.increment(f"{tag}-n")
            model[f"{tag}-n"] = {"value": n}


async def _reader(db: AsyncJSONDB, stop: asyncio.Event) -> int:
    """Every batch seen whole: the keys of one set_many are all there or none."""
    c = await db.get_collection("c")
    looks = 0
    while not stop.is_set():
        items = dict(await c.items())
        groups: dict[str, set[str]] = {}
        for key in items:
            if "-b" in key:
                groups.setdefault(key.rsplit("-", 1)[0], set()).add(key)
        for prefix, keys in groups.items():
            sizes = {items[k]["size"] for k in keys}
            assert sizes == {len(keys)}, (prefix, sizes, keys)  # a set_many seen whole
        assert await c.count() >= 0
        async for _ in c.iter_items():
            pass
        await c.find(where={"v": {"$gte": 0}})
        looks += 1
        await asyncio.sleep(0)
    return looks


def _thread_writer(path: Path, tag: str, model: dict[str, Any], seed: int) -> None:
    async def run() -> None:
        db = AsyncJSONDB(path, **TINY)
        try:
            await _writer(db, tag, model, random.Random(seed))
        finally:
            await db.close()

    asyncio.run(run())


@pytest.mark.parametrize("seed", SEEDS)
async def test_tasks_and_threads_write_during_constant_auto_compaction(
    tmp_path: Path, seed: int, carries: list[bool]
) -> None:
    path = tmp_path / "db"
    db = AsyncJSONDB(path, cache_ttl=0, **TINY)
    c = await db.get_collection("c")
    await c.set_many({f"seed{i}": {"v": i, "pad": "s" * 200} for i in range(300)})
    model: dict[str, Any] = {f"seed{i}": {"v": i} for i in range(300)}
    models = [dict[str, Any]() for _ in range(5)]
    threads = [
        threading.Thread(target=_thread_writer, args=(path, f"t{n}", models[n], seed * 10 + n))
        for n in range(2)
    ]
    for thread in threads:
        thread.start()
    stop = asyncio.Event()
    reader = asyncio.ensure_future(_reader(db, stop))
    await asyncio.gather(
        *(_writer(db, f"a{n}", models[2 + n], random.Random(seed * 10 + 5 + n)) for n in range(3))
    )
    for thread in threads:
        await asyncio.to_thread(thread.join, 30)
        assert not thread.is_alive()
    stop.set()
    assert await reader > 0
    for each in models:
        model.update(each)

    def shown(items: dict[str, Any]) -> dict[str, Any]:
        return {
            k: {"value": v["value"]} if "value" in v else {"v": v["v"]} for k, v in items.items()
        }

    assert shown(dict(await c.items())) == model
    await db.close()
    assert shown(fresh_read(path)["c"]) == model
    assert carries, "no off-lock compaction carried a record: the attack missed"


# -- 2. another process writes the same folder while this one compacts ------------------------

OTHER = """
import asyncio, sys
from asyncjsondb import AsyncJSONDB
async def main():
    db = AsyncJSONDB(sys.argv[1], cache_ttl=0, auto_compact=False)
    c = await db.get_collection("c")
    for i in range(int(sys.argv[2])):
        if i % 3 == 2:
            await c.set_many({f"o{i}-{j}": i for j in range(4)})
        else:
            await c.set(f"o{i}", i)
        print(i, flush=True)
    await db.close()
asyncio.run(main())
"""


async def test_another_process_writes_while_auto_compactions_carry(
    tmp_path: Path, carries: list[bool]
) -> None:
    path = tmp_path / "db"
    db = AsyncJSONDB(path, cache_ttl=0, **TINY)
    c = await db.get_collection("c")
    await c.set_many({f"seed{i}": "s" * 100 for i in range(300)})
    other = await asyncio.create_subprocess_exec(
        sys.executable, "-c", OTHER, str(path), "150", cwd=ROOT, stdout=subprocess.PIPE
    )
    model: dict[str, Any] = {f"seed{i}": "s" * 100 for i in range(300)}
    mine = 0
    assert other.stdout is not None
    while True:
        line = await asyncio.wait_for(other.stdout.readline(), 30)
        if not line:
            break
        i = int(line)  # acknowledged in the other process: a read starting now must see it
        if i % 3 == 2:
            want = {f"o{i}-{j}": i for j in range(4)}
            assert await c.get_many(list(want)) == want
            model.update(want)
        else:
            assert await c.get(f"o{i}") == i
            model[f"o{i}"] = i
        await c.set(f"m{mine}", mine)
        model[f"m{mine}"] = mine
        mine += 1
    assert await other.wait() == 0
    assert dict(await c.items()) == model
    await db.close()
    assert fresh_read(path)["c"] == model


# -- 3. set_many, delete_many, clear, drop, unique index racing the render -------------------


@pytest.mark.parametrize("stage", STAGES)
@pytest.mark.parametrize("operation", ["set_many", "delete_many", "clear", "drop", "unique"])
async def test_operation_during_the_automatic_render(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, operation: str, stage: str
) -> None:
    path = tmp_path / "db"
    db = AsyncJSONDB(path, cache_ttl=0, auto_compact=False)
    c = await db.get_collection("c")
    model: dict[str, Any] = {f"k{i}": {"n": i} for i in range(100)}
    await c.set_many(model)
    await db.close()
    started, go = paused_render(monkeypatch)
    db = AsyncJSONDB(path, cache_ttl=0, **TINY)
    c = await db.get_collection("c")
    await c.set(
        "trigger", {"n": -1, "pad": "t" * 100}
    )  # the journal outgrows the minimum: a job starts
    model["trigger"] = {"n": -1, "pad": "t" * 100}
    await wait_for(started)
    # Writes go on while the job renders: the carry must take every one of them.
    if operation == "set_many":
        new = {f"new{i}": {"n": 1000 + i} for i in range(50)}
        assert await c.set_many(new) == 50
        model.update(new)
    elif operation == "delete_many":
        gone = [f"k{i}" for i in range(0, 100, 2)]
        assert await c.delete_many(gone) == 50
        for key in gone:
            del model[key]
    elif operation == "clear":
        await c.clear()
        model.clear()
        await c.set("after", {"n": 1})
        model["after"] = {"n": 1}
    elif operation == "drop":
        assert await db.drop_collection("c")
        model.clear()
        c = await db.get_collection("c")
        await c.set("after", {"n": 1})
        model["after"] = {"n": 1}
    else:
        assert await c.create_index("n", unique=True)
        with pytest.raises(DatabaseError):
            await c.set("dup", {"n": 5})
    for i in range(5):
        await c.set(f"late{i}", {"n": 2000 + i})
        model[f"late{i}"] = {"n": 2000 + i}
    assert dict(await c.items()) == model
    go.set()
    queue: CommitQueue = c._backend._commits  # type: ignore[attr-defined]
    while queue._compacting:
        await asyncio.sleep(0.01)
    assert dict(await c.items()) == model
    if operation == "unique":
        with pytest.raises(DatabaseError):
            await c.set("dup", {"n": 7})
    await db.close()
    assert fresh_read(path)["c"] == model
    assert not [p for p in check_folder(str(path))]


# -- 4. close while an automatic compaction job is queued or running -------------------------


@pytest.mark.parametrize("where", ["queued", "rendering"])
async def test_close_during_an_automatic_compaction(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    path = tmp_path / "db"
    before = open_descriptors()
    go, job_done = threading.Event(), threading.Event()
    if where == "queued":
        real_job = CommitQueue._compact_job

        def late_job(self: CommitQueue) -> None:
            try:
                assert go.wait(30)
                real_job(self)
            finally:
                job_done.set()

        monkeypatch.setattr(CommitQueue, "_compact_job", late_job)
        started = threading.Event()
    else:
        started, go = paused_render(monkeypatch)
    db = AsyncJSONDB(path, cache_ttl=0, **TINY)
    c = await db.get_collection("c")
    model = {f"k{i}": i for i in range(200)}
    await c.set_many(model)
    for i in range(20):
        await c.set(f"x{i}", i)
        model[f"x{i}"] = i
    if where == "rendering":
        await wait_for(started)
        closing = asyncio.ensure_future(db.close())
        await asyncio.sleep(0.05)
        go.set()
        await asyncio.wait_for(closing, 30)
    else:
        await asyncio.wait_for(db.close(), 30)
        go.set()
        await asyncio.to_thread(job_done.wait, 30)
    await asyncio.sleep(0.05)
    assert open_descriptors() - before == set()
    assert fresh_read(path)["c"] == model
    assert not check_folder(str(path))


# -- 5. SIGKILL of a writer whose automatic compactions run constantly -----------------------

KILLED_WRITER = """
import asyncio, json, os, random, sys
from asyncjsondb import AsyncJSONDB
from asyncjsondb.backends.files import compaction
compaction.OFF_LOCK_MIN_BYTES = 0
log = os.open(sys.argv[2], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
def note(**entry):
    os.write(log, (json.dumps(entry) + "\\n").encode())
async def main():
    tag, rng = sys.argv[3], random.Random(sys.argv[3])
    db = AsyncJSONDB(sys.argv[1], compact_min_bytes=64, compact_ratio=0.0)
    c = await db.get_collection("c")
    batches = []
    for i in range(100000):
        op = rng.random()
        if op < 0.5:
            keys = [f"{tag}-s{i}"]
        elif op < 0.8 or not batches:
            keys = [f"{tag}-b{i}-{j}" for j in range(rng.randrange(2, 6))]
        else:
            keys = batches.pop(0)
            note(t="intent", op="del", keys=keys)
            await c.delete_many(keys)
            note(t="ack", op="del", keys=keys)
            continue
        note(t="intent", op="set", keys=keys)
        await c.set_many({k: {"k": k, "pad": "p" * 50} for k in keys})
        note(t="ack", op="set", keys=keys)
        if len(keys) > 1:
            batches.append(keys)
asyncio.run(main())
"""


def _entries(log: Path) -> list[dict[str, Any]]:
    text = log.read_text() if log.exists() else ""
    return [json.loads(line) for line in text.splitlines(keepends=True) if line.endswith("\n")]


def _acks_seen(log: Path) -> int:
    return sum(1 for entry in _entries(log) if entry["t"] == "ack")


@pytest.mark.parametrize("seed", SEEDS)
def test_sigkill_during_automatic_compactions_loses_no_acknowledged_write(
    tmp_path: Path, seed: int
) -> None:
    path, log = tmp_path / "db", tmp_path / "log"
    rng = random.Random(seed)
    for round_ in range(KILL_ROUNDS):
        writer = subprocess.Popen(
            [sys.executable, "-c", KILLED_WRITER, str(path), str(log), f"r{seed}x{round_}"],
            cwd=ROOT,
        )
        start = _acks_seen(log)
        try:
            for _ in range(2000):
                if _acks_seen(log) > start:
                    break
                assert writer.poll() is None, "the writer died by itself"
                time.sleep(0.01)
            time.sleep(rng.uniform(0.0, 0.5))  # a random moment, often mid-compaction
        finally:
            writer.send_signal(signal.SIGKILL)
            writer.wait()
        assert all(repairable for _, repairable in check_folder(str(path)))
        found = fresh_read(path).get("c", {})
        _check_against_log(found, _entries(log))


def _check_against_log(found: dict[str, Any], entries: list[dict[str, Any]]) -> None:
    """Acknowledged batches whole; an unacknowledged one whole or absent; nothing invented."""
    state: dict[str, bool | None] = {}  # batch -> present (True), absent (False), either (None)
    last: dict[tuple[str, str], str] = {}
    for entry in entries:
        batch = ",".join(entry["keys"])
        last[(entry["op"], batch)] = entry["t"]
        if entry["t"] == "ack":
            state[batch] = entry["op"] == "set"
        elif entry["op"] == "set":
            state.setdefault(batch, None)
        else:
            state[batch] = None
    written: set[str] = set()
    for batch, present in state.items():
        keys = batch.split(",")
        written.update(keys)
        there = [k in found for k in keys]
        assert all(there) or not any(there), f"batch half there: {batch} {there}"
        if present is not None:
            assert there[0] == present, (batch, present, last)
        for key in keys:
            if key in found:
                assert found[key]["k"] == key
    assert set(found) <= written, set(found) - written


# -- 6. fork while the automatic compaction renders --------------------------------------------


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork")
async def test_fork_while_the_automatic_compaction_renders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, carries: list[bool]
) -> None:
    path = tmp_path / "db"
    started, go = paused_render(monkeypatch)
    db = AsyncJSONDB(path, cache_ttl=0, **TINY)
    c = await db.get_collection("c")
    model: dict[str, Any] = {f"k{i}": "v" * 50 for i in range(100)}
    await c.set_many(model)
    await wait_for(started)
    pid = os.fork()
    if pid == 0:  # the child writes through the inherited object, on a loop of its own
        code = 1
        try:

            async def child() -> None:
                cc = await db.get_collection("c")
                await cc.set("child", 1)
                await cc.set_many({"cb1": 1, "cb2": 2})
                assert await cc.get("k5") == "v" * 50

            asyncio.run(child())
            code = 0
        finally:
            os._exit(code)
    _, status = await asyncio.to_thread(os.waitpid, pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    model.update({"child": 1, "cb1": 1, "cb2": 2})
    assert dict(await c.items()) == model  # another process's acknowledged writes are seen
    await c.set("parent", 2)
    model["parent"] = 2
    go.set()
    queue: CommitQueue = c._backend._commits  # type: ignore[attr-defined]
    while queue._compacting:
        await asyncio.sleep(0.01)
    assert dict(await c.items()) == model
    await db.close()
    assert fresh_read(path)["c"] == model
    assert any(carries), "the child's records were not carried ahead"

"""Compaction off the locks: a child process renders the new ``<name>.json`` while writers go on,
and the swap carries their records into ``.<name>.journal.next``, then ``<name>.journal``.

The threshold is 0 here, so that a few records take the child's path. The I/O-error and
crash-point loops attack the swap itself (``compact_off_lock`` in ``attack_scenarios``); these
tests attack what the loops cannot: the child dying at each of its calls, the parent dying while
the child runs, two processes compacting at once, and readers meanwhile.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import pytest

from asyncjsondb import AsyncJSONDB, DatabaseError, StorageError
from asyncjsondb.backends.files import atomic, compaction, layout, rewrite
from tests.attack_scenarios import check_folder, read_view_afresh

pytestmark = pytest.mark.timeout(60)
RECORDS = {f"k{i}": {"v": i} for i in range(50)}


@pytest.fixture(autouse=True)
def off_lock_always(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(compaction, "OFF_LOCK_MIN_BYTES", 0)


@pytest.fixture(scope="module")
def fresh() -> Iterator[ProcessPoolExecutor]:
    """A process that has never opened the folders it reads."""
    with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
        yield pool


def while_rendering(monkeypatch: pytest.MonkeyPatch, action: Callable[[], Any]) -> list[Any]:
    """Run ``action`` in the compacting thread after the first capture, off the locks, before
    the child starts; return what it returned."""
    real, seen = rewrite.render, []

    def render(taken: rewrite.Capture) -> tuple[Path, int]:
        if not seen:
            seen.append(action())
        return real(taken)

    monkeypatch.setattr(rewrite, "render", render)
    return seen


async def seeded(path: Path) -> AsyncJSONDB:
    db = AsyncJSONDB(path, cache_ttl=0, auto_compact=False)
    c = await db.get_collection("c")
    await c.set_many(RECORDS)
    threshold, compaction.OFF_LOCK_MIN_BYTES = compaction.OFF_LOCK_MIN_BYTES, 1 << 62
    try:
        await db.compact()  # under the locks: only the compaction under test spawns a child
    finally:
        compaction.OFF_LOCK_MIN_BYTES = threshold
    await c.set("journaled", 1)
    return db


def other_process_sets(path: Path, key: str) -> None:
    """Another process writes ``key`` and exits once it is acknowledged, without closing (a
    close would fold the journal, and the compaction here would start over)."""
    code = (
        "import asyncio, os, sys\nfrom asyncjsondb import AsyncJSONDB\n"
        "async def main():\n"
        "    db = AsyncJSONDB(sys.argv[1], auto_compact=False)\n"
        "    await (await db.get_collection('c')).set(sys.argv[2], 7)\n"
        "    os._exit(0)\n"
        "asyncio.run(main())\n"
    )
    subprocess.run([sys.executable, "-c", code, str(path), key], check=True, timeout=30)


async def test_writes_during_the_render_are_carried_and_survive(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh: ProcessPoolExecutor
) -> None:
    path = tmp_path / "db"
    db = await seeded(path)
    c = await db.get_collection("c")
    loop = asyncio.get_running_loop()

    def write_here_and_elsewhere() -> None:
        asyncio.run_coroutine_threadsafe(c.set("here", 1), loop).result()
        other_process_sets(path, "elsewhere")

    while_rendering(monkeypatch, write_here_and_elsewhere)
    assert await db.compact() == ["c"]
    carried = (path / "c.journal").read_bytes()
    assert b'"here"' in carried and b'"elsewhere"' in carried  # the rest went into c.json
    assert b'"journaled"' not in carried and b'"journaled"' in (path / "c.json").read_bytes()
    expected = {**RECORDS, "journaled": 1, "here": 1, "elsewhere": 7}
    assert dict(await c.items()) == expected
    await c.set("after", 2)  # appends to the carried journal
    await db.close()
    assert fresh.submit(read_view_afresh, str(path)).result() == {"c": {**expected, "after": 2}}
    assert fresh.submit(check_folder, str(path)).result() == []
    assert sorted(p.name for p in path.iterdir() if "journal" in p.name) == []  # closed: folded


async def test_reads_during_the_render_see_every_acknowledged_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "db"
    db = await seeded(path)
    reader = AsyncJSONDB(path, cache_ttl=0)
    c = await reader.get_collection("c")
    loop = asyncio.get_running_loop()

    def write_then_read() -> Any:
        other_process_sets(path, "elsewhere")
        return asyncio.run_coroutine_threadsafe(c.items(), loop).result()

    seen = while_rendering(monkeypatch, write_then_read)
    await db.compact()
    expected = {**RECORDS, "journaled": 1, "elsewhere": 7}
    assert [dict(items) for items in seen] == [expected]
    assert dict(await c.items()) == expected
    await reader.close()
    await db.close()


def child_calls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The OS calls the child makes for ``seeded``'s collection, counted in a real run."""
    calls = tmp_path / "calls"
    monkeypatch.setattr(rewrite, "CHILD_MODULE", "tests.rewrite_child")
    monkeypatch.setenv("REWRITE_CHILD_CALLS", str(calls))

    async def run() -> None:
        db = await seeded(tmp_path / "count")
        await db.compact()
        await db.close()

    asyncio.run(run())
    monkeypatch.delenv("REWRITE_CHILD_CALLS")
    return calls.read_text().split()


def test_the_child_killed_at_any_call_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(Path(__file__).parent.parent)  # where ``python -m tests...`` finds it
    calls = child_calls(tmp_path, monkeypatch)
    assert calls.count("os.fdatasync") >= 3  # a sync every 256 bytes: several steps
    for n in range(1, len(calls) + 1):
        path = tmp_path / f"db{n}"

        async def attack(path: Path = path, n: int = n) -> None:
            db = await seeded(path)
            monkeypatch.setenv("REWRITE_CHILD_KILL_AT", str(n))
            before = sorted(os.listdir(path))
            with pytest.raises(StorageError, match="exited with -9"):
                await db.compact()
            assert sorted(os.listdir(path)) == before  # the temp file went too
            c = await db.get_collection("c")
            assert dict(await c.items()) == {**RECORDS, "journaled": 1}
            monkeypatch.delenv("REWRITE_CHILD_KILL_AT")
            await c.set("later", 1)  # the collection is usable
            await db.close()

        asyncio.run(attack())
        assert read_view_afresh(str(path)) == {"c": {**RECORDS, "journaled": 1, "later": 1}}


PARENT = """
import asyncio, sys
from pathlib import Path
from asyncjsondb import AsyncJSONDB
from asyncjsondb.backends.files import compaction, rewrite
compaction.OFF_LOCK_MIN_BYTES = 0
rewrite.CHILD_MODULE = "tests.rewrite_child"

async def main(path, child_pid):
    db = AsyncJSONDB(path, auto_compact=False)
    c = await db.get_collection("c")
    await c.set_many({f"k{i}": i for i in range(50)})
    task = asyncio.create_task(db.compact())
    while not child_pid.exists():
        await asyncio.sleep(0.01)
    await c.set("during", 1)
    Path(path, "..", "acknowledged").write_text("yes")
    await task

asyncio.run(main(sys.argv[1], Path(sys.argv[2])))
"""


def test_the_parent_killed_while_the_child_renders_loses_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh: ProcessPoolExecutor
) -> None:
    path, child_pid, go = tmp_path / "db", tmp_path / "child.pid", tmp_path / "go"
    env = {**os.environ, "REWRITE_CHILD_PID": str(child_pid), "REWRITE_CHILD_WAIT_FOR": str(go)}
    root = Path(__file__).parent.parent
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, str(path), str(child_pid)], env=env, cwd=root
    )
    try:
        while not (tmp_path / "acknowledged").exists():
            assert parent.poll() is None, "the parent ended before its write was acknowledged"
            time.sleep(0.01)
        (temp,) = [p for p in path.iterdir() if atomic.written_by_temp(p.name)]
        assert atomic.is_claimed(temp)
        assert fresh.submit(check_folder, str(path)).result() == []  # a live temp is no damage
    finally:
        parent.send_signal(signal.SIGKILL)
        parent.wait()
    go.write_text("go")  # the orphaned child goes on, sees its parent gone, and exits
    while atomic.is_claimed(temp):
        time.sleep(0.01)
    expected = {"c": {**{f"k{i}": i for i in range(50)}, "during": 1}}
    assert fresh.submit(read_view_afresh, str(path)).result() == expected
    assert not temp.exists()  # the fresh process settled it


def compact_in_a_process(path: str) -> list[str]:
    """``compact`` through the child, in a process of its own (run in a worker process)."""
    compaction.OFF_LOCK_MIN_BYTES = 0
    rewrite.CHILD_MODULE = "tests.rewrite_child"

    async def run() -> list[str]:
        async with AsyncJSONDB(path, auto_compact=False) as db:
            c = await db.get_collection("c")
            await c.set(f"from{os.getpid()}", os.getpid())
            done = await db.compact()
            await c.set(f"after{os.getpid()}", 1)
            return done

    return asyncio.run(run())


def test_processes_compacting_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Four processes capture the same files; their children wait until all four have started,
    so every swap but the first finds the files changed, and renders again."""
    path, started, go = tmp_path / "db", tmp_path / "started", tmp_path / "go"
    started.mkdir()

    async def seed() -> None:
        await (await seeded(path)).close()

    asyncio.run(seed())
    monkeypatch.chdir(Path(__file__).parent.parent)
    monkeypatch.setenv("REWRITE_CHILD_PID", str(started))
    monkeypatch.setenv("REWRITE_CHILD_WAIT_FOR", str(go))
    with ProcessPoolExecutor(4, mp_context=get_context("spawn")) as pool:
        running = pool.map(compact_in_a_process, [str(path)] * 4)
        while len(list(started.iterdir())) < 4:
            time.sleep(0.01)
        go.write_text("go")
        results = list(running)
        assert all(done in (["c"], []) for done in results)
        view = pool.submit(read_view_afresh, str(path)).result()
    pids = {int(key[4:]) for key in view["c"] if key.startswith("from")}
    assert len(pids) == 4 and all(f"after{pid}" in view["c"] for pid in pids)
    assert {k: v for k, v in view["c"].items() if k in RECORDS} == RECORDS
    assert check_folder(str(path)) == []


async def test_an_automatic_compaction_skips_while_one_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "db"
    db = await seeded(path)
    store = (await db.get_collection("c"))._backend._store  # type: ignore[attr-defined]
    seen = while_rendering(monkeypatch, lambda: compaction.compact(store, wait=False))
    assert await db.compact() == ["c"]
    assert seen == [False]  # the automatic one skips while one runs
    await db.close()


def settle(path: Path, files: dict[str, bytes]) -> tuple[list[str], dict[str, bytes]]:
    path.mkdir()
    for name, content in files.items():
        (path / name).write_bytes(content)
    done = layout.settle_leftovers(layout.CollectionFiles(path, "c"))
    return done, {p.name: p.read_bytes() for p in sorted(path.iterdir())}


@pytest.mark.parametrize(
    ("files", "after"),
    [
        # crashed before the journal's rename: the new files go, the journal holds everything
        (
            {
                "c.json": b"old",
                "c.journal": b"j",
                ".c.json.compacting": b"new",
                ".c.journal.next": b"n",
            },
            {"c.json": b"old", "c.journal": b"j"},
        ),
        (
            {"c.json": b"old", "c.journal": b"j", ".c.journal.next": b"n"},
            {"c.json": b"old", "c.journal": b"j"},
        ),
        # after it: the new snapshot, then the carried journal, go in place
        (
            {
                "c.json": b"old",
                ".c.journal.folded": b"j",
                ".c.json.compacting": b"new",
                ".c.journal.next": b"n",
            },
            {"c.json": b"new", "c.journal": b"n"},
        ),
        (
            {"c.json": b"new", ".c.journal.folded": b"j", ".c.journal.next": b"n"},
            {"c.json": b"new", "c.journal": b"n"},
        ),
        (
            {"c.json": b"new", ".c.journal.folded": b"j", "c.journal": b"n"},
            {"c.json": b"new", "c.journal": b"n"},
        ),
    ],
)
def test_settling_each_state_of_the_swap(
    tmp_path: Path, files: dict[str, bytes], after: dict[str, bytes]
) -> None:
    assert settle(tmp_path / "db", files)[1] == after


def test_a_carried_journal_beside_a_newer_one_is_left_for_a_human(tmp_path: Path) -> None:
    files = {
        "c.json": b"new",
        ".c.journal.folded": b"j",
        ".c.journal.next": b"n",
        "c.journal": b"x",
    }
    with pytest.raises(DatabaseError, match="carried journal"):
        settle(tmp_path / "db", files)


def test_a_claimed_temp_file_is_no_leftover(tmp_path: Path) -> None:
    paths = layout.CollectionFiles(tmp_path, "c")
    temp, fd = atomic.create_claimed_temp(paths.compacting)
    assert layout.find_leftovers(paths) == []
    assert layout.settle_leftovers(paths) == [] and temp.exists()
    os.close(fd)
    assert layout.find_leftovers(paths) == [temp]


def test_check_leaves_a_conflicting_carried_journal_to_a_human(tmp_path: Path) -> None:
    path = tmp_path / "db"
    path.mkdir()
    files = {"c.json": b"{}\n", ".c.journal.folded": b"", ".c.journal.next": b"", "c.journal": b""}
    for name, content in files.items():
        (path / name).write_bytes(content)
    problems = check_folder(str(path))
    assert (str(path / ".c.journal.next"), False) in [(t.split(":")[0], r) for t, r in problems]


# -- the carried records are copied ahead, off the locks (``compaction._carry_ahead``) -----------


async def seeded_with_a_set_while_rendering(
    path: Path, monkeypatch: pytest.MonkeyPatch, value: Any
) -> tuple[AsyncJSONDB, Any]:
    """``seeded``, and ``c["here"] = value`` set by this process while the child renders."""
    db = await seeded(path)
    c = await db.get_collection("c")
    loop = asyncio.get_running_loop()
    while_rendering(
        monkeypatch, lambda: asyncio.run_coroutine_threadsafe(c.set("here", value), loop).result()
    )
    return db, c


async def test_the_swap_writes_only_the_records_appended_since_the_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh: ProcessPoolExecutor
) -> None:
    path = tmp_path / "db"
    db, _ = await seeded_with_a_set_while_rendering(path, monkeypatch, 1)
    real_carry, written_under_locks = compaction._carry_ahead, []

    def carry_then_write_elsewhere(taken: rewrite.Capture) -> Any:
        carry = real_carry(taken)  # holds "here", appended by this process
        other_process_sets(path, "elsewhere")  # appended after the copy
        return carry

    def write_all_at(fd: int, payload: bytes, offset: int) -> None:
        written_under_locks.append(payload)
        real_write_all_at(fd, payload, offset)

    real_write_all_at = rewrite.write_all_at
    monkeypatch.setattr(compaction, "_carry_ahead", carry_then_write_elsewhere)
    monkeypatch.setattr(rewrite, "write_all_at", write_all_at)
    assert await db.compact() == ["c"]
    assert len(written_under_locks) == 1
    assert b'"elsewhere"' in written_under_locks[0] and b'"here"' not in written_under_locks[0]
    journal_bytes = (path / "c.journal").read_bytes()
    assert journal_bytes.index(b'"here"') < journal_bytes.index(b'"elsewhere"')
    assert journal_bytes.endswith(b"\0" * 4096)  # zeros ahead: appends overwrite, not grow
    expected = {**RECORDS, "journaled": 1, "here": 1, "elsewhere": 7}
    await db.close()
    assert fresh.submit(read_view_afresh, str(path)).result() == {"c": expected}
    assert fresh.submit(check_folder, str(path)).result() == []


async def test_a_copy_the_journal_no_longer_holds_is_not_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh: ProcessPoolExecutor
) -> None:
    """As after an append copied ahead, then cut back (its fsync failed): the swap writes the
    records the journal holds, and the stale copy goes."""
    path = tmp_path / "db"
    db, c = await seeded_with_a_set_while_rendering(path, monkeypatch, "x" * 40)
    real_carry = compaction._carry_ahead
    undone, staled = b'00000000s7:"undone"1\n', []

    def stale_carry(taken: rewrite.Capture) -> Any:
        carry = real_carry(taken)
        if carry is None:  # the fold at close: nothing appended meanwhile
            return None
        staled.append(carry)
        os.pwrite(carry.fd, undone, 0)
        carry.copied = undone + carry.copied[len(undone) :]
        return carry

    monkeypatch.setattr(compaction, "_carry_ahead", stale_carry)
    assert await db.compact() == ["c"]
    assert len(staled) == 1
    assert b"undone" not in (path / "c.journal").read_bytes()
    assert [p.name for p in path.iterdir() if atomic.TEMP_MARKER in p.name] == []
    expected = {**RECORDS, "journaled": 1, "here": "x" * 40}
    assert dict(await c.items()) == expected
    await db.close()
    assert fresh.submit(read_view_afresh, str(path)).result() == {"c": expected}


@pytest.mark.parametrize("failing", ["pread", "write", "fsync"])
async def test_a_copy_that_fails_leaves_the_swap_to_write_everything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh: ProcessPoolExecutor, failing: str
) -> None:
    path = tmp_path / "db"
    db, _ = await seeded_with_a_set_while_rendering(path, monkeypatch, 1)
    real_carry, real_call = compaction._carry_ahead, getattr(os, failing)
    copying: list[bool] = []
    failed: list[str] = []

    def failing_call(*args: Any) -> Any:
        if copying:
            failed.append(failing)
            raise OSError(5, "injected")
        return real_call(*args)

    def carry_with_a_failure(taken: rewrite.Capture) -> Any:
        copying.append(True)
        try:
            return real_carry(taken)
        finally:
            copying.clear()

    monkeypatch.setattr(os, failing, failing_call)
    monkeypatch.setattr(compaction, "_carry_ahead", carry_with_a_failure)
    assert await db.compact() == ["c"]
    assert failed == [failing]  # the copy failed, and the swap wrote the records itself
    assert [p.name for p in path.iterdir() if atomic.TEMP_MARKER in p.name] == []
    carried = (path / "c.journal").read_bytes()
    assert b'"here"' in carried and carried.endswith(b"\0" * 4096)
    expected = {**RECORDS, "journaled": 1, "here": 1}
    await db.close()
    assert fresh.submit(read_view_afresh, str(path)).result() == {"c": expected}


PARENT_OF_A_CHILD = """
import os, subprocess, sys
child = subprocess.Popen([sys.executable, "-c", sys.argv[1], str(os.getpid())])
print(child.pid, flush=True)
child.wait()
"""
RENDERING_CHILD = """
import sys, time
from asyncjsondb.backends.files import rewrite

def fold(*args):  # a render as long as a large collection's: it stops here
    print("rendering", flush=True)  # to the parent's stdout: the test's pipe
    time.sleep(60)

rewrite.fold = fold
rewrite.main(["-1", "-1", "-1", "0", sys.argv[1], "unused"])
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_the_rendering_child_dies_with_its_parent() -> None:
    """A writer killed mid-compaction takes its child along at once: the child's claim on its
    temp file would otherwise keep the next open from removing it until the child's next sync."""
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT_OF_A_CHILD, RENDERING_CHILD], stdout=subprocess.PIPE
    )
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    assert parent.stdout.readline() == b"rendering\n"  # ``main`` got past ``_die_with``
    parent.kill()
    parent.wait(10)
    parent.stdout.close()
    deadline = time.monotonic() + 10
    while _alive(child):
        assert time.monotonic() < deadline, "the child outlived its parent"
        time.sleep(0.01)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as stat:  # a dead orphan waits as a zombie for init
            return stat.read().split(") ")[1][0] != "Z"
    except FileNotFoundError:  # reaped meanwhile
        return False

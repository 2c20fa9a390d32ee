"""Review findings held by tests: corrupt files stay refused, a fork drops the parent's lock,
an interrupted compaction or restore is finished or undone at the next open."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from asyncjsondb import AsyncJSONDB, CorruptFileError, StorageError
from asyncjsondb.check import check_database


async def test_a_file_corrupted_while_open_is_refused_every_time_and_kept(db_path: Path) -> None:
    db = AsyncJSONDB(db_path, cache_ttl=0)
    c = await db.get_collection("c")
    await c.set("a", 1)
    await db.compact()
    garbage = b'{"a": 1,,,'
    (db_path / "c.json").write_bytes(garbage)
    for call in (c.get("a"), c.get("a"), c.set("b", 2), c.count()):
        with pytest.raises(CorruptFileError, match=r"c\.json"):
            await call
    await db.close()
    assert (db_path / "c.json").read_bytes() == garbage


@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
async def test_a_forked_child_does_not_keep_the_parents_lock(db_path: Path) -> None:
    db = AsyncJSONDB(db_path)
    c = await db.get_collection("c")
    await c.set("a", 1)
    lock_fd = c._backend._store.plock._fd  # type: ignore[attr-defined]
    assert lock_fd is not None
    pid = os.fork()
    if pid == 0:  # the child: the inherited copy of the lock's descriptor must be closed
        try:
            os.fstat(lock_fd)
        except OSError as exc:
            os._exit(0 if exc.errno == errno.EBADF else 2)
        os._exit(1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    await db.close()


CRASHING_COMPACTION = textwrap.dedent(
    """
    import asyncio, os, sys
    from asyncjsondb import AsyncJSONDB

    crash_after = int(sys.argv[2])  # crash right after this os.replace of the last compaction
    real_replace = os.replace

    async def main():
        db = AsyncJSONDB(sys.argv[1], auto_compact=False)
        c = await db.get_collection("c")
        await c.set_many({"a": 1, "b": 2})
        await db.compact()
        await c.delete("a")
        await c.set("a", 3)  # 'a' moves to the end...
        await c.set("c", 4)  # ...before 'c': the order a replay would get wrong is b, c, a
        calls = 0

        def replace(source, target):
            nonlocal calls
            real_replace(source, target)
            calls += 1
            if calls == crash_after:
                os._exit(0)

        os.replace = replace
        await db.compact()

    asyncio.run(main())
    """
)


@pytest.mark.parametrize("crash_after", [1, 2, 3])
async def test_a_compaction_interrupted_at_any_step_keeps_values_and_order(
    db_path: Path, crash_after: int
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", CRASHING_COMPACTION, str(db_path), str(crash_after)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    async with AsyncJSONDB(db_path) as db:
        assert await (await db.get_collection("c")).items() == [("b", 2), ("a", 3), ("c", 4)]
    assert json.loads((db_path / "c.json").read_text()) == {"b": 2, "a": 3, "c": 4}
    assert {p.name for p in db_path.iterdir()} == {"c.json", ".c.lock", ".c.changes"}


async def test_a_restore_that_fails_part_way_changes_nothing(
    db_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = AsyncJSONDB(db_path)
    await (await db.get_collection("a")).set("k", "backup")
    await (await db.get_collection("b")).set("k", "backup")
    await db.backup(tmp_path / "b")
    await (await db.get_collection("a")).set("k", "now")
    await (await db.get_collection("b")).set("k", "now")
    real_open = os.open
    opened = {"staged": 0}

    def disk_full_on_the_second(path: object, flags: int, *args: object) -> int:
        if ".json.restoring" in str(path):
            opened["staged"] += 1
            if opened["staged"] == 2:
                raise OSError(errno.ENOSPC, "No space left on device")
        return real_open(path, flags, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "open", disk_full_on_the_second)
    with pytest.raises(StorageError, match="No space left"):
        await db.restore(tmp_path / "b")
    monkeypatch.undo()
    assert await (await db.get_collection("a")).get("k") == "now"
    assert await (await db.get_collection("b")).get("k") == "now"
    assert not [p for p in db_path.iterdir() if "restoring" in p.name]
    await db.close()
    async with AsyncJSONDB(db_path) as again:
        assert await (await again.get_collection("a")).get("k") == "now"


@pytest.mark.parametrize("decided", [False, True], ids=["before-deciding", "after-deciding"])
async def test_an_interrupted_drop_is_undone_or_finished_and_check_agrees(
    db_path: Path, decided: bool
) -> None:
    async with AsyncJSONDB(db_path) as db:
        c = await db.get_collection("c")
        await c.set("folded", 1)
        await db.compact()
        await c.set("journaled", 2)
        folded = (db_path / "c.json").read_bytes()
        journal = (db_path / "c.journal").read_bytes()
    # the folder as a drop leaves it after setting the journal aside (and deleting c.json)
    (db_path / "c.json").write_bytes(folded)
    (db_path / ".c.journal.dropped").write_bytes(journal)
    if decided:
        (db_path / "c.json").unlink()
    report = check_database(db_path)
    assert [(p.path.name, p.repairable) for p in report.problems] == [(".c.journal.dropped", True)]
    async with AsyncJSONDB(db_path) as db:
        assert await db.list_collections() == ([] if decided else ["c"])
        items = await (await db.get_collection("c")).items()
        assert items == ([] if decided else [("folded", 1), ("journaled", 2)])
    assert not (db_path / ".c.journal.dropped").exists()


CRASH_AFTER_SETTING_THE_JOURNAL_ASIDE = textwrap.dedent(
    """
    import asyncio, os, sys
    from asyncjsondb import AsyncJSONDB

    aside = sys.argv[2]  # the leftover name a compaction or a drop renames the journal to
    real_replace = os.replace

    def replace(source, target):
        real_replace(source, target)
        if str(target).endswith(aside):
            os._exit(0)

    async def main():
        db = AsyncJSONDB(sys.argv[1], auto_compact=False)
        c = await db.get_collection("c")
        await c.set("a", 1)
        os.replace = replace
        await (db.compact() if aside == ".folded" else db.drop_collection("c"))

    asyncio.run(main())
    """
)


@pytest.mark.parametrize("aside", [".folded", ".dropped"], ids=["compaction", "drop"])
async def test_a_process_with_no_journal_open_sees_another_ones_interrupted_rename(
    db_path: Path, aside: str
) -> None:
    db = AsyncJSONDB(db_path, cache_ttl=0, auto_compact=False)
    c = await db.get_collection("c")
    await c.set("x", 0)
    await db.compact()  # this process now has no journal open
    done = subprocess.run(
        [sys.executable, "-c", CRASH_AFTER_SETTING_THE_JOURNAL_ASIDE, str(db_path), aside],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert any(p.name.endswith(aside) for p in db_path.iterdir())
    assert await c.get("a") == 1  # the other process's acknowledged write
    await c.set("b", 2)
    await db.close()
    async with AsyncJSONDB(db_path) as again:
        assert await (await again.get_collection("c")).items() == [("x", 0), ("a", 1), ("b", 2)]


async def test_an_interrupted_drops_journal_never_overwrites_a_newer_one(db_path: Path) -> None:
    async with AsyncJSONDB(db_path) as db:
        c = await db.get_collection("c")
        await c.set("old", 1)
        await db.compact()
        await c.set("set-aside", 2)
        newer = (db_path / "c.journal").read_bytes()
    (db_path / ".c.journal.dropped").write_bytes(newer)  # a drop set it aside, then crashed...
    (db_path / "c.journal").write_bytes(newer)  # ...and a writer that missed it made a new one
    async with AsyncJSONDB(db_path) as db:
        with pytest.raises(CorruptFileError, match=r"\.c\.journal\.dropped.*c\.journal"):
            await (await db.get_collection("c")).get("old")
    report = check_database(db_path, repair=True)
    assert [(p.path.name, p.repairable) for p in report.problems] == [(".c.journal.dropped", False)]
    assert (db_path / "c.journal").read_bytes() == newer
    assert (db_path / ".c.journal.dropped").exists()

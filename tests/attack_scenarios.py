"""The mutating operations the I/O-error and crash-point loops attack, and what each must leave.

Every attack starts from the same folder: collection ``c`` with two records in ``c.json`` and a
third only in its journal, and collection ``d`` folded. ``prepare`` builds it (acknowledged
before the attack begins), ``run`` is the operation attacked, ``expect`` maps the view before it to
the view after it. A view is ``{collection: {key: value}}``, read through the public API only.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from asyncjsondb import AsyncJSONDB

View = dict[str, dict[str, Any]]

FOLDED = {"a": {"v": 1}, "b": {"v": 2}}
JOURNALED = {"c": 3}
OTHER = {"x": [1, 2]}
BACKED_UP: View = {"c": {"r": 1}, "e": {"y": 2}}
BEFORE: View = {"c": {**FOLDED, **JOURNALED}, "d": OTHER}


async def read_view(db: AsyncJSONDB) -> View:
    view: View = {}
    for name in await db.list_collections():
        view[name] = dict(await (await db.get_collection(name)).items())
    return view


def read_view_afresh(path: str) -> View:
    """What a process that has never seen the folder reads from it (run in a worker process)."""

    async def read() -> View:
        # A lock still held by the attacked process shows as a LockTimeoutError, soon.
        async with AsyncJSONDB(path, cache_ttl=0, lock_timeout=0.2) as db:
            return await read_view(db)

    return asyncio.run(read())


def check_folder(path: str) -> list[tuple[str, bool]]:
    """The consistency checker's findings on ``path``, without repairing: (text, repairable)."""
    from asyncjsondb.check import check_database  # the one place a test names the checker

    return [(str(p), p.repairable) for p in check_database(path).problems]


async def seed(path: Path) -> AsyncJSONDB:
    db = AsyncJSONDB(path, cache_ttl=3600)
    c = await db.get_collection("c")
    await c.set_many(FOLDED)
    await (await db.get_collection("d")).set_many(OTHER)
    await db.compact()
    for key, value in JOURNALED.items():
        await c.set(key, value)
    return db


async def seed_with_a_backup(path: Path) -> AsyncJSONDB:
    source = path.parent / "source"
    async with AsyncJSONDB(source) as other:
        for name, records in BACKED_UP.items():
            await (await other.get_collection(name)).set_many(records)
        await other.backup(path.parent / "restore-from")
    return await seed(path)


async def seed_leftovers(path: Path) -> AsyncJSONDB:
    """The folder a crash leaves between a compaction's two renames, plus a stale temp file."""
    db = await seed(path)
    old_snapshot = (path / "c.json").read_bytes()
    journal = (path / "c.journal").read_bytes()
    await db.close()
    (path / ".c.json.compacting").write_bytes((path / "c.json").read_bytes())
    (path / "c.json").write_bytes(old_snapshot)
    (path / ".c.journal.folded").write_bytes(journal)
    (path / ".c.json.tmp-0123456789ab").write_bytes(b'{\n"half":')
    return AsyncJSONDB(path, cache_ttl=3600)


Run = Callable[[AsyncJSONDB, Path], Awaitable[Any]]


@dataclass(frozen=True)
class Attack:
    name: str
    run: Run
    expect: Callable[[View], View]
    prepare: Callable[[Path], Awaitable[AsyncJSONDB]] = seed
    closes: bool = False  # the live object cannot be read afterwards

    def __str__(self) -> str:
        return self.name


def _in_c(change: Callable[[dict[str, Any]], None]) -> Callable[[View], View]:
    def expect(view: View) -> View:
        records = dict(view["c"])
        change(records)
        return {**view, "c": records}

    return expect


async def _c(db: AsyncJSONDB) -> Any:
    return await db.get_collection("c")


async def _set(db: AsyncJSONDB, _: Path) -> Any:
    return await (await _c(db)).set("a", {"v": 100})


async def _set_many(db: AsyncJSONDB, _: Path) -> Any:
    return await (await _c(db)).set_many({"n": 1, "a": 5})


async def _delete(db: AsyncJSONDB, _: Path) -> Any:
    return await (await _c(db)).delete("a")


async def _delete_many(db: AsyncJSONDB, _: Path) -> Any:
    return await (await _c(db)).delete_many(["a", "c"])


async def _update(db: AsyncJSONDB, _: Path) -> Any:
    return await (await _c(db)).update("a", {"w": 1})


async def _increment(db: AsyncJSONDB, _: Path) -> Any:
    return await (await _c(db)).increment("a", "v")


async def _clear(db: AsyncJSONDB, _: Path) -> Any:
    return await (await _c(db)).clear()


async def _drop(db: AsyncJSONDB, _: Path) -> Any:
    return await db.drop_collection("c")


async def _compact(db: AsyncJSONDB, _: Path) -> Any:
    return await db.compact()


async def _backup(db: AsyncJSONDB, path: Path) -> Any:
    return await db.backup(path.parent / "backup")


async def _restore(db: AsyncJSONDB, path: Path) -> Any:
    return await db.restore(path.parent / "restore-from")


async def _close(db: AsyncJSONDB, _: Path) -> Any:
    return await db.close()


async def _open(db: AsyncJSONDB, _: Path) -> Any:
    return await (await _c(db)).items()


def _unchanged(view: View) -> View:
    return view


def _without_c(view: View) -> View:
    return {name: records for name, records in view.items() if name != "c"}


def _restored(view: View) -> View:
    return BACKED_UP


ATTACKS = (
    Attack("set", _set, _in_c(lambda r: r.update(a={"v": 100}))),
    Attack("set_many", _set_many, _in_c(lambda r: r.update(n=1, a=5))),
    Attack("delete", _delete, _in_c(lambda r: r.pop("a"))),
    Attack("delete_many", _delete_many, _in_c(lambda r: [r.pop("a"), r.pop("c")])),
    Attack("update", _update, _in_c(lambda r: r.update(a={"v": 1, "w": 1}))),
    Attack("increment", _increment, _in_c(lambda r: r.update(a={"v": 2}))),
    Attack("clear", _clear, _in_c(lambda r: r.clear())),
    Attack("drop_collection", _drop, _without_c),
    Attack("compact", _compact, _unchanged),
    Attack("backup", _backup, _unchanged),
    Attack("restore", _restore, _restored, prepare=seed_with_a_backup),
    Attack("close", _close, _unchanged, closes=True),
    Attack("open_with_leftovers", _open, _unchanged, prepare=seed_leftovers),
)


def backup_outcome(path: Path) -> str:
    """What ``backup`` left at its target: nothing, or a whole backup (checked by the caller)."""
    target = path.parent / "backup"
    strays = [p.name for p in path.parent.iterdir() if p.name.startswith(".backup")]
    if strays:
        return f"stray {strays}"
    if not target.exists() or (target.is_dir() and not any(target.iterdir())):
        return "absent"
    return "present"


def remove_tree(path: Path) -> None:
    if path.exists():
        shutil.rmtree(path)


def environment_long() -> bool:
    """ASYNCJSONDB_ATTACK_LONG=1 runs every harness long (more examples, more seeds)."""
    return os.environ.get("ASYNCJSONDB_ATTACK_LONG", "") not in ("", "0")


# -- the write path's two ways (commits.py): a batch gathered inline, a write sent to the pool --

PATHS_TAKEN: list[str] = []  # "inline" or "pool", per attacked write, for test_commit_paths


def _commit_queue(collection: Any) -> Any:
    return collection._backend._commits


async def _set_gathered(db: AsyncJSONDB, _: Path) -> Any:
    """Three writes ready in one turn: one batch, one append and one fsync, on the loop (fsyncs
    count as fast here, whatever this disk does)."""
    from asyncjsondb.backends.files import commits

    c = await _c(db)
    queue = _commit_queue(c)
    inline, fast = queue.inline, commits._FAST_SYNC
    commits._FAST_SYNC = float("inf")
    try:
        return await asyncio.gather(c.set("a", {"v": 100}), c.increment("c"), c.delete("b"))
    finally:
        commits._FAST_SYNC = fast
        PATHS_TAKEN.append("inline" if queue.inline > inline else "pool")


async def _set_contended(db: AsyncJSONDB, _: Path) -> Any:
    """A write that finds the collection's lock held (here: its thread lock, by this thread, as
    a commit in another thread would) goes to the pool, whose worker waits for it."""
    c = await _c(db)
    queue = _commit_queue(c)
    pooled = queue.pooled
    assert queue.store.mutex.acquire(blocking=False)
    try:
        write = asyncio.ensure_future(c.set("a", {"v": 100}))
        while not queue._scheduled and not write.done():
            await asyncio.sleep(0.0005)
    finally:
        queue.store.mutex.release()
    try:
        return await write
    finally:
        PATHS_TAKEN.append("pool" if queue.pooled > pooled else "inline")


def _gathered(records: dict[str, Any]) -> None:
    records.update(a={"v": 100}, c=4)
    records.pop("b")


ATTACKS = (  # type: ignore[assignment]  # a longer tuple of the same Attacks
    *ATTACKS,
    Attack("set_gathered", _set_gathered, _in_c(_gathered)),
    Attack("set_contended", _set_contended, _in_c(lambda r: r.update(a={"v": 100}))),
)


# -- compaction off the locks (issue 12): a write lands while the child renders ----------------


async def _compact_off_lock(db: AsyncJSONDB, _: Path) -> Any:
    """``compact`` through the child process (threshold 0), with ``c["w"]`` set meanwhile: the
    swap carries it into the new journal."""
    from asyncjsondb.backends.files import compaction, rewrite

    loop = asyncio.get_running_loop()
    c = await _c(db)
    real_render, threshold = rewrite.render, compaction.OFF_LOCK_MIN_BYTES

    def render_while_writing(taken: Any) -> Any:
        asyncio.run_coroutine_threadsafe(c.set("w", 1), loop).result()
        return real_render(taken)

    rewrite.render, compaction.OFF_LOCK_MIN_BYTES = render_while_writing, 0
    try:
        return await db.compact()
    finally:
        rewrite.render, compaction.OFF_LOCK_MIN_BYTES = real_render, threshold


ATTACKS = (*ATTACKS, Attack("compact_off_lock", _compact_off_lock, _in_c(lambda r: r.update(w=1))))

"""Opening: a loaded collection's open and first ``get``, against parsing its file with a JSON
library; and the open of a collection whose 100k writes are all still in the journal.

Each timed open is a new store object on files closed by someone else; its close is not timed.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import gc
import importlib
import shutil
from collections.abc import Awaitable, Callable, Sequence
from itertools import islice
from pathlib import Path
from typing import Any

from ..measure import Row, round_robin, timed
from ..peers import Store, filled
from ..peers.asyncjsondb_peer import AsyncJSONDBStore, journal_path, snapshot_path
from ..peers.diskcache_peer import DiskcacheStore
from ..peers.sqlite_peer import SQLiteStore
from ..peers.tinydb_peer import TinyDBStore
from ..records import dataset
from ..settings import Scale

StoreFactory = Callable[[], Store]
Trial = Callable[[], Awaitable[float]]

OURS: StoreFactory = functools.partial(AsyncJSONDBStore, "asyncjsondb")
OPENERS: list[StoreFactory] = [
    OURS,
    functools.partial(TinyDBStore, cached=False),
    functools.partial(SQLiteStore, "FULL", name="aiosqlite"),
    DiskcacheStore,
]
# JSON libraries to parse the same file with, when installed.
PARSERS = ("orjson", "json", "ujson", "simdjson", "msgspec.json")
PAUSED = "(gc paused)"


def json_parsers() -> dict[str, Callable[[bytes], Any]]:
    found: dict[str, Callable[[bytes], Any]] = {}
    for name in PARSERS:
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        loads = getattr(module, "loads", None) or getattr(module, "decode", None)
        if loads is not None:
            found[name] = loads
    return found


async def _open_once(
    factory: StoreFactory, folder: Path, index: int, prepare: Callable[[], object] | None = None
) -> float:
    """Seconds for a new store object to open ``folder`` and get one record."""
    if prepare is not None:
        prepare()
    store = factory()
    seconds, _ = await timed(functools.partial(_open_and_get, store, folder, index))
    await store.close()
    return seconds


async def _open_and_get(store: Store, folder: Path, index: int) -> None:
    await store.open(folder)
    if await store.get(store.key_of(index)) is None:
        raise RuntimeError(f"{store.name}: record {index} missing after open")


async def _parse_once(loads: Callable[[bytes], Any], path: Path) -> float:
    seconds, _ = await timed(functools.partial(_parse_file, loads, path))
    return seconds


async def _parse_file(loads: Callable[[bytes], Any], path: Path) -> Any:
    return loads(path.read_bytes())


async def _trials(
    workload: str, size: int, trials: list[tuple[str, Trial, str]], scale: Scale
) -> list[Row]:
    async def measure(trial: int, round_number: int) -> tuple[int, float]:
        return 1, await trials[trial][1]()

    results = await round_robin(len(trials), scale.rounds, scale.budget, measure)
    return [
        Row(workload, size, name, 1, seconds, note=note)
        for (name, _, note), (_, seconds) in zip(trials, results, strict=True)
    ]


async def run_open(
    scale: Scale,
    folder: Path,
    systems: Sequence[StoreFactory] | None = None,
    paused: Sequence[str] = (),
) -> list[Row]:
    """``systems`` (default ``OPENERS``; the first must be an ``AsyncJSONDBStore``) and the
    JSON parsers on its file; the ``paused`` parsers also with the garbage collector paused."""
    size, index = scale.big, scale.big // 2
    trials: list[tuple[str, Trial, str]] = []
    folders = []
    for number, factory in enumerate(systems or OPENERS):
        where = folder / f"open-{number}"
        folders.append(where)
        await filled(factory, where, dataset(size))
        trials.append((factory().name, functools.partial(_open_once, factory, where, index), ""))
    ours = snapshot_path(folders[0])
    note = f"read + parse the {ours.stat().st_size / 1e6:.1f} MB file"
    for name, loads in json_parsers().items():
        trials.append((f"{name}.loads", functools.partial(_parse_once, loads, ours), note))
        if f"{name}.loads" in paused:
            parse = functools.partial(_parse_once, gc_paused(loads), ours)
            trials.append((f"{name}.loads {PAUSED}", parse, note + ", no gc passes"))
    try:
        return await _trials("open + first get", size, trials, scale)
    finally:
        for where in folders:
            shutil.rmtree(where, ignore_errors=True)


def gc_paused(loads: Callable[[bytes], Any]) -> Callable[[bytes], Any]:
    """``loads`` with the cyclic garbage collector paused meanwhile: over a million records its
    passes over the fresh objects cost several times the parse itself."""

    def parse(data: bytes) -> Any:
        enabled = gc.isenabled()
        gc.disable()
        try:
            return loads(data)
        finally:
            if enabled:
                gc.enable()

    return parse


async def run_open_large(scale: Scale, folder: Path) -> list[Row]:
    """The same open at ``scale.large`` records, against aiosqlite and the parsers, these also
    with the garbage collector paused (an engine may pause it too: the floor of an open)."""
    systems = [OURS, functools.partial(SQLiteStore, "FULL", name="aiosqlite")]
    large = dataclasses.replace(scale, big=scale.large)
    return await run_open(large, folder, systems, paused=("orjson.loads", "json.loads"))


async def run_journal_open(scale: Scale, folder: Path) -> list[Row]:
    """Open after ``big`` journaled sets (``auto_compact=False``) vs open of the compacted file.

    The writer's files are copied while it still has them open (``close()`` would fold the
    journal), and every timed open gets a fresh copy, since its own close folds it.
    """
    size, index = scale.big, scale.big // 2
    pristine, work, compacted = (folder / name for name in ("journaled", "work", "compacted"))
    await _write_journal(folder / "journal-writer", pristine, size)
    shutil.copytree(pristine, compacted)
    compactor = AsyncJSONDBStore()
    await compactor.open(compacted)
    await compactor.close()  # folds the journal into compacted/bench.json
    journal_mb = journal_path(pristine).stat().st_size / 1e6
    replay = functools.partial(AsyncJSONDBStore, "asyncjsondb journal")
    plain = functools.partial(AsyncJSONDBStore, "asyncjsondb compacted")
    prepare = functools.partial(_fresh_copy, pristine, work)
    trials: list[tuple[str, Trial, str]] = [
        (
            "asyncjsondb journal",
            functools.partial(_open_once, replay, work, index, prepare),
            f"{size} journal lines, {journal_mb:.1f} MB",
        ),
        (
            "asyncjsondb compacted",
            functools.partial(_open_once, plain, compacted, index),
            "same data, compacted",
        ),
    ]
    try:
        return await _trials("open after journal", size, trials, scale)
    finally:
        for where in (pristine, work, compacted):
            shutil.rmtree(where, ignore_errors=True)


def _fresh_copy(source: Path, target: Path) -> None:
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(source, target)


async def _write_journal(writer_folder: Path, copy_to: Path, size: int) -> None:
    writer = AsyncJSONDBStore("writer", durability="flush", auto_compact=False)
    await writer.open(writer_folder)
    records = dataset(size)
    indexes = iter(records)
    while chunk := list(islice(indexes, 1000)):
        await asyncio.gather(*(writer.set(index, records[index]) for index in chunk))
    copy_to.mkdir(parents=True)
    for path in (snapshot_path(writer_folder), journal_path(writer_folder)):
        shutil.copy2(path, copy_to / path.name)
    await writer.close()
    shutil.rmtree(writer_folder, ignore_errors=True)

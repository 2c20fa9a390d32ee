"""Model-based: random sequences of every API operation, compared with a plain dict after each step.

Two database objects of this process share one folder, and a second process writes to it too;
the sequences reopen objects, compact, back up and restore, drop and close. After every step both
objects read exactly what the model holds, in the same order. Hypothesis runs with a fixed seed and
a bounded number of examples; ASYNCJSONDB_ATTACK_LONG=1 runs many more.
"""

from __future__ import annotations

import asyncio
import copy
import shutil
import tempfile
from collections.abc import Coroutine, Iterator
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from asyncjsondb import AsyncJSONDB, InvalidOperationError
from asyncjsondb.backends.files import segments
from tests.attack_scenarios import environment_long

pytestmark = pytest.mark.timeout(600 if environment_long() else 120)

NAMES = st.sampled_from(["c", "d"])
KEYS = st.sampled_from(["a", "b", "", "é", "k.1"])
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.text(max_size=3))
VALUES = st.one_of(
    SCALARS,
    st.fixed_dictionaries({"v": st.integers(-5, 5)}),
    st.dictionaries(st.sampled_from(["v", "w"]), SCALARS, max_size=2),
    st.lists(SCALARS, max_size=2),
)
Model = dict[str, dict[str, Any]]
steps_run = [0]


def write_from_another_process(path: str, name: str, key: str, value: Any) -> None:
    async def write() -> None:
        async with AsyncJSONDB(path, cache_ttl=0) as db:
            await (await db.get_collection(name)).set(key, value)

    asyncio.run(write())


class TwoObjectsOneFolder(RuleBasedStateMachine):
    other_process: ProcessPoolExecutor | None = None

    def __init__(self) -> None:
        super().__init__()
        self.scratch = Path(tempfile.mkdtemp(prefix="asyncjsondb-model-"))
        self.path = self.scratch / "db"
        self.loop = asyncio.new_event_loop()
        self.dbs = [self._open(), self._open()]
        self.model: Model = {}
        self.backups: list[tuple[Path, Model]] = []

    def _open(self) -> AsyncJSONDB:
        return AsyncJSONDB(self.path, cache_ttl=0)

    def _run(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
        steps_run[0] += 1
        return self.loop.run_until_complete(coroutine)

    async def _collection(self, which: int, name: str) -> Any:
        self.model.setdefault(name, {})
        return await self.dbs[which].get_collection(name)

    @rule(which=st.integers(0, 1), name=NAMES, key=KEYS, value=VALUES)
    def set(self, which: int, name: str, key: str, value: Any) -> None:
        assert self._run(self._set(which, name, key, value)) is True
        self.model[name][key] = value

    async def _set(self, which: int, name: str, key: str, value: Any) -> Any:
        return await (await self._collection(which, name)).set(key, value)

    @rule(which=st.integers(0, 1), name=NAMES, items=st.dictionaries(KEYS, VALUES, max_size=4))
    def set_many(self, which: int, name: str, items: dict[str, Any]) -> None:
        async def go() -> Any:
            return await (await self._collection(which, name)).set_many(items)

        assert self._run(go()) == len(items)
        self.model[name].update(items)

    @rule(which=st.integers(0, 1), name=NAMES, key=KEYS)
    def delete(self, which: int, name: str, key: str) -> None:
        async def go() -> Any:
            return await (await self._collection(which, name)).delete(key)

        existed = self._run(go())
        assert existed == (key in self.model[name])
        self.model[name].pop(key, None)

    @rule(which=st.integers(0, 1), name=NAMES, keys=st.lists(KEYS, max_size=4))
    def delete_many(self, which: int, name: str, keys: list[str]) -> None:
        async def go() -> Any:
            return await (await self._collection(which, name)).delete_many(keys)

        count = self._run(go())
        assert count == len({key for key in keys if key in self.model[name]})
        for key in keys:
            self.model[name].pop(key, None)

    @rule(which=st.integers(0, 1), name=NAMES, key=KEYS, updates=st.dictionaries(KEYS, SCALARS))
    def update(self, which: int, name: str, key: str, updates: dict[str, Any]) -> None:
        async def go() -> Any:
            try:
                return await (await self._collection(which, name)).update(key, updates)
            except InvalidOperationError:
                return "refused"

        outcome = self._run(go())
        current = self.model[name].get(key, _ABSENT)
        if current is _ABSENT:
            assert outcome is False
        elif not isinstance(current, dict):
            assert outcome == "refused"
        else:
            assert outcome is True
            current.update(updates)

    @rule(which=st.integers(0, 1), name=NAMES, key=KEYS, amount=st.integers(-3, 3))
    def increment(self, which: int, name: str, key: str, amount: int) -> None:
        async def go() -> Any:
            try:
                return await (await self._collection(which, name)).increment(key, "v", amount)
            except InvalidOperationError:
                return "refused"

        outcome = self._run(go())
        records = self.model[name]
        current = records.get(key)
        if current is None:
            records[key] = {"v": amount}
            assert outcome == amount
        elif isinstance(current, (int, float)) and not isinstance(current, bool):
            records[key] = current + amount
            assert outcome == records[key]
        elif (
            isinstance(current, dict)
            and isinstance(current.get("v", 0), int)
            and not (isinstance(current.get("v"), bool))
        ):
            current["v"] = current.get("v", 0) + amount
            assert outcome == current["v"]
        else:
            assert outcome == "refused"

    @rule(which=st.integers(0, 1), name=NAMES)
    def clear(self, which: int, name: str) -> None:
        async def go() -> Any:
            return await (await self._collection(which, name)).clear()

        self._run(go())
        self.model[name] = {}

    @rule(which=st.integers(0, 1), name=NAMES)
    def drop_collection(self, which: int, name: str) -> None:
        existed = self._run(self.dbs[which].drop_collection(name))
        assert existed == (name in self.model)
        self.model.pop(name, None)
        # The other object's Collection of ``name`` does not come back by itself (see
        # test_a_collection_dropped_by_another_object_comes_back_on_use): start it afresh.
        self._run(self.dbs[1 - which].close())
        self.dbs[1 - which] = self._open()

    @rule(which=st.integers(0, 1))
    def compact(self, which: int) -> None:
        self._run(self.dbs[which].compact())

    @rule(which=st.integers(0, 1))
    def backup(self, which: int) -> None:
        target = self.scratch / f"backup-{len(self.backups)}"
        self._run(self.dbs[which].backup(target))
        self.backups.append((target, copy.deepcopy(self.model)))

    @rule(which=st.integers(0, 1), data=st.data())
    def restore(self, which: int, data: st.DataObject) -> None:
        if not self.backups:
            return
        target, saved = data.draw(st.sampled_from(self.backups))
        self._run(self.dbs[which].restore(target))
        self.model = copy.deepcopy(saved)
        self.close_both_and_reopen()  # as after a drop: collections it removed stay gone

    @rule(which=st.integers(0, 1))
    def reopen(self, which: int) -> None:
        self._run(self.dbs[which].close())
        self.dbs[which] = self._open()

    @rule()
    def close_both_and_reopen(self) -> None:
        for db in self.dbs:
            self._run(db.close())
        self.dbs = [self._open(), self._open()]

    @rule(name=NAMES, key=KEYS, value=VALUES)
    def write_from_another_process(self, name: str, key: str, value: Any) -> None:
        assert self.other_process is not None
        self.other_process.submit(
            write_from_another_process, str(self.path), name, key, value
        ).result()
        self.model.setdefault(name, {})[key] = value

    @invariant()
    def both_objects_read_the_model(self) -> None:
        for which in (0, 1):
            view = self._run(self._read(which))
            assert view == {name: list(records.items()) for name, records in self.model.items()}

    async def _read(self, which: int) -> dict[str, list[tuple[str, Any]]]:
        db = self.dbs[which]
        return {
            name: await (await db.get_collection(name)).items()
            for name in await db.list_collections()
        }

    def teardown(self) -> None:
        try:
            for db in self.dbs:
                self.loop.run_until_complete(db.close())
        finally:
            self.loop.close()
            shutil.rmtree(self.scratch, ignore_errors=True)


_ABSENT = object()


async def test_a_collection_dropped_by_another_object_comes_back_on_use(tmp_path: Path) -> None:
    async with AsyncJSONDB(tmp_path) as first, AsyncJSONDB(tmp_path) as second:
        await first.get_collection("c")
        await second.get_collection("c")
        await first.drop_collection("c")
        await (await second.get_collection("c")).delete("a")
        assert await second.list_collections() == ["c"]


async def test_a_collection_removed_by_restore_comes_back_on_use(tmp_path: Path) -> None:
    async with AsyncJSONDB(tmp_path / "empty") as empty:
        await empty.backup(tmp_path / "backup")
    async with AsyncJSONDB(tmp_path / "db") as db:
        c = await db.get_collection("c")
        await db.restore(tmp_path / "backup")
        await (await db.get_collection("c")).delete("a")
        assert await db.list_collections() == ["c"] and await c.count() == 0


@pytest.fixture(scope="module")
def other_process() -> Iterator[ProcessPoolExecutor]:
    with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
        yield pool


@pytest.mark.parametrize("segment", [segments.SEGMENT, 2], ids=["dicts", "segments"])
def test_every_operation_sequence_matches_a_dict(
    other_process: ProcessPoolExecutor, segment: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once as collections this small are held (a dict each), once as one past 174,762 records
    is (``Segments``: ``SEGMENT`` lowered to two records in this process)."""
    monkeypatch.setattr(segments, "SEGMENT", segment)
    TwoObjectsOneFolder.other_process = other_process
    long = environment_long()
    run_state_machine_as_test(
        TwoObjectsOneFolder,
        settings=settings(
            max_examples=400 if long else 20,
            stateful_step_count=50 if long else 25,
            derandomize=True,
            database=None,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
    print(f"model-based: {steps_run[0]} API steps run")

"""No bulk call holds the event loop: it works in units and lets other tasks run between them.

How long the loop waits is a timing (``benchmarks/workloads/stalls.py`` measures it); what is
checked here is the structure that bounds it. With ``steps.BUDGET`` at zero, every unit must let
other tasks run, so a call over N records lets a bystander task run about N / UNIT times; its
answer equals a plain read; the cyclic GC runs again afterwards with nothing left frozen; a
cancelled call leaves no state behind; and the open's parser agrees with the JSON it reads.
"""

from __future__ import annotations

import asyncio
import gc
import json
import time
import types
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from asyncjsondb import AsyncJSONDB, Collection, codec, steps
from asyncjsondb.backends.files import slices, snapshot
from asyncjsondb.backends.files.slices import SLICE, Copy

RECORDS = 10 * steps.UNIT + 3  # more than one copied slice (SLICE) too
EXPECTED = {  # each value holds a list, so the collector tracks it
    f"k{index:05d}": {"n": index, "even": index % 2 == 0, "tags": [index]}
    for index in range(RECORDS)
}
EVEN = [value for value in EXPECTED.values() if value["even"]]


@pytest.fixture
def every_unit_yields(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(steps, "BUDGET", 0.0)


@pytest.fixture
async def filled(db_path: Path) -> Iterator[Collection]:
    async with AsyncJSONDB(db_path) as db:
        collection = await db.get_collection("c")
        await collection.set_many(EXPECTED)
        yield collection


@pytest.fixture
def own_freeze_watch() -> Iterator[codec.FreezeWatch]:
    """A watch of the test's own, as at import. The process's watch is moved along by the test's
    freezes and promotions: a full pass frees its probe afterwards, so that it starts again."""
    yield codec.FreezeWatch()
    gc.collect()


async def _iterated(collection: Collection) -> list[tuple[str, Any]]:
    return [pair async for pair in collection.iter_items()]


CALLS: dict[str, tuple[Callable[[Collection], Awaitable[Any]], Any]] = {
    "keys": (lambda c: c.keys(), list(EXPECTED)),
    "values": (lambda c: c.values(), list(EXPECTED.values())),
    "items": (lambda c: c.items(), list(EXPECTED.items())),
    "iter_items": (_iterated, list(EXPECTED.items())),
    "find": (lambda c: c.find(lambda value: value["even"]), EVEN),
    "find where": (lambda c: c.find(where={"even": True}), EVEN),
    "find all": (lambda c: c.find(), list(EXPECTED.values())),
    "find sorted": (
        lambda c: c.find(where={"even": True}, sort=[("n", -1)]),
        sorted(EVEN, key=lambda value: -value["n"]),
    ),
    "count where": (lambda c: c.count({"even": True}), len(EVEN)),
    "get_many": (lambda c: c.get_many(list(EXPECTED)), EXPECTED),
}


async def _turns_during(call: Awaitable[Any]) -> tuple[Any, int]:
    """``call``'s answer, and how many times another task ran meanwhile."""
    turns = 0

    async def bystander() -> None:
        nonlocal turns
        while True:
            await asyncio.sleep(0)
            turns += 1

    task = asyncio.create_task(bystander())
    await asyncio.sleep(0)
    start = turns
    try:
        answer = await call
        return answer, turns - start
    finally:
        task.cancel()


@pytest.mark.usefixtures("every_unit_yields")
@pytest.mark.parametrize("name", list(CALLS))
async def test_a_bulk_call_lets_other_tasks_run_between_units(
    filled: Collection, name: str
) -> None:
    call, expected = CALLS[name]
    answer, turns = await _turns_during(call(filled))
    assert answer == expected
    assert turns >= RECORDS // steps.UNIT, f"{name} let other tasks run {turns} times"


async def test_the_budget_is_time_not_a_count(monkeypatch: pytest.MonkeyPatch) -> None:
    """Within its budget, work never gives the loop away, however many units it holds; past
    it, every unit does."""
    items = list(range(10 * steps.UNIT))
    monkeypatch.setattr(steps, "BUDGET", 3600.0)
    answer, turns = await _turns_during(steps.gather(lambda unit: unit, [items]))
    assert answer == items and turns == 0
    monkeypatch.setattr(steps, "BUDGET", 0.0)
    answer, turns = await _turns_during(steps.gather(lambda unit: unit, [items]))
    assert answer == items and turns >= 10


@pytest.mark.usefixtures("every_unit_yields")
async def test_after_a_bulk_read_the_collector_runs_and_nothing_stays_frozen(
    filled: Collection, monkeypatch: pytest.MonkeyPatch, own_freeze_watch: codec.FreezeWatch
) -> None:
    monkeypatch.setattr(codec, "_PROMOTE_ABOVE", 100)
    monkeypatch.setattr(codec, "freezes", own_freeze_watch)
    assert gc.isenabled() and gc.get_freeze_count() == 0
    for _ in range(3):
        gc.collect(0)  # young passes free probes, and are no freeze
    values = await filled.values()
    assert gc.isenabled() and gc.get_freeze_count() == 0
    # promoted to the oldest generation, unscanned: no young pass over all of them
    assert any(found is values[-1] for found in gc.get_objects(generation=2))


@pytest.mark.parametrize("young_passes", [0, 3])
async def test_objects_join_the_applications_frozen_ones_which_are_never_counted(
    filled: Collection,
    monkeypatch: pytest.MonkeyPatch,
    young_passes: int,
    own_freeze_watch: codec.FreezeWatch,
) -> None:
    """A server freezes its start-up state after importing us, perhaps long before its first
    bulk read: that is found out without counting the frozen objects (a walk over them all,
    ~100 ms after a large start-up), and they are not thawed."""
    monkeypatch.setattr(codec, "_PROMOTE_ABOVE", 100)
    monkeypatch.setattr(codec, "freezes", own_freeze_watch)  # at import: nothing frozen
    gc.freeze()  # the application froze its own: unfreezing would thaw them
    try:
        frozen = gc.get_freeze_count()
        for _ in range(young_passes):
            gc.collect(0)
        with monkeypatch.context() as counting:
            counting.setattr(gc, "get_freeze_count", _never)
            values = await filled.values()
        assert gc.isenabled() and gc.get_freeze_count() > frozen + len(values)
    finally:
        gc.unfreeze()
        gc.collect()  # frees the probes it froze: the watches see that nothing is frozen now


async def test_an_unfreeze_is_seen_once_a_full_pass_frees_the_probe(
    filled: Collection, monkeypatch: pytest.MonkeyPatch, own_freeze_watch: codec.FreezeWatch
) -> None:
    monkeypatch.setattr(codec, "_PROMOTE_ABOVE", 100)
    monkeypatch.setattr(codec, "freezes", own_freeze_watch)
    gc.freeze()
    codec.freezes.look()
    assert codec.freezes.application_froze
    gc.unfreeze()
    gc.collect()
    assert not codec.freezes.application_froze
    await filled.values()
    assert gc.get_freeze_count() == 0


def _never() -> int:
    raise AssertionError("counted the frozen objects during an API call")


@pytest.mark.usefixtures("every_unit_yields")
@pytest.mark.parametrize("name", ["values", "find where", "count where", "get_many"])
async def test_a_cancelled_bulk_read_leaves_nothing_behind(filled: Collection, name: str) -> None:
    call, expected = CALLS[name]
    task = asyncio.create_task(call(filled))
    for _ in range(5):
        await asyncio.sleep(0)
    assert not task.done()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert gc.isenabled() and codec._pause_depth == 0
    await filled.set("after", 1)
    assert await filled.count() == RECORDS + 1
    await filled.delete("after")
    assert await call(filled) == expected


def test_a_backup_copy_is_the_collection_in_order_and_lets_go_as_it_is_read() -> None:
    data = {f"k{index}": b"%d" % index for index in range(2_500)}
    copy = Copy(data)
    assert len(copy) == len(data) and list(copy.items()) == list(data.items())
    assert b"".join(snapshot.render(Copy(data))) == b"".join(snapshot.render(data))
    copy = Copy(data)
    pairs = copy.items()
    next(pairs)
    assert len(copy._keys) == len(data) // SLICE  # of 3 slices, the one being read is let go
    assert len(copy) == len(data)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=6,
)


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.text(), json_values, max_size=30))
def test_the_open_reads_what_json_reads(data: dict[str, Any]) -> None:
    """Keys with quotes, backslashes, control characters and any Unicode; values of every kind:
    the block parser (not the slow fallback) reads our own file as JSON does."""
    raw = b"".join(snapshot.render({key: codec.encode(value) for key, value in data.items()}))
    parsed = snapshot.parse(raw, Path("c.json"))
    assert {key: json.loads(value) for key, value in parsed.items()} == json.loads(raw)
    assert list(parsed) == list(data)
    if data:
        assert snapshot._parse_lines(raw) == parsed


@pytest.mark.usefixtures("every_unit_yields")
async def test_a_scan_in_a_collection_with_indexes_goes_in_steps_too(filled: Collection) -> None:
    """An index on another field gives no plan: the scan needs no index, nor its lock."""
    await filled.create_index("n")
    answer, turns = await _turns_during(filled.find(where={"even": True}))
    assert answer == EVEN and turns >= RECORDS // steps.UNIT
    indexed, _ = await _turns_during(filled.find(where={"n": {"$lt": 3}}))
    assert indexed == list(EXPECTED.values())[:3]


def test_a_drained_copy_is_freed_a_chunk_at_a_time() -> None:
    chunks = [[1, 2], [3], [4, 5]]
    taken = []
    for chunk in steps.drained(chunks):
        taken.append(chunk)
        assert len(chunks) == 3 - len(taken)  # the list no longer holds what was taken
    assert taken == [[1, 2], [3], [4, 5]]


def test_taken_runs_empty_the_list_in_order() -> None:
    items = list(range(3 * steps.UNIT + 1))
    runs = []
    for run in steps.taken(items):
        runs.append(run)
        assert len(items) == 3 * steps.UNIT + 1 - sum(map(len, runs))
    assert [item for run in runs for item in run] == list(range(3 * steps.UNIT + 1))


async def test_a_piece_of_work_counts_its_budget_from_when_the_loop_came_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A call that runs pieces one after the other (a scan, then taking its answer apart) holds
    the loop for one budget in all, not one per piece."""
    clock = [1000.0]
    monkeypatch.setattr(steps, "time", types.SimpleNamespace(perf_counter=lambda: clock[0]))
    scan = steps.Steps()
    clock[0] += steps.BUDGET
    await scan.let_go()
    assert scan.yields == 1  # the loop came back at clock[0]
    clock[0] += steps.BUDGET * 0.75  # the scan's last unit, in the same turn
    taking_apart = steps.Steps()
    clock[0] += steps.BUDGET * 0.5
    await taking_apart.let_go()
    assert taking_apart.yields == 1  # 1.25 budgets since the loop came back
    clock[0] += 10  # other tasks' turns meanwhile: that moment is old, a new piece yields at once
    late = steps.Steps()
    await late.let_go()
    assert late.yields == 1


@pytest.fixture
def counted_passes(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """The collector's passes (their generations) while the fixture is in use, with a low
    threshold so that a thousand new objects set some off; the freeze probe's own young pass
    left out."""
    monkeypatch.setattr(codec.freezes, "look", lambda: None)
    passes: list[int] = []

    def count(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            passes.append(info["generation"])

    threshold = gc.get_threshold()
    gc.set_threshold(100, 10, 10)
    gc.callbacks.append(count)
    try:
        yield passes
    finally:
        gc.callbacks.remove(count)
        gc.set_threshold(*threshold)


@pytest.mark.parametrize("view", [dict.items, dict.keys, dict.values])
async def test_no_collector_pass_while_a_collection_is_copied(
    db_path: Path, counted_passes: list[int], view: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A copy of the items (for ``find``, ``count``, ``iter_items``...) is a new tuple per
    record (past the interpreter's two thousand spare ones): copied with the collector running,
    they set off its passes, full ones among them (20-35 ms each at a million records)."""
    records = {f"k{index:05d}": b"%d" % index for index in range(5_000)}
    async with AsyncJSONDB(db_path) as db:
        collection = await db.get_collection("c")
        await collection.set_many({key: int(raw) for key, raw in records.items()})
        monkeypatch.setattr(codec, "_PROMOTE_ABOVE", 100)  # so that the copy is promoted
        del counted_passes[:]
        store = collection._backend._store  # type: ignore[attr-defined]
        copied = await slices.copy_in_slices(store, view)
        assert counted_passes == []
        assert [item for chunk in copied for item in chunk] == list(view(records))


@pytest.mark.parametrize("name", ["keys", "get_many"])
async def test_containers_of_many_references_are_promoted_unscanned(
    filled: Collection,
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    own_freeze_watch: codec.FreezeWatch,
) -> None:
    """``keys`` makes one list of every key: one new object, but a young pass would visit every
    reference in it (~10 ms per million, a cache miss each)."""
    monkeypatch.setattr(codec, "_PROMOTE_ABOVE", 100)
    monkeypatch.setattr(codec, "freezes", own_freeze_watch)
    call, expected = CALLS[name]
    answer = await call(filled)
    assert answer == expected and gc.get_freeze_count() == 0
    assert any(found is answer for found in gc.get_objects(generation=2))


async def test_a_dict_grows_in_a_step_of_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    """Growing moves every entry to a new table in one C call (~10 ms at 175k entries): within
    a budget that never runs out, ``fill`` still lets other tasks run just before each growth."""
    monkeypatch.setattr(steps, "BUDGET", 3600.0)
    pairs = [(index, index) for index in range(50_000)]
    target: dict[int, int] = {}
    work = steps.Steps()
    await steps.fill(target, lambda unit: unit, [pairs], work)
    assert target == dict(pairs)
    assert work.yields == sum(1 for size in (21_845, 43_690) if size < len(pairs))  # 2/3 of 2**k
    assert steps.will_grow(21_845, 1) and not steps.will_grow(21_846, 1)


async def test_get_many_lets_other_tasks_run_before_its_answer_grows(
    db: AsyncJSONDB, monkeypatch: pytest.MonkeyPatch
) -> None:
    collection = await db.get_collection("c")
    wanted = {f"k{index:05d}": index for index in range(22_000)}
    await collection.set_many(wanted)
    monkeypatch.setattr(steps, "BUDGET", 3600.0)
    answer, turns = await _turns_during(collection.get_many(list(wanted)))
    assert answer == wanted and turns >= 2  # the backend's dict, then the decoded one


@pytest.mark.usefixtures("every_unit_yields")
async def test_discarding_empties_a_container_a_unit_at_a_time() -> None:
    pairs = {index: str(index) for index in range(3 * steps.UNIT)}
    items = list(range(3 * steps.UNIT))
    _, turns = await _turns_during(steps.discard(pairs))
    assert pairs == {} and turns >= 3
    _, turns = await _turns_during(steps.discard(items))
    assert items == [] and turns >= 3


async def test_timers_due_during_a_step_run_before_the_next_step() -> None:
    """The loop queues the timers and I/O that came due during a step behind the task that
    yielded: resumed at once, it would hold them for a second step."""
    order: list[str] = []
    asyncio.get_running_loop().call_later(0.001, order.append, "timer")
    time.sleep(0.005)  # a step of work, during which the timer comes due
    await steps.Steps().let_go(now=True)
    order.append("next step")
    assert order == ["timer", "next step"]

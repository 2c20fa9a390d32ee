"""Writes gathered into one batch answer exactly as the same writes made one at a time.

Writes ready on a loop in one turn commit as one batch (one append, one sync), inline or in the
pool; each caller must still get its own result or its own exception, and the collection must end
as a sequential run leaves it, in the same order. The attack: random runs of writes (with a unique
index refusing some, increments of fields that are not numbers, updates of missing keys, clears
and batches of several keys) started together with ``asyncio.gather``, so that they share one
batch, against the same writes awaited one by one in another folder; the files must then say
what memory says. And writes of several event loops in several threads, meeting in the pool's
batches: each caller gets its own increment's result, and a bad write its own error.
"""

from __future__ import annotations

import asyncio
import fcntl
import tempfile
import threading
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from asyncjsondb import AsyncJSONDB

pytestmark = pytest.mark.timeout(120)

KEYS = st.sampled_from(["a", "b", "c"])
DOCS = st.fixed_dictionaries(
    {"u": st.sampled_from([1, 2, 3])},
    optional={"n": st.one_of(st.integers(-3, 3), st.just("text"))},
)
WRITES = st.one_of(
    st.tuples(st.just("set"), KEYS, DOCS),
    st.tuples(st.just("set_many"), st.dictionaries(KEYS, DOCS, min_size=1, max_size=3)),
    st.tuples(st.just("delete"), KEYS),
    st.tuples(st.just("delete_many"), st.lists(KEYS, max_size=3)),
    st.tuples(st.just("update"), KEYS, st.fixed_dictionaries({"u": st.sampled_from([1, 2, 4])})),
    st.tuples(st.just("increment"), KEYS, st.sampled_from(["n", "u", "m.x"])),
    st.tuples(st.just("clear")),
)


async def outcome(call: Any) -> tuple[str, Any]:
    try:
        return "ok", await call
    except Exception as exc:  # noqa: BLE001 - the type is the outcome compared
        return "error", type(exc).__name__


def start(collection: Any, write: tuple[Any, ...]) -> Any:
    method, *args = write
    return getattr(collection, method)(*args)


async def prepared(path: Path) -> tuple[AsyncJSONDB, Any]:
    db = AsyncJSONDB(path, durability="flush", auto_compact=False)
    c = await db.get_collection("c")
    await c.create_index("u", unique=True)
    await c.set("a", {"u": 1, "n": 0})
    return db, c


async def one_by_one_and_gathered(
    scratch: Path, writes: list[tuple[Any, ...]]
) -> tuple[list[Any], list[Any], list[Any], list[Any], list[Any]]:
    alone_db, alone = await prepared(scratch / "alone")
    together_db, together = await prepared(scratch / "together")
    try:
        one_by_one = [await outcome(start(alone, write)) for write in writes]
        queue = together._backend._commits  # the batches it committed, inline or pooled
        batches = queue.inline + queue.pooled
        gathered = await asyncio.gather(*(outcome(start(together, write)) for write in writes))
        assert queue.inline + queue.pooled - batches <= 1  # they did share one batch
        left_alone, left_together = await alone.items(), await together.items()
    finally:
        await alone_db.close()
        await together_db.close()
    async with AsyncJSONDB(scratch / "together") as again:  # what the files say
        reopened = await (await again.get_collection("c")).items()
    return one_by_one, list(gathered), left_alone, left_together, reopened


@settings(
    max_examples=40,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(writes=st.lists(WRITES, min_size=2, max_size=8))
def test_a_gathered_batch_answers_each_caller_as_one_by_one_writes_do(
    writes: list[tuple[Any, ...]],
) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        alone, together, left_alone, left_together, reopened = asyncio.run(
            one_by_one_and_gathered(Path(scratch), writes)
        )
    assert together == alone
    assert left_together == left_alone
    assert reopened == left_alone


ROUNDS, BURST, THREADS = 6, 15, 3


async def increments_of(c: Any, key: str, submitted: threading.Barrier) -> list[list[Any]]:
    rounds = []
    for number in range(ROUNDS):
        burst = [outcome(c.increment(key, "n")) for _ in range(BURST)]
        burst.insert(BURST // 2, outcome(c.increment("text", "n")))  # its own error, not theirs
        tasks = [asyncio.ensure_future(each) for each in burst]
        if number == 0:  # let the tasks submit and their batch close, then tell the test
            for _ in range(3):
                await asyncio.sleep(0)
            submitted.wait(30)
        rounds.append(list(await asyncio.gather(*tasks)))
    return rounds


def test_batches_of_several_loops_answer_each_caller(tmp_path: Path) -> None:
    async def setup() -> None:
        async with AsyncJSONDB(tmp_path / "db") as db:
            await (await db.get_collection("c")).set("text", {"n": "not a number"})

    asyncio.run(setup())
    db = AsyncJSONDB(tmp_path / "db", durability="flush")  # one object, a loop per thread
    results: dict[int, list[list[Any]]] = {}

    ready, go, submitted = (threading.Barrier(THREADS + 1) for _ in range(3))

    def thread(number: int) -> None:
        async def run() -> list[list[Any]]:
            c = await db.get_collection("c")
            ready.wait(30)
            go.wait(30)
            return await increments_of(c, f"k{number}", submitted)

        results[number] = asyncio.run(run())

    async def queue_of() -> Any:
        return (await db.get_collection("c"))._backend._commits

    queue = asyncio.run(queue_of())
    threads = [threading.Thread(target=thread, args=(n,)) for n in range(THREADS)]
    # Another open file description holds the collection's lock, as another process would: the
    # first bursts of every loop queue for the pool, and meet in its batches.
    for each in threads:
        each.start()
    ready.wait(30)
    with open(tmp_path / "db" / ".c.lock", "rb") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        go.wait(30)
        submitted.wait(30)  # every loop's first burst waits for the pool
        fcntl.flock(held, fcntl.LOCK_UN)
    for each in threads:
        each.join(60)
    assert queue.pooled >= 1  # the first bursts met in the pool (how many batches: timing)
    assert sorted(results) == list(range(THREADS))
    error = ("error", "InvalidOperationError")
    for rounds in results.values():
        counted = []
        for outcomes in rounds:
            assert outcomes[BURST // 2] == error
            counted += [value for kind, value in outcomes if kind == "ok"]
        assert sorted(counted) == list(range(1, ROUNDS * BURST + 1))

    async def read() -> dict[str, Any]:
        try:
            c = await db.get_collection("c")
            return dict(await c.items())
        finally:
            await db.close()

    expected = {"text": {"n": "not a number"}}
    expected.update({f"k{n}": {"n": ROUNDS * BURST} for n in range(THREADS)})
    assert asyncio.run(read()) == expected

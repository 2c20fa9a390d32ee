"""Within a process, a batch (``set_many``, ``delete_many``, ``clear``) is seen whole or not
at all, and costs O(its size), not a copy of the collection."""

from __future__ import annotations

import asyncio
import json
import sys
import tracemalloc
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from asyncjsondb import AsyncJSONDB
from asyncjsondb.backends.files import batches, journal
from asyncjsondb.backends.files.journal import BatchRecord, DeleteRecord, Record, SetRecord

KEYS = [f"k{i}" for i in range(20_000)]
ROUNDS = 4  # a half-applied batch shows within a round or two; a whole one never does


async def _mixed_reads(
    tmp_path: Path, read: Callable[[Any], Awaitable[set[Any]]]
) -> list[set[Any]]:
    """Rewrite every key in one batch per round while ``read`` looks; the mixed views seen."""
    async with AsyncJSONDB(tmp_path, durability="flush") as db:
        c = await db.get_collection("c")
        await c.set_many(dict.fromkeys(KEYS, 0))
        mixed: list[set[Any]] = []
        for round_ in range(1, ROUNDS + 1):
            writing = asyncio.ensure_future(c.set_many(dict.fromkeys(KEYS, round_)))
            while not writing.done() and not mixed:
                seen = await read(c)
                if len(seen) > 1:
                    mixed.append(seen)
                await asyncio.sleep(0)
            await writing
            if mixed:
                break
        return mixed


async def _values_of_get_many(c: Any) -> set[Any]:
    return set((await c.get_many(KEYS)).values())


async def _values_of_items(c: Any) -> set[Any]:
    return {value for _, value in await c.items()}


@pytest.mark.parametrize("read", [_values_of_get_many, _values_of_items], ids=["get_many", "items"])
async def test_a_reader_never_sees_half_a_batch(
    tmp_path: Path, read: Callable[[Any], Awaitable[set[Any]]]
) -> None:
    assert await _mixed_reads(tmp_path, read) == []


async def _delete_every_key(c: Any) -> Any:
    return await c.delete_many(KEYS)


async def _clear(c: Any) -> Any:
    return await c.clear()


@pytest.mark.parametrize("remove", [_delete_every_key, _clear], ids=["delete_many", "clear"])
async def test_a_reader_never_sees_half_a_removal(
    tmp_path: Path, remove: Callable[[Any], Awaitable[Any]]
) -> None:
    async with AsyncJSONDB(tmp_path, durability="flush") as db:
        c = await db.get_collection("c")
        sizes: set[int] = set()
        for _ in range(ROUNDS // 2):
            await c.set_many(dict.fromkeys(KEYS, 0))
            removing = asyncio.ensure_future(remove(c))
            while not removing.done():
                sizes.add(len(await c.get_many(KEYS)))
                await asyncio.sleep(0)
            await removing
    assert sizes <= {0, len(KEYS)}


async def test_a_small_batch_on_a_big_collection_does_not_copy_it(tmp_path: Path) -> None:
    async with AsyncJSONDB(tmp_path, durability="flush", auto_compact=False) as db:
        c = await db.get_collection("c")
        await c.set_many(dict.fromkeys(KEYS, 0))
        await c.delete_many(["k0"])  # the journal is open and memory loaded: steady state
        a_copy = sys.getsizeof(dict.fromkeys(KEYS, b""))
        tracemalloc.start()
        try:
            for batch in (c.set_many({"new": 1, "k1": 2}), c.delete_many(["k2", "new"])):
                tracemalloc.reset_peak()
                await batch
                assert tracemalloc.get_traced_memory()[1] < a_copy / 4
        finally:
            tracemalloc.stop()
        assert await c.count() == len(KEYS) - 2


_SET, _DELETE = "set", "delete"


def _record(op: str, key: str, value: int) -> SetRecord | DeleteRecord:
    key_json = json.dumps(key).encode()
    if op == _SET:
        return SetRecord(key, key_json, str(value).encode())
    return DeleteRecord(key, key_json)


@settings(max_examples=200, deadline=None)
@given(
    before=st.lists(st.sampled_from("abcde"), unique=True),
    ops=st.lists(st.tuples(st.sampled_from([_SET, _DELETE]), st.sampled_from("abcdef"))),
    batched=st.booleans(),
)
def test_a_batch_applied_at_once_leaves_what_a_replay_leaves(
    before: list[str], ops: list[tuple[str, str]], batched: bool
) -> None:
    records = [_record(op, key, i) for i, (op, key) in enumerate(ops)]
    committed: list[Record] = [BatchRecord(tuple(records))] if batched else list(records)
    replayed = {key: b"0" for key in before}
    journal.apply(replayed, committed)
    at_once = {key: b"0" for key in before}
    assert list(batches.apply_committed(at_once, committed).items()) == list(replayed.items())

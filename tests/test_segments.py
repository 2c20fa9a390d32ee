"""``Segments``: a collection past ``SEGMENT`` records, held as runs (order) and shards (lookup).

Random sequences of every way memory changes (single sets and deletes, batches with clears,
journal replay, blocks read from a file) against a plain dict, with ``SEGMENT`` lowered to a
few keys so that runs fill, split, empty and merge all the time. After every step it must read
exactly as the dict: the same pairs in the same order, and the same lookups; and no dict in it
may hold more than ``SEGMENT`` keys (the point of it: no dict ever grows into a big table).
"""

from __future__ import annotations

import random
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from asyncjsondb import AsyncJSONDB, DatabaseError
from asyncjsondb.backends.files import batches, journal, segments, snapshot
from asyncjsondb.backends.files.journal import (
    BatchRecord,
    ClearRecord,
    DeleteRecord,
    Record,
    SetRecord,
)
from asyncjsondb.backends.files.segments import Segments
from asyncjsondb.codec import encode_key

KEYS = st.sampled_from([f"k{i}" for i in range(12)])
VALUES = st.sampled_from([b"1", b"2", b'"x"', b"[3]", b'{"a":4}'])


def set_record(key: str, value: bytes) -> SetRecord:
    return SetRecord(key, encode_key(key), value)


def delete_record(key: str) -> DeleteRecord:
    return DeleteRecord(key, encode_key(key))


OPS = st.one_of(
    st.tuples(st.just("set"), KEYS, VALUES),
    st.tuples(st.just("delete"), KEYS, st.just(b"")),
)


def record_of(op: tuple[str, str, bytes]) -> SetRecord | DeleteRecord:
    kind, key, value = op
    return set_record(key, value) if kind == "set" else delete_record(key)


@pytest.fixture
def small_segments() -> Iterator[int]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(segments, "SEGMENT", 3)
        yield 3


class AgainstADict(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.data: segments.Records = {}
        self.model: dict[str, bytes] = {}

    @rule(key=KEYS, value=VALUES)
    def set_one(self, key: str, value: bytes) -> None:
        self._commit([set_record(key, value)])

    @rule(key=KEYS)
    def delete_one(self, key: str) -> None:
        self._commit([delete_record(key)])

    @rule(ops=st.lists(OPS, max_size=14), clear_at=st.none() | st.integers(0, 14))
    def commit_batch(self, ops: list[tuple[str, str, bytes]], clear_at: int | None) -> None:
        records: list[Record] = [record_of(op) for op in ops]
        if clear_at is not None:
            records.insert(min(clear_at, len(records)), ClearRecord())
        self._commit(records)

    @rule(ops=st.lists(OPS, min_size=1, max_size=8))
    def commit_one_batch_record(self, ops: list[tuple[str, str, bytes]]) -> None:
        self._commit([BatchRecord(tuple(record_of(op) for op in ops))])

    @rule(
        ops=st.lists(OPS, max_size=14),
        clear=st.booleans(),
        batched=st.lists(OPS, max_size=12),
    )
    def replay_journal(
        self, ops: list[tuple[str, str, bytes]], clear: bool, batched: list[tuple[str, str, bytes]]
    ) -> None:
        """Records as a journal holds them: single ones, a clear, a ``set_many`` as one."""
        records: list[Record] = [record_of(op) for op in ops]
        if clear:
            records.insert(len(records) // 2, ClearRecord())
        if batched:
            records.insert(len(records) // 3, BatchRecord(tuple(map(record_of, batched))))
        self.data = batches.replay(self.data, records)
        journal.apply(self.model, records)  # the plain dict, a record at a time

    @rule(pairs=st.lists(st.tuples(KEYS, VALUES), max_size=10))
    def read_block(self, pairs: list[tuple[str, bytes]]) -> None:
        keys, values = [k for k, _ in pairs], [v for _, v in pairs]
        self.data = segments.added(self.data, keys, values)
        self.model.update(pairs)

    def _commit(self, records: list[Record]) -> None:
        self.data = batches.apply_committed(self.data, records)
        journal.apply(self.model, records)  # the plain dict, a record at a time

    @invariant()
    def reads_as_the_dict(self) -> None:
        data, model = self.data, self.model
        assert list(data.items()) == list(model.items())
        assert list(data.keys()) == list(model)
        assert list(data.values()) == list(model.values())
        assert len(data) == len(model)
        universe = [f"k{i}" for i in range(12)]
        assert [data.get(key) for key in universe] == [model.get(key) for key in universe]
        assert [key in data for key in universe] == [key in model for key in universe]
        assert list(segments.lookup(data, universe)) == [model.get(key) for key in universe]

    @invariant()
    def no_dict_outgrows_a_segment(self) -> None:
        if isinstance(self.data, Segments):
            runs, shards = self.data.runs, self.data.shards
            assert all(len(run) <= segments.SEGMENT for run in runs)
            assert all(runs[:-1]), "only the last run may be empty"
            assert sum(map(len, shards)) == len(self.model)
            for shard in shards:
                assert all(self.model[key] == value for key, value in shard.items())
        else:  # a dict becomes Segments before it passes the size
            assert len(self.data) <= segments.SEGMENT


def test_every_change_sequence_reads_as_a_dict(small_segments: int) -> None:
    run_state_machine_as_test(
        AgainstADict, settings=settings(max_examples=300, stateful_step_count=40, deadline=None)
    )


def test_runs_stay_half_full_as_keys_go(small_segments: int) -> None:
    """Deleting most keys at random leaves no more runs than twice the fewest that would do
    (each removal tidies one step), so lookups of a key's run stay cheap."""
    data: segments.Records = {}
    keys = [f"k{i}" for i in range(300)]
    data = segments.added(data, keys, [b"1"] * len(keys))
    assert isinstance(data, Segments) and len(data.runs) == 100
    for key in keys[::3] + keys[1::3]:
        data = batches.apply_committed(data, [delete_record(key)])
    assert isinstance(data, Segments)
    assert list(data) == keys[2::3]
    fewest = -(-len(data) // segments.SEGMENT)
    assert len(data.runs) <= 2 * fewest + 1


def test_a_file_in_any_layout_past_the_size_is_held_as_segments(small_segments: int) -> None:
    """A hand-written file (not one record a line) is parsed whole, then held as Segments."""
    raw = b'{"a": 1, "b": [2],\n  "c": {"d": 3}, "e": "4", "a": 5}'
    data = snapshot.parse(raw, Path("x.json"))
    assert isinstance(data, Segments)
    assert list(data.items()) == [("a", b"5"), ("b", b"[2]"), ("c", b'{"d":3}'), ("e", b'"4"')]


def test_replaying_a_large_set_many_grows_no_dict_past_the_size(small_segments: int) -> None:
    """A ``set_many`` is one journal record: its sets count, and go in short steps."""
    records: list[Record] = [BatchRecord(tuple(set_record(f"k{i}", b"1") for i in range(10)))]
    data = batches.replay({}, records)
    assert isinstance(data, Segments)
    assert list(data) == [f"k{i}" for i in range(10)]
    assert max(map(len, data.runs)) <= segments.SEGMENT


def test_a_file_with_a_key_twice_keeps_the_first_place_and_the_last_value(
    small_segments: int,
) -> None:
    """As ``json.loads`` does with a hand-made object that repeats a key."""
    raw = b'{\n"a":1,\n"b":2,\n"c":3,\n"d":4,\n"a":5,\n"e":6\n}\n'
    data = snapshot.parse(raw, Path("x.json"))
    assert isinstance(data, Segments)
    assert list(data.items()) == [
        ("a", b"5"),
        ("b", b"2"),
        ("c", b"3"),
        ("d", b"4"),
        ("e", b"6"),
    ]


def test_a_reader_in_another_thread_never_sees_half_a_batch(small_segments: int) -> None:
    """Each batch deletes one key of a pair and sets the other (which goes to the end: runs
    fill, new ones start, emptied ones go, small ones are poured together), while a reader
    thread, switching as often as CPython can, reads the pairs (``items``, one C call) and looks
    the keys up (``lookup``, one C call): exactly one key of each pair, never a key twice, and
    the keys no batch touches always there, in order."""
    stable = [f"s{i}" for i in range(30)]
    pairs = [(f"a{i}", f"b{i}") for i in range(20)]
    firsts = [first for first, _ in pairs]
    held: list[segments.Records] = [segments.added({}, stable + firsts, [b"1"] * 50)]
    assert isinstance(held[0], Segments)
    wrong: list[str] = []
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            data = held[0]
            keys = [key for key, _ in list(data.items())]
            found = list(segments.lookup(data, [key for pair in pairs for key in pair]))
            present = set(keys)
            if len(present) != len(keys):
                wrong.append("a key twice")
            if [key for key in keys if key.startswith("s")] != stable:
                wrong.append("an untouched key missing or moved")
            if any((first in present) == (second in present) for first, second in pairs):
                wrong.append("half a batch in the pairs")
            if any((found[i] is None) == (found[i + 1] is None) for i in range(0, 40, 2)):
                wrong.append("half a batch in the lookups")

    rng = random.Random(0)
    first_present = dict.fromkeys(firsts, True)
    reader = threading.Thread(target=read)
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as CPython can
    reader.start()
    try:
        for _ in range(5_000):
            first, second = rng.choice(pairs)
            present, absent = (first, second) if first_present[first] else (second, first)
            first_present[first] = not first_present[first]
            records: list[Record] = [delete_record(present), set_record(absent, b"2")]
            held[0] = batches.apply_committed(held[0], records)
    finally:
        stop.set()
        reader.join()
        sys.setswitchinterval(interval)
    assert not wrong, sorted(set(wrong))


async def test_a_copy_into_segments_that_fails_leaves_journal_and_memory_as_they_were(
    small_segments: int, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The copy comes before the append: a failed write is in neither, in this process, in
    another reading the files, or after a reopen (close folds memory into the file)."""
    real = segments.grown

    def fails(data: segments.Records, extra: int) -> segments.Records:
        if segments.outgrows(data, extra):
            raise MemoryError("copying into Segments")
        return real(data, extra)

    async with AsyncJSONDB(db_path, cache_ttl=0) as db:
        c = await db.get_collection("c")
        await c.set_many({"a": 1, "b": 2, "d": 4})
        monkeypatch.setattr(batches, "grown", fails)  # a MemoryError cannot be made real
        with pytest.raises(DatabaseError):
            await c.set("e", 5)
        monkeypatch.setattr(batches, "grown", real)
        assert await c.keys() == ["a", "b", "d"]
        assert b'"e"' not in (db_path / "c.journal").read_bytes()
        async with AsyncJSONDB(db_path, cache_ttl=0) as other:
            assert await (await other.get_collection("c")).keys() == ["a", "b", "d"]
        await c.set("f", 6)
    async with AsyncJSONDB(db_path) as db:
        assert await (await db.get_collection("c")).keys() == ["a", "b", "d", "f"]

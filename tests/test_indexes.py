"""Indexes and the planner: lookups in insertion order, unique enforcement that changes nothing
when it refuses, the plans chosen, and (hypothesis) answers through indexes equal a full scan."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from asyncjsondb import DatabaseError, DuplicateKeyError, InvalidQueryError
from asyncjsondb.backends.files.indexes import IndexSet, PathIndex
from asyncjsondb.backends.files.planner import choose, run
from asyncjsondb.paths import MISSING
from asyncjsondb.query import Query, compile_where
from tests.query_strategies import BOUNDED, comparable, filter_lists, records, scalars

PEOPLE: dict[str, Any] = {
    "ann": {"age": 31, "tags": ["a", "b"], "email": "ann@x"},
    "bob": {"age": 25.0, "tags": "b", "email": "bob@x"},
    "cid": {"age": 31.0, "active": True},
    "dan": {"age": 1, "active": 1},
    "eve": {"age": "31"},
    "fay": 7,
}


class Collection:
    """A dict of records with its indexes, written the way the engine will write them."""

    def __init__(self, records: dict[str, Any], *paths: str, unique: bool = False) -> None:
        self.records = dict(records)
        self.indexes = IndexSet()
        for path in paths:
            self.indexes.create(path, self.records.items(), unique=unique)

    def set(self, key: str, value: Any) -> None:
        self.indexes.apply(key, self.records.get(key, MISSING), value)
        self.records[key] = value

    def delete(self, key: str) -> None:
        self.indexes.apply(key, self.records[key], MISSING)
        del self.records[key]

    def index(self, path: str) -> PathIndex:
        return self.indexes.indexes[path]

    def find(self, where: Any = None, **options: Any) -> list[str]:
        query = Query.parse(where, **options)
        found = run(query, self.indexes, self.records.items, self._get)
        return [key for key, _ in found]

    def _get(self, key: str) -> Any:
        return self.records.get(key, MISSING)

    def scan(self, where: Any = None, **options: Any) -> list[str]:
        return [key for key, _ in Query.parse(where, **options).run(self.records.items())]


def test_equality_lookups_answer_in_insertion_order_and_follow_writes() -> None:
    people = Collection(PEOPLE, "age", "tags", "active")
    age = people.index("age")
    assert age.equal([31]) == ["ann", "cid"]
    assert age.equal([31, 1]) == ["ann", "cid", "dan"]
    assert age.equal(["31"]) == ["eve"]
    assert people.index("tags").equal(["b"]) == ["ann", "bob"]
    assert people.index("tags").equal([["a", "b"]]) == ["ann"]
    assert people.index("active").equal([True]) == ["cid"]
    assert people.index("active").equal([1]) == ["dan"]
    people.set("ann", {"age": 40})
    people.set("dan", {"age": 31})
    assert age.equal([31]) == ["cid", "dan"]
    people.set("ann", {"age": 31})  # an update keeps its place in the collection
    assert age.equal([31]) == ["ann", "cid", "dan"]
    people.delete("ann")
    people.set("ann", {"age": 31})  # a new record comes last
    assert age.equal([31]) == ["cid", "dan", "ann"]
    assert people.index("tags").equal(["b"]) == ["bob"]


def test_ranges_walk_values_in_order_with_ties_in_insertion_order() -> None:
    people = Collection(PEOPLE, "age")
    age = people.index("age")
    assert list(age.walk((25, True), (31, True))) == ["bob", "ann", "cid"]
    assert list(age.walk((25, False), None)) == ["ann", "cid"]
    assert list(age.walk(None, (31, False), descending=True)) == ["bob", "dan"]
    assert list(age.walk(("3", True), None)) == ["eve"]
    assert age.between((1, True), (30, True)) == ["bob", "dan"]


def test_a_unique_index_refuses_a_repeated_value_and_changes_nothing() -> None:
    people = Collection(PEOPLE, "email", unique=True)
    email = people.index("email")
    with pytest.raises(DuplicateKeyError) as caught:
        people.set("new", {"email": "ann@x"})
    assert isinstance(caught.value, DatabaseError)
    assert (caught.value.path, caught.value.key, caught.value.other_key) == ("email", "new", "ann")
    assert "'new' would repeat the value 'ann@x' already held by 'ann'" in str(caught.value)
    with pytest.raises(DuplicateKeyError):
        people.set("bob", {"email": "ann@x"})
    assert email.equal(["bob@x"]) == ["bob"] and email.equal(["ann@x"]) == ["ann"]
    assert "new" not in people.indexes.order.seq
    people.set("ann", {"email": "ann@x", "age": 32})  # the holder itself may rewrite it
    people.set("x1", {"other": 1})  # records without the field never conflict
    people.set("x2", {})
    people.set("bob", {"email": "bob@y"})
    people.set("new", {"email": "bob@x"})  # a value given up can be taken
    assert email.equal(["bob@x"]) == ["new"]


def test_unique_values_follow_the_equality_rules() -> None:
    people = Collection({"a": {"n": 1}, "b": {"n": True}, "c": {"n": [1, 2]}}, "n", unique=True)
    with pytest.raises(DuplicateKeyError):
        people.set("d", {"n": 1.0})
    with pytest.raises(DuplicateKeyError):
        people.set("d", {"n": [1, 2.0]})
    people.set("d", {"n": [2, 1]})
    people.set("e", {"n": None})
    with pytest.raises(DuplicateKeyError):  # as PostgreSQL's unique index sees JSON null
        people.set("f", {"n": None})


def test_a_refused_batch_undoes_the_writes_before_it() -> None:
    people = Collection(PEOPLE, "age", "email", unique=False)
    people.indexes.create("tags", people.records.items(), unique=True)
    before = (people.index("age").equal([31]), dict(people.indexes.order.seq))
    changes = [
        ("ann", PEOPLE["ann"], MISSING),
        ("new", MISSING, {"age": 31, "tags": "z"}),
        ("cid", PEOPLE["cid"], {"age": 2, "tags": "b"}),  # "b" is bob's
    ]
    with pytest.raises(DuplicateKeyError):
        people.indexes.apply_many(changes)
    assert (people.index("age").equal([31]), people.indexes.order.seq) == before
    assert people.index("tags").equal(["a"]) == ["ann"]


def test_building_a_unique_index_over_duplicates_builds_nothing() -> None:
    people = Collection(PEOPLE, "age")
    with pytest.raises(DuplicateKeyError, match="unique index on 'age2'"):
        people.indexes.create("age2", [("a", {"age2": 1}), ("b", {"age2": 1.0})], unique=True)
    with pytest.raises(DuplicateKeyError, match="unique index on 'age'"):
        Collection(PEOPLE, "age", unique=True)
    assert people.indexes.describe() == [{"path": "age", "unique": False}]


def test_creating_is_idempotent_and_dropping_forgets() -> None:
    people = Collection(PEOPLE)
    assert people.indexes.create("age", people.records.items()) is True
    assert people.indexes.create("age", people.records.items()) is False
    with pytest.raises(InvalidQueryError, match="exists with unique=False: drop it first"):
        people.indexes.create("age", people.records.items(), unique=True)
    with pytest.raises(InvalidQueryError, match="the key is indexed already"):
        people.indexes.create("_key", people.records.items())
    with pytest.raises(InvalidQueryError, match="empty segment"):
        people.indexes.create("a.", people.records.items())
    assert people.indexes.describe() == [{"path": "age", "unique": False}]
    assert people.indexes.drop("age") is True and people.indexes.drop("age") is False
    assert people.indexes.describe() == []


def test_the_planner_prefers_the_fewest_candidates_then_ranges_then_a_scan() -> None:
    people = Collection(PEOPLE, "age", "email", "tags")

    def explain(where: Any, sort: Any = None) -> dict[str, Any]:
        query = Query.parse(where, sort=sort)
        return choose(query.where, query.sort, people.indexes).explain()

    assert explain({"age": 31, "email": "bob@x"})["index"] == "email"
    assert explain({"age": {"$in": [1, 25]}, "tags": "a"}) == {
        "index": "tags",
        "unique": False,
        "plan": "equality",
        "sorted_by_index": False,
        "values": ["a"],
    }
    assert explain({"age": {"$gt": 3, "$lte": 40}}, sort=[("age", -1)]) == {
        "index": "age",
        "unique": False,
        "plan": "range",
        "sorted_by_index": True,
        "bounds": ["> 3", "<= 40"],
    }
    assert explain({"tags": {"$gt": "a"}}, sort="tags")["sorted_by_index"] is False  # lists
    assert explain({"age": None})["plan"] == "scan"  # null also matches missing fields
    assert explain({"$or": [{"age": 31}, {"email": "x"}]}) == {
        "index": None,
        "plan": "scan",
        "sorted_by_index": False,
    }
    assert explain({"other": 1}, sort="age")["plan"] == "scan"


def test_an_ordered_range_stops_at_the_limit_and_agrees_with_a_scan() -> None:
    numbers = {f"k{n}": {"n": n % 50, "odd": n % 2} for n in range(500)}
    collection = Collection(numbers, "n")
    for options in (
        {"sort": "n", "limit": 7},
        {"sort": [("n", -1)], "skip": 3, "limit": 5},
        {"sort": "odd", "limit": 4},
    ):
        where = {"n": {"$gte": 40}, "odd": 1}
        assert collection.find(where, **options) == collection.scan(where, **options)


def test_two_bounds_on_a_list_field_may_be_met_by_two_elements() -> None:
    collection = Collection({"j": {"a": [4]}, "k": {"a": [0, 10]}, "m": {"a": 10}}, "a")
    where = {"a": {"$gt": 5, "$lt": 3}}
    assert collection.find(where) == collection.scan(where) == ["k"]


def test_memory_is_reported_and_grows_with_the_index() -> None:
    small = Collection({f"k{n}": {"n": n} for n in range(10)}, "n")
    large = Collection({f"k{n}": {"n": n, "s": str(n)} for n in range(1000)}, "n", "s")
    assert 0 < small.indexes.memory() < large.indexes.memory()
    assert large.index("s").memory() > large.index("n").memory() > 0


writes = st.lists(
    st.tuples(st.sampled_from([f"k{n}" for n in range(8)]), records | st.just(MISSING)),
    max_size=16,
)


@BOUNDED
@given(writes=writes, wheres=filter_lists, probes=st.lists(scalars | comparable, max_size=4))
def test_answers_through_indexes_equal_a_full_scan(
    writes: list[tuple[str, Any]], wheres: list[dict[str, Any]], probes: list[Any]
) -> None:
    collection = Collection({}, "a", "b", "a.b", "a.0")
    for key, value in writes:
        if value is not MISSING:
            collection.set(key, value)
        elif key in collection.records:
            collection.delete(key)
    for where in wheres:
        for sort in (None, "a", [("b", -1)]):
            for limit in (None, 2):
                options = {"sort": sort, "limit": limit}
                assert collection.find(where, **options) == collection.scan(where, **options)
    for probe in probes:
        for path in ("a", "b"):
            index = collection.index(path)
            if probe is not None:
                matcher = compile_where({path: probe})
                expected = [k for k, v in collection.records.items() if matcher(k, v)]
                assert index.equal([probe]) == expected
            if isinstance(probe, (int, float, str)) and not isinstance(probe, bool):
                matcher = compile_where({path: {"$gte": probe}})
                expected = [k for k, v in collection.records.items() if matcher(k, v)]
                assert index.between((probe, True), None) == expected

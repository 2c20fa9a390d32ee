"""The filter language in Python: each rule, the errors, sorting, projection, paging, and the
compiled matcher against a naive evaluator on generated records and filters."""

from __future__ import annotations

import pickle
from typing import Any

import pytest
from hypothesis import given

from asyncjsondb import DatabaseError, InvalidQueryError
from asyncjsondb.ordering import parse_sort_text
from asyncjsondb.query import Query, compile_where, parse_where_text
from tests.query_strategies import (
    BOUNDED,
    GRID_RECORDS,
    filter_lists,
    grid_filters,
    lookup,
    naive_match,
    naive_sort_key,
    record_lists,
    sort_fields,
    sortable_records,
)

PEOPLE: list[tuple[str, Any]] = [
    ("ann", {"name": "Ann", "age": 31, "tags": ["admin", "dev"], "address": {"city": "Oslo"}}),
    ("bob", {"name": "Bob", "age": 25.0, "tags": "dev", "address": {"city": "Rome"}}),
    ("cid", {"name": "Cid", "age": "31", "tags": [["dev"]], "active": True}),
    ("dan", {"name": "Dan", "age": None, "active": 1}),
    ("eve", {"name": "Eve", "age": [20, 40]}),
    ("num", 31),
    ("lst", ["dev"]),
]


def keys(where: Any, **options: Any) -> list[str]:
    return [key for key, _ in Query.parse(where, **options).run(PEOPLE)]


def test_equality_reaches_nested_fields_list_positions_and_the_key() -> None:
    assert keys({"name": "Ann"}) == ["ann"]
    assert keys({"address.city": "Rome"}) == ["bob"]
    assert keys({"tags.1": "dev"}) == ["ann"]
    assert keys({"tags.0.0": "dev"}) == ["cid"]
    assert keys({"_key": "dan"}) == ["dan"]
    assert keys({"_key": {"$gte": "d"}}) == ["dan", "eve"]


def test_equality_with_a_list_field_matches_the_whole_list_or_an_element() -> None:
    assert keys({"tags": "dev"}) == ["ann", "bob"]
    assert keys({"tags": ["admin", "dev"]}) == ["ann"]
    assert keys({"tags": ["dev", "admin"]}) == []
    assert keys({"tags": ["dev"]}) == ["cid"]


def test_booleans_are_not_numbers_but_integers_equal_floats() -> None:
    assert keys({"active": True}) == ["cid"]
    assert keys({"active": 1}) == ["dan"]
    assert keys({"age": 25}) == ["bob"]
    assert keys({"active": {"$gte": 0}}) == ["dan"]


def test_comparisons_compare_numbers_with_numbers_and_strings_with_strings() -> None:
    assert keys({"age": {"$gt": 30}}) == ["ann", "eve"]
    assert keys({"age": {"$gte": "30"}}) == ["cid"]
    assert keys({"name": {"$lt": "B"}}) == ["ann"]
    assert keys({"name": {"$lt": 5}}) == []


def test_comparisons_on_a_list_field_hold_when_any_element_does() -> None:
    assert keys({"age": {"$gt": 35}}) == ["eve"]
    assert keys({"age": {"$gt": 25, "$lt": 30}}) == ["eve"]  # 40 > 25 and 20 < 30


def test_negations_and_null_match_records_without_the_field() -> None:
    assert keys({"active": {"$ne": True}}) == ["ann", "bob", "dan", "eve"]
    assert keys({"age": {"$nin": [31, None]}}) == ["bob", "cid", "eve"]
    assert keys({"active": None}) == ["ann", "bob", "eve"]
    assert keys({"age": None}) == ["dan"]
    assert keys({"active": {"$exists": False}}) == ["ann", "bob", "eve"]
    assert keys({"active": {"$exists": True}}) == ["cid", "dan"]
    assert keys({"age": {"$not": {"$gt": 30}}}) == ["bob", "cid", "dan"]


def test_a_record_that_is_not_an_object_matches_only_the_empty_filter() -> None:
    assert keys({}) == [key for key, _ in PEOPLE]
    assert keys(None) == [key for key, _ in PEOPLE]
    assert keys({"age": {"$exists": False}}) == []
    assert keys({"_key": "num"}) == []


def test_logical_operators() -> None:
    assert keys({"$or": [{"name": "Ann"}, {"age": 25}]}) == ["ann", "bob"]
    assert keys({"$and": [{"tags": "dev"}, {"age": {"$lt": 30}}]}) == ["bob"]
    assert keys({"$nor": [{"tags": "dev"}, {"age": None}]}) == ["cid", "eve"]
    assert keys({"$and": [{}]}) == ["ann", "bob", "cid", "dan", "eve"]


def test_in_takes_any_of_its_values_with_the_equality_rules() -> None:
    assert keys({"age": {"$in": [31, 25]}}) == ["ann", "bob"]
    assert keys({"tags": {"$in": ["admin", ["dev"]]}}) == ["ann", "cid"]
    assert keys({"age": {"$in": []}}) == []


@pytest.mark.parametrize(
    ("where", "problem", "location"),
    [
        ({"age": {"$regex": "^a"}}, "unknown operator '$regex'", "where['age']['$regex']"),
        ({"$where": "1"}, "unknown operator '$where'", "where['$where']"),
        ({"age": {"$in": 3}}, "$in takes a list", "where['age']['$in']"),
        ({"age": {"$nin": "ab"}}, "$nin takes a list", "where['age']['$nin']"),
        ([{"age": 3}], "a filter is a dict, not list", "where"),
        ({"$or": []}, "$or takes a non-empty list", "where['$or']"),
        ({"$and": [3]}, "a filter is a dict, not int", "where['$and'][0]"),
        ({"age": {"$gt": None}}, "$gt takes a number or a string", "where['age']['$gt']"),
        ({"age": {"$lt": True}}, "$lt takes a number or a string", "where['age']['$lt']"),
        ({"age": {"$exists": 1}}, "$exists takes true or false", "where['age']['$exists']"),
        ({"age": {"$not": 3}}, "$not takes an operator document", "where['age']['$not']"),
        ({"a..b": 1}, "empty segment", "where['a..b']"),
        ({"": 1}, "empty segment", "where['']"),
        ({"age": {1, 2}}, "set is not a JSON value", "where['age']"),
        ({"age": float("nan")}, "nan is not a JSON number", "where['age']"),
        ({"age": {"$eq": {1: 2}}}, "object keys in a filter must be str", "where['age']['$eq']"),
    ],
)
def test_bad_filters_raise_an_error_naming_the_problem_and_where(
    where: Any, problem: str, location: str
) -> None:
    with pytest.raises(InvalidQueryError) as caught:
        compile_where(where)
    assert caught.value.problem.startswith(problem)
    assert caught.value.location == location
    assert isinstance(caught.value, DatabaseError)
    assert location in str(caught.value)


def test_filters_nest_sixteen_levels_and_no_more() -> None:
    def nested(depth: int) -> dict[str, Any]:
        where: dict[str, Any] = {"a": 1}
        for _ in range(depth - 1):
            where = {"$and": [where]} if len(str(where)) % 2 else {"$or": [where]}
        return where

    compile_where({"a": {"$in": [[[[[[[[[[[[[[1]]]]]]]]]]]]]]}})  # 16 levels of dict and list
    with pytest.raises(InvalidQueryError, match="deeper than 16"):
        compile_where({"a": {"$in": [[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]}})
    with pytest.raises(InvalidQueryError, match="deeper than 16"):
        compile_where(nested(9))


def test_filters_given_as_text_are_json_of_at_most_4_kb() -> None:
    assert parse_where_text('{"age": {"$gt": 30}}') == parse_where_text(b'{"age":{"$gt":30}}')
    assert parse_where_text("{}") == Query.parse({}).where
    with pytest.raises(InvalidQueryError, match="not JSON"):
        parse_where_text("{age: 3}")
    big = '{"name": "' + "x" * 4100 + '"}'
    with pytest.raises(InvalidQueryError, match=r"4\d\d\d bytes, more than 4096"):
        parse_where_text(big)
    with pytest.raises(InvalidQueryError, match="deeper than 16"):
        parse_where_text("[" * 20 + "]" * 20)


def test_filters_of_one_shape_keep_their_own_operands() -> None:
    one, two = compile_where({"a": 1, "b": "x"}), compile_where({"a": 2, "b": "y"})
    assert (one("k", {"a": 1, "b": "x"}), one("k", {"a": 2, "b": "y"})) == (True, False)
    assert (two("k", {"a": 1, "b": "x"}), two("k", {"a": 2, "b": "y"})) == (False, True)


def test_query_errors_cross_process_boundaries() -> None:
    error = InvalidQueryError("unknown operator '$x'", location="where['$x']")
    copy = pickle.loads(pickle.dumps(error))
    assert (type(copy), str(copy), copy.location) == (
        InvalidQueryError,
        str(error),
        "where['$x']",
    )


def test_sort_by_field_list_and_direction_keeps_ties_in_insertion_order() -> None:
    assert keys({"name": {"$exists": True}}, sort="age") == ["dan", "bob", "ann", "cid", "eve"]
    assert keys(None, sort=[("age", -1)]) == ["eve", "cid", "ann", "bob", "dan", "num", "lst"]
    assert keys(None, sort=["active", "name"]) == ["num", "lst", "ann", "bob", "eve", "dan", "cid"]
    assert keys(None, sort=[["active", -1], ("_key", -1)]) == [
        "cid",
        "dan",
        "num",
        "lst",
        "eve",
        "bob",
        "ann",
    ]


def test_sort_across_types_goes_null_numbers_strings_objects_lists_booleans() -> None:
    mixed = [True, [1], {"a": 1}, "b", 2, None, "a", False, 1.5, {}, []]
    items = [(str(n), {"v": value}) for n, value in enumerate(mixed)]
    items.append(("missing", {}))
    ordered = [key for key, _ in Query.parse(sort="v").run(items)]
    assert ordered == ["5", "missing", "8", "4", "6", "3", "2", "9", "1", "10", "7", "0"]


def test_sort_text_form_and_bad_sorts() -> None:
    assert parse_sort_text("-age, name") == Query.parse(sort=[("age", -1), "name"]).sort
    for sort, problem in [
        (3, "sort takes a field or a list"),
        ([("age", 2)], "a direction is 1 or -1, not 2"),
        ([("age", True)], "a direction is 1 or -1, not True"),
        ([["age"]], "a sort item is a field or a (field, 1 | -1) pair"),
        (["a..b"], "empty segment"),
    ]:
        with pytest.raises(InvalidQueryError) as caught:
            Query.parse(sort=sort)
        assert caught.value.problem.startswith(problem)


def test_fields_keep_only_those_paths_nested_as_in_the_record() -> None:
    found = Query.parse({"_key": "ann"}, fields=["name", "address.city", "tags.0", "nope.x"])
    assert found.run(PEOPLE) == [
        ("ann", {"name": "Ann", "address": {"city": "Oslo"}, "tags": ["admin", "dev"]})
    ]
    both = Query.parse({"_key": "ann"}, fields=["address.city", "address", "_key"])
    assert both.run(PEOPLE)[0][1] == {"address": {"city": "Oslo"}, "_key": "ann"}
    assert Query.parse(fields=["name"]).run([("n", 3)]) == [("n", {})]
    with pytest.raises(InvalidQueryError, match="fields takes a list"):
        Query.parse(fields="name")


def test_skip_and_limit_apply_after_filtering_and_sorting() -> None:
    assert keys({"name": {"$gt": "A"}}, sort=[("name", -1)], skip=1, limit=2) == ["dan", "cid"]
    assert keys(None, skip=6) == ["lst"]
    assert keys(None, limit=0) == []
    for options in ({"skip": -1}, {"limit": 1.5}, {"skip": True}):
        with pytest.raises(InvalidQueryError, match="takes an int >= 0"):
            Query.parse(**options)


def _assert_matcher_agrees_with_naive(records: list[Any], wheres: Any) -> None:
    items = [(f"k{n}", record) for n, record in enumerate(records)]
    for where in wheres:
        matcher = compile_where(where)
        assert [matcher(key, value) for key, value in items] == [
            naive_match(key, value, where) for key, value in items
        ], where


def test_every_operator_on_every_kind_of_value_agrees_with_a_naive_evaluator() -> None:
    _assert_matcher_agrees_with_naive(GRID_RECORDS, grid_filters())


@BOUNDED
@given(records=record_lists, wheres=filter_lists)
def test_the_compiled_matcher_agrees_with_a_naive_evaluator(
    records: list[Any], wheres: list[dict[str, Any]]
) -> None:
    _assert_matcher_agrees_with_naive(records, wheres)


@BOUNDED
@given(records=sortable_records, sort=sort_fields)
def test_sorting_agrees_with_a_naive_stable_sort(
    records: list[Any], sort: list[tuple[str, int]]
) -> None:
    items = [(f"k{n}", record) for n, record in enumerate(records)]
    expected = list(items)
    for path, direction in reversed(sort):
        if direction == -1:  # stable and descending: reverse, sort, reverse back
            expected.reverse()
        expected.sort(key=lambda item: naive_sort_key(lookup(item[0], item[1], path)))
        if direction == -1:
            expected.reverse()
    assert Query.parse(sort=sort).run(items) == expected

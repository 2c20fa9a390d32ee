"""Hypothesis strategies for records, filters and sorts, and a naive evaluator of filters.

The evaluator is written from the rules of the filter language, one clause at a time, without
sharing code with ``asyncjsondb.query``: the compiled matcher must agree with it.
"""

from __future__ import annotations

import operator
import re
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

BOUNDED = settings(
    max_examples=100,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

FIELDS = ["a", "b", "c"]
PATHS = ["a", "a", "b", "b", "c", "a.b", "a.0", "b.1", "a.b.c", "_key", "0"]  # fields first
STRINGS = ["", "a", "ab", "B", "é", "z"]
NUMBERS = [0, 1, 2, -1, 1.0, 0.5, 2.5, -0.0]

scalars = st.none() | st.booleans() | st.sampled_from(NUMBERS) | st.sampled_from(STRINGS)
values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.sampled_from([*FIELDS, "0"]), children, max_size=3)
    ),
    max_leaves=6,
)
# Operands lean to scalars and short lists, so that they often meet the records' values.
operands = scalars | st.lists(scalars, max_size=2) | values
field_values = st.one_of(scalars, st.lists(scalars, max_size=3), values)
objects = st.dictionaries(st.sampled_from(FIELDS), field_values, max_size=3)
records = st.one_of(objects, objects, objects, values)  # mostly objects, as collections hold
record_lists = st.lists(records, max_size=12)

comparable = st.sampled_from(NUMBERS) | st.sampled_from(STRINGS)
operators = st.one_of(
    st.tuples(st.sampled_from(["$eq", "$ne"]), operands),
    st.tuples(st.sampled_from(["$in", "$nin"]), st.lists(operands, max_size=3)),
    st.tuples(st.sampled_from(["$gt", "$gte", "$lt", "$lte"]), comparable),
    st.tuples(st.sampled_from(["$gte", "$lte", "$lt", "$gt"]), comparable),
    st.tuples(st.just("$exists"), st.booleans()),
)
operator_documents = st.lists(operators, min_size=1, max_size=2).map(dict)
field_filters = st.one_of(
    st.builds(lambda path, value: {path: value}, st.sampled_from(PATHS), operands),
    st.builds(lambda path, ops: {path: ops}, st.sampled_from(PATHS), operator_documents),
    st.builds(lambda path, ops: {path: {"$not": ops}}, st.sampled_from(PATHS), operator_documents),
)
filters = st.recursive(
    field_filters | st.just({}),
    lambda children: (
        st.builds(
            lambda name, items: {name: items},
            st.sampled_from(["$and", "$or", "$nor"]),
            st.lists(children, min_size=1, max_size=3),
        )
        | st.lists(field_filters, min_size=2, max_size=3).map(
            lambda parts: {k: v for part in parts for k, v in part.items()}
        )
    ),
    max_leaves=5,
)
filter_lists = st.lists(filters, min_size=1, max_size=8)
sorts = st.lists(st.tuples(st.sampled_from(PATHS), st.sampled_from([1, -1])), max_size=2)
# For sorting, records whose few fields often hold values of every type.
sortable_records = st.lists(
    st.dictionaries(st.sampled_from(["a", "b"]), field_values, max_size=2), max_size=12
)
sort_fields = st.lists(
    st.tuples(st.sampled_from(["a", "b", "a.0", "_key"]), st.sampled_from([1, -1])),
    min_size=1,
    max_size=2,
)

# --- the naive evaluator ------------------------------------------------------------------

MISSING = object()
_COMPARE = {"$gt": operator.gt, "$gte": operator.ge, "$lt": operator.lt, "$lte": operator.le}


def lookup(key: str, record: Any, path: str) -> Any:
    if path == "_key":
        return key
    current = record
    for segment in path.split("."):
        if isinstance(current, dict) and segment in current:
            current = current[segment]
        elif (
            isinstance(current, list)
            and re.fullmatch(r"0|[1-9][0-9]*", segment)
            and int(segment) < len(current)
        ):
            current = current[int(segment)]
        else:
            return MISSING
    return current


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if is_number(a) or is_number(b):
        return is_number(a) and is_number(b) and a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def equals(found: Any, value: Any) -> bool:
    if found is MISSING:
        return value is None
    return same(found, value) or (isinstance(found, list) and any(same(e, value) for e in found))


def compares(found: Any, op: str, value: Any) -> bool:
    candidates = [found] + (found if isinstance(found, list) else [])
    return any(
        ((is_number(c) and is_number(value)) or (isinstance(c, str) and isinstance(value, str)))
        and _COMPARE[op](c, value)
        for c in candidates
    )


def operator_holds(found: Any, op: str, arg: Any) -> bool:
    if op == "$eq":
        return equals(found, arg)
    if op == "$ne":
        return not equals(found, arg)
    if op == "$in":
        return any(equals(found, item) for item in arg)
    if op == "$nin":
        return not any(equals(found, item) for item in arg)
    if op == "$exists":
        return (found is not MISSING) == arg
    if op == "$not":
        return not all(operator_holds(found, o, a) for o, a in arg.items())
    return compares(found, op, arg)


def clause_holds(key: str, record: Any, name: str, operand: Any) -> bool:
    if name == "$and":
        return all(document_holds(key, record, part) for part in operand)
    if name == "$or":
        return any(document_holds(key, record, part) for part in operand)
    if name == "$nor":
        return not any(document_holds(key, record, part) for part in operand)
    found = lookup(key, record, name)
    if isinstance(operand, dict) and any(k.startswith("$") for k in operand):
        return all(operator_holds(found, op, arg) for op, arg in operand.items())
    return equals(found, operand)


def document_holds(key: str, record: Any, where: dict[str, Any]) -> bool:
    return all(clause_holds(key, record, name, operand) for name, operand in where.items())


def naive_match(key: str, record: Any, where: dict[str, Any]) -> bool:
    if not where:
        return True
    return isinstance(record, dict) and document_holds(key, record, where)


def naive_sort_key(value: Any) -> tuple[int, Any]:
    if value is MISSING or value is None:
        return (0, 0)
    if isinstance(value, bool):
        return (5, value)
    if is_number(value):
        return (1, value)
    if isinstance(value, str):
        return (2, value)
    return (3, 0) if isinstance(value, dict) else (4, 0)


# --- a small exhaustive grid: every operator against every kind of value --------------------

GRID_SCALARS: list[Any] = [None, True, False, *NUMBERS, *STRINGS]
GRID_RECORDS: list[Any] = [
    {},
    *({"a": value} for value in GRID_SCALARS),
    *({"a": [value]} for value in GRID_SCALARS),
    {"a": [0, "a", None]},
    {"a": {"b": 1}},
    {"a": [[1]]},
    5,
]


def grid_filters() -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for value in GRID_SCALARS:
        found += [{"a": value}, {"a": {"$ne": value}}, {"a": {"$in": [value, "z"]}}]
        found += [{"a": {"$nin": [value]}}, {"a": {"$not": {"$eq": value}}}]
        if value is not None and not isinstance(value, bool):
            found += [{"a": {op: value}} for op in ("$gt", "$gte", "$lt", "$lte")]
    found += [{"a": [1]}, {"a": {"b": 1.0}}, {"a": {"$exists": True}}, {"a": {"$exists": False}}]
    return found

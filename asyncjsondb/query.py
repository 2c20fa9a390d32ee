"""The filter language: a subset of MongoDB's, checked once and compiled into a Python matcher.

A filter (``where``) is a dict: ``{"field": value}`` (equality) or ``{"field": {"$op": operand}}``
with ``$eq $ne $gt $gte $lt $lte $in $nin $exists $not``, combined with ``$and $or $nor``.
The rules, the same over PostgreSQL (``backends/postgres/query.py``):

- equality is typed (``True`` is not ``1``); against a list field it matches when the list equals
  the value or holds it; ``null`` also matches a missing field;
- ``$gt $gte $lt $lte`` take a number or a string and compare numbers with numbers, strings with
  strings (by code point); other values never match; on a list field any element may match;
- ``$ne``, ``$nin`` and ``$not`` are the negations, so they match records without the field;
- a record that is not an object matches only the empty filter ``{}``.

There is no regex operator: a pattern is a denial-of-service door on a shared server.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import CodeType
from typing import Any, Final, TypeAlias

from .errors import InvalidQueryError
from .ordering import (
    SortSpec,
    freeze,
    parse_fields,
    parse_sort,
    project,
    sort_items,
)
from .paths import MISSING, Path, parse_path

MAX_DEPTH: Final = 16
MAX_TEXT_BYTES: Final = 4096

Matcher: TypeAlias = Callable[[str, Any], bool]
COMPARISONS: Final = ("$gt", "$gte", "$lt", "$lte")
_FIELD_OPERATORS: Final = {"$eq", "$ne", "$in", "$nin", "$exists", "$not", *COMPARISONS}
_LOGICAL: Final = ("$and", "$or", "$nor")


@dataclass(frozen=True)
class Condition:
    """One test on one path: ``op`` is ``$eq``, ``$in``, ``$exists`` or a comparison."""

    path: Path
    op: str
    operand: Any


@dataclass(frozen=True)
class Logical:
    """``$and``, ``$or``, ``$nor`` or ``$not`` (one child) over other nodes."""

    op: str
    children: tuple[Node, ...]


Node: TypeAlias = "Condition | Logical"
MATCH_ALL: Final = Logical("$and", ())


def parse_where_text(text: str | bytes) -> Node:
    """Read a filter given as JSON text (from a URL or a command line), at most 4 KB."""
    size = len(text.encode() if isinstance(text, str) else text)
    if size > MAX_TEXT_BYTES:
        raise InvalidQueryError(f"the filter is {size} bytes, more than {MAX_TEXT_BYTES}")
    try:
        where = json.loads(text)
    except (ValueError, RecursionError) as error:
        raise InvalidQueryError(f"the filter is not JSON: {error}") from None
    return parse_where(where)


def parse_where(where: object) -> Node:
    """Check a filter and return its tree; raise ``InvalidQueryError`` naming what is wrong."""
    if where is None:
        return MATCH_ALL
    _check_depth(where)
    return _parse_document(where, "where")


def _check_depth(value: object, depth: int = 1) -> None:
    """Count nested dicts and lists, so that a hostile filter cannot exhaust the stack."""
    if isinstance(value, Mapping):
        value = list(value.values())
    if not isinstance(value, (list, tuple)):
        return
    if depth > MAX_DEPTH:
        raise InvalidQueryError(f"the filter nests deeper than {MAX_DEPTH} levels")
    for child in value:
        _check_depth(child, depth + 1)


def _parse_document(where: object, location: str) -> Node:
    if not isinstance(where, Mapping):
        raise InvalidQueryError(
            f"a filter is a dict, not {type(where).__name__}", location=location
        )
    nodes: list[Node] = []
    for name, operand in where.items():
        at = f"{location}[{name!r}]"
        if isinstance(name, str) and name.startswith("$"):
            nodes.append(_parse_logical(name, operand, at))
        else:
            nodes.extend(_parse_field(parse_path(name, location=at), operand, at))
    return _conjunction(nodes)


def _conjunction(nodes: list[Node]) -> Node:
    return nodes[0] if len(nodes) == 1 else Logical("$and", tuple(nodes))


def _parse_logical(name: str, operand: object, location: str) -> Node:
    if name not in _LOGICAL:
        raise InvalidQueryError(f"unknown operator {name!r}", location=location)
    if not isinstance(operand, (list, tuple)) or not operand:
        raise InvalidQueryError(f"{name} takes a non-empty list of filters", location=location)
    children = tuple(_parse_document(child, f"{location}[{i}]") for i, child in enumerate(operand))
    return Logical(name, children)


def _is_operator_document(operand: object) -> bool:
    return isinstance(operand, Mapping) and any(
        isinstance(name, str) and name.startswith("$") for name in operand
    )


def _parse_field(path: Path, operand: object, location: str) -> list[Node]:
    if not _is_operator_document(operand):
        return [Condition(path, "$eq", _json_operand(operand, location))]
    assert isinstance(operand, Mapping)
    return [_parse_operator(path, op, arg, f"{location}[{op!r}]") for op, arg in operand.items()]


def _parse_operator(path: Path, op: object, arg: object, location: str) -> Node:
    if op not in _FIELD_OPERATORS:
        raise InvalidQueryError(f"unknown operator {op!r}", location=location)
    if op in ("$eq", "$ne"):
        condition = Condition(path, "$eq", _json_operand(arg, location))
        return condition if op == "$eq" else Logical("$not", (condition,))
    if op in ("$in", "$nin"):
        if not isinstance(arg, (list, tuple)):
            raise InvalidQueryError(f"{op} takes a list, not {arg!r}", location=location)
        values = tuple(_json_operand(item, location) for item in arg)
        condition = Condition(path, "$in", values)
        return condition if op == "$in" else Logical("$not", (condition,))
    if op == "$exists":
        if not isinstance(arg, bool):
            raise InvalidQueryError(f"$exists takes true or false, not {arg!r}", location=location)
        return Condition(path, "$exists", arg)
    if op == "$not":
        if not _is_operator_document(arg):
            raise InvalidQueryError("$not takes an operator document", location=location)
        return Logical("$not", (_conjunction(_parse_field(path, arg, location)),))
    if isinstance(arg, bool) or not isinstance(arg, (int, float, str)):
        raise InvalidQueryError(f"{op} takes a number or a string, not {arg!r}", location=location)
    return Condition(path, str(op), _json_operand(arg, location))


def _json_operand(value: Any, location: str) -> Any:
    """Check that an operand is plain JSON; any sequence comes back as a list."""
    if isinstance(value, str) and "\x00" in value:  # PostgreSQL's text cannot hold it
        raise InvalidQueryError(
            "a value in a filter cannot hold a NUL character", location=location
        )
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidQueryError(f"{value!r} is not a JSON number", location=location)
        return value
    if isinstance(value, (list, tuple)):
        return [_json_operand(item, location) for item in value]
    if isinstance(value, Mapping):
        if not all(isinstance(name, str) for name in value):
            raise InvalidQueryError("object keys in a filter must be str", location=location)
        return {
            _json_operand(name, location): _json_operand(item, location)
            for name, item in value.items()
        }
    raise InvalidQueryError(f"{type(value).__name__} is not a JSON value", location=location)


# --- compiling into a matcher -------------------------------------------------------------

Test: TypeAlias = Callable[[Any], bool]
_NUMBER_TYPES: Final = (int, float)


def compile_where(where: object) -> Matcher:
    """The filter as a ``(key, value) -> bool`` function, built once for a whole scan.

    The filter becomes the source of one Python function, so a scan pays no interpretation per
    record. Only generated names go into that source; operands and field names are constants
    bound in its namespace, never text."""
    node = where if isinstance(where, (Condition, Logical)) else parse_where(where)
    if node == MATCH_ALL:
        return lambda key, value: True
    writer = _SourceWriter()
    body = writer.node(node)
    source = f"def match(k, v):\n    return type(v) is dict and {body}\n"
    namespace = writer.constants
    exec(_compiled(source), namespace)  # noqa: S102
    matcher: Matcher = namespace["match"]
    return matcher


@functools.lru_cache(maxsize=512)
def _compiled(source: str) -> CodeType:
    # The source depends on the filter's shape only, not its operands: a lookup repeated with
    # other values compiles once.
    return compile(source, "<asyncjsondb filter>", "exec")


class _SourceWriter:
    """Writes a filter as one Python expression over ``k`` (the key) and ``v`` (the value)."""

    def __init__(self) -> None:
        self.constants: dict[str, Any] = {"M": MISSING, "NUMBER": _NUMBER_TYPES}

    def constant(self, value: Any) -> str:
        name = f"c{len(self.constants)}"
        self.constants[name] = value
        return name

    def node(self, node: Node) -> str:
        if isinstance(node, Condition):
            return self.condition(node)
        parts = [self.node(child) for child in node.children] or ["True"]
        if node.op == "$and":
            return "(" + " and ".join(parts) + ")"
        if node.op == "$or":
            return "(" + " or ".join(parts) + ")"
        return "(not (" + " or ".join(parts) + "))"  # $not has one child, $nor many

    def condition(self, condition: Condition) -> str:
        field = self.field(condition.path)
        op, operand = condition.op, condition.operand
        kind = type(operand)
        if op == "$exists":
            return f"({field} is {'not ' if operand else ''}M)"
        elements = self.constant(compile_test(op, operand))
        fallback = f"(type(f) is list and {elements}(f))"
        if op == "$eq" and kind is str:  # a string equals strings only, in a list or not
            text = self.constant(operand)
            return f"((f := {field}) == {text} or (type(f) is list and {text} in f))"
        if op == "$eq" and kind in _NUMBER_TYPES:
            number = self.constant(operand)
            return f"(((f := {field}) == {number} and type(f) in NUMBER) or {fallback})"
        if op in COMPARISONS:
            types = "(str,)" if kind is str else "NUMBER"
            sign = {"$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}[op]
            bound = self.constant(operand)
            return f"((type(f := {field}) in {types} and f {sign} {bound}) or {fallback})"
        return f"{elements}({field})"

    def field(self, path: Path) -> str:
        if path.is_key:
            return "k"
        if len(path.segments) == 1:
            return f"v.get({self.constant(path.segments[0])}, M)"
        return f"{self.constant(path.resolve)}(k, v)"


def compile_test(op: str, operand: Any) -> Test:
    """A test of one field value (``MISSING`` when absent) against an operator and operand."""
    if op == "$exists":
        return (lambda found: found is not MISSING) if operand else (lambda found: found is MISSING)
    if op == "$in":
        tests = [compile_test("$eq", item) for item in operand]
        return lambda found: any(test(found) for test in tests)
    if op == "$eq":
        return _equality(operand)
    return _comparison(op, operand)


def _equality(operand: Any) -> Test:
    kind = type(operand)
    if kind is str:
        return lambda found: (
            found == operand if type(found) is str else (type(found) is list and operand in found)
        )
    if kind is int or kind is float:
        return lambda found: (
            found == operand and type(found) in _NUMBER_TYPES
            if type(found) is not list
            else any(item == operand and type(item) in _NUMBER_TYPES for item in found)
        )
    if operand is None:
        return lambda found: (
            found is None or found is MISSING or (type(found) is list and None in found)
        )
    if kind is bool:
        return lambda found: (
            found is operand or (type(found) is list and any(item is operand for item in found))
        )
    frozen = freeze(operand)
    return lambda found: (
        found is not MISSING
        and (
            freeze(found) == frozen
            or (type(found) is list and any(freeze(item) == frozen for item in found))
        )
    )


def _comparison(op: str, operand: Any) -> Test:
    kinds = (str,) if type(operand) is str else _NUMBER_TYPES
    compare: Callable[[Any], bool] = {
        "$gt": lambda found: found > operand,
        "$gte": lambda found: found >= operand,
        "$lt": lambda found: found < operand,
        "$lte": lambda found: found <= operand,
    }[op]

    def test(found: Any) -> bool:
        kind = type(found)
        if kind in kinds:
            return compare(found)
        return kind is list and any(type(item) in kinds and compare(item) for item in found)

    return test


# --- running a whole query over records ---------------------------------------------------


@dataclass(frozen=True)
class Query:
    """A checked query: filter, sort, projection and paging, ready to run many times."""

    where: Node
    sort: SortSpec
    fields: list[Path]
    skip: int
    limit: int | None

    @classmethod
    def parse(
        cls,
        where: object = None,
        *,
        sort: object = None,
        fields: object = None,
        skip: object = 0,
        limit: object = None,
    ) -> Query:
        for name, number in (("skip", skip), ("limit", limit)):
            if number is not None and (type(number) is not int or number < 0):
                raise InvalidQueryError(f"{name} takes an int >= 0, not {number!r}", location=name)
        assert isinstance(skip, int) and (limit is None or isinstance(limit, int))
        return cls(parse_where(where), parse_sort(sort), parse_fields(fields), skip, limit)

    def run(self, items: Iterable[tuple[str, Any]]) -> list[tuple[str, Any]]:
        """Filter, sort, page and project ``(key, value)`` pairs given in insertion order."""
        matcher = compile_where(self.where)
        found = [(key, value) for key, value in items if matcher(key, value)]
        if self.sort:
            sort_items(found, self.sort)
        end = None if self.limit is None else self.skip + self.limit
        page = found[self.skip : end]
        if self.fields:
            return [(key, project(key, value, self.fields)) for key, value in page]
        return page

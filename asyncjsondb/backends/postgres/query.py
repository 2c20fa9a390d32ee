"""The filter language as parameterised SQL over a jsonb column, with the rules of ``query.py``.

Operands always travel as ``$n`` parameters. Field paths are written into the SQL as quoted
literals, so that a query's path expression is the very expression an index was created on and
the planner can use the index. jsonb orders types its own way (and strings by the database's
collation), so comparisons are guarded by ``jsonb_typeof``, strings compare under ``COLLATE "C"``
(code point order, as Python), and sorting goes by an explicit type rank.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Final

from ...errors import InvalidQueryError
from ...ordering import SortSpec
from ...paths import Path, is_list_index
from ...query import COMPARISONS, Condition, Logical, Node

VALUE: Final = "value::jsonb"
KEY: Final = "key"
SEQ: Final = "seq"

_OPERATORS: Final = {"$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}
_RANK: Final = (
    "CASE jsonb_typeof({x}) WHEN 'number' THEN 1 WHEN 'string' THEN 2 WHEN 'object' THEN 3 "
    "WHEN 'array' THEN 4 WHEN 'boolean' THEN 5 ELSE 0 END"
)


def quote_literal(text: str) -> str:
    """An SQL string literal for ``text``, right whatever ``standard_conforming_strings`` says."""
    if "\x00" in text:
        raise InvalidQueryError("a field path cannot hold a NUL character")
    return "E'" + text.replace("\\", "\\\\").replace("'", "''") + "'"


def path_expression(path: Path, value: str = VALUE, key: str = KEY) -> str:
    """The jsonb a path reaches (SQL NULL when missing): also the expression to index."""
    if path.is_key:
        return f"to_jsonb({key}::text)"
    sql = f"({value})"
    for segment in path.segments:
        if is_list_index(segment):  # an array element, or an object member named so
            sql += f" #> '{{{segment}}}'"
        else:  # '->' with text never indexes an array, as in Python
            sql += f" -> {quote_literal(segment)}"
    return sql


@dataclass
class Parameters:
    """The values of ``$n`` placeholders, numbered from ``start`` (after the caller's own)."""

    start: int = 1
    values: list[Any] = field(default_factory=list)

    def add(self, value: Any, cast: str) -> str:
        self.values.append(value)
        return f"${self.start + len(self.values) - 1}::{cast}"

    def add_json(self, value: Any) -> str:
        return self.add(json.dumps(value, ensure_ascii=False, allow_nan=False), "jsonb")


@dataclass(frozen=True)
class Compiled:
    """An SQL fragment and the values of its placeholders."""

    sql: str
    parameters: list[Any]


def compile_where(node: Node, *, start: int = 1, value: str = VALUE, key: str = KEY) -> Compiled:
    """A WHERE condition for a checked filter; placeholders are numbered from ``start``."""
    parameters = Parameters(start)
    if node == Logical("$and", ()):
        return Compiled("true", [])
    body = _Compiler(parameters, value, key).node(node)
    return Compiled(f"(jsonb_typeof({value}) = 'object' AND {body})", parameters.values)


@dataclass
class _Compiler:
    parameters: Parameters
    value: str
    key: str

    def node(self, node: Node) -> str:
        if isinstance(node, Condition):
            return self.condition(node)
        parts = [self.node(child) for child in node.children]
        if not parts:  # the empty filter {}
            return "true"
        if node.op == "$not":
            return f"(NOT COALESCE({parts[0]}, false))"
        if node.op == "$nor":
            return f"(NOT COALESCE({' OR '.join(parts)}, false))"
        return "(" + f" {node.op[1:].upper()} ".join(parts) + ")"

    def condition(self, condition: Condition) -> str:
        x = path_expression(condition.path, self.value, self.key)
        op, operand = condition.op, condition.operand
        if op == "$exists":
            return f"({x} IS {'NOT ' if operand else ''}NULL)"
        if op == "$in":
            parts = [self.equality(x, item) for item in operand]
            return "(" + " OR ".join(parts) + ")" if parts else "false"
        if op == "$eq":
            return self.equality(x, operand)
        assert op in COMPARISONS
        return self.comparison(x, _OPERATORS[op], operand)

    def equality(self, x: str, operand: Any) -> str:
        if operand is None:
            return f"({x} IS NULL OR {x} = 'null'::jsonb OR {x} @> '[null]'::jsonb)"
        p = self.parameters.add_json(operand)
        if isinstance(operand, (dict, list)):  # '@>' would also take a part for the whole
            elements = f"EXISTS (SELECT 1 FROM jsonb_array_elements({x}) AS e(v) WHERE e.v = {p})"
            return f"({x} = {p} OR {_if_array(x, elements)})"
        # For a scalar, jsonb's '@>' is exactly "equals it, or is an array holding it", and
        # one operator a GIN index on the path serves.
        return f"({x} @> {p})"

    def comparison(self, x: str, sql_op: str, operand: Any) -> str:
        if isinstance(operand, str):
            p = self.parameters.add(operand, "text")
            kind, test = "string", f"({{v}} #>> '{{{{}}}}') COLLATE \"C\" {sql_op} {p}"
        else:
            p = self.parameters.add_json(operand)
            kind, test = "number", f"{{v}} {sql_op} {p}"
        scalar = f"(jsonb_typeof({x}) = '{kind}' AND {test.format(v=x)})"
        element = test.format(v="e.v")
        elements = (
            f"EXISTS (SELECT 1 FROM jsonb_array_elements({x}) AS e(v) "
            f"WHERE jsonb_typeof(e.v) = '{kind}' AND {element})"
        )
        return f"({scalar} OR {_if_array(x, elements)})"


def _if_array(x: str, sql: str) -> str:
    # CASE, not AND: PostgreSQL may evaluate AND's operands in any order, and
    # jsonb_array_elements raises on anything but an array.
    return f"CASE WHEN jsonb_typeof({x}) = 'array' THEN {sql} ELSE false END"


def compile_sort(spec: SortSpec, *, value: str = VALUE, key: str = KEY, seq: str = SEQ) -> str:
    """An ORDER BY list in the cross-type order of ``ordering.py``; ties by insertion order."""
    terms: list[str] = []
    for path, direction in spec:
        x = path_expression(path, value, key)
        order = "ASC" if direction == 1 else "DESC"
        terms += [
            f"{_RANK.format(x=x)} {order}",
            f"CASE WHEN jsonb_typeof({x}) = 'number' THEN {x} END {order}",
            f"CASE WHEN jsonb_typeof({x}) = 'string' THEN {x} #>> '{{}}' END COLLATE \"C\" {order}",
            f"CASE WHEN jsonb_typeof({x}) = 'boolean' THEN {x} END {order}",
        ]
    return ", ".join([*terms, f"{seq} ASC"])


def index_statements(
    name: str,
    table: str,
    path: Path,
    *,
    unique: bool,
    value: str = VALUE,
    collection: str = "collection_id",
    only: int | None = None,
) -> list[str]:
    """``CREATE INDEX`` statements for a path of one collection; ``table`` comes quoted.

    A btree on the path serves ranges and sorts and holds uniqueness (a record without the
    field indexes as NULL, so it never conflicts); a GIN index on the path serves equality,
    which ``@>`` expresses. With ``only`` (a collection id) both are partial indexes over that
    collection's rows, so a unique one says nothing of other collections; the btree then leaves
    the collection out of its columns: the planner drops a condition the predicate implies, and
    a leading column without a condition would make every lookup a walk of the whole index."""
    expression = path_expression(path, value)
    kind = "UNIQUE INDEX" if unique else "INDEX"
    partial = "" if only is None else f" WHERE {collection} = {int(only)}"
    columns = f"({expression})" if only is not None else f"{collection}, ({expression})"
    return [
        f'CREATE {kind} IF NOT EXISTS "{name}" ON {table} ({columns}){partial}',
        f'CREATE INDEX IF NOT EXISTS "{name}_contains" ON {table} '
        f"USING gin (({expression}) jsonb_path_ops){partial}",
    ]


def statistics_statement(name: str, table: str, path: Path, *, value: str = VALUE) -> str:
    """``CREATE STATISTICS`` on a path's expression (PostgreSQL 14 and later); ``name`` and
    ``table`` come quoted and qualified.

    The server keeps no statistics for the expressions of partial indexes, so without these it
    guesses how many records a filter on the path matches; guessing many, it walks a sorted
    query's order and filters instead of asking the index (a whole scan for a rare value)."""
    return (
        f"CREATE STATISTICS IF NOT EXISTS {name} ON ({path_expression(path, value)}) FROM {table}"
    )

"""Choosing an index for a query, and running a query through the plan chosen.

Only the conditions every match must meet (the top level and ``$and``) can narrow a scan.
The index then gives candidates, a superset of the answer, which the compiled filter still
checks; so a plan can make a query faster, never different. Equality and ``$in`` are preferred
(the fewest candidates first), then ranges. A range on the sort field of an index that holds
no lists hands its candidates over already sorted, so ``limit`` stops the walk early.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from typing import Any

from ...ordering import SortSpec, project, sort_items
from ...paths import MISSING
from ...query import COMPARISONS, Condition, Logical, Node, Query, compile_where
from .indexes import IndexSet, PathIndex

Bound = tuple[Any, bool]  # a value and whether it is included


@dataclass(frozen=True)
class Plan:
    """How a query will find its candidates: through one index, or by a scan (``index`` None)."""

    index: PathIndex | None = None
    kind: str = "scan"
    values: tuple[Any, ...] = ()
    lower: Bound | None = None
    upper: Bound | None = None
    ordered: bool = False  # candidates come in the query's sort order
    descending: bool = False

    def explain(self) -> dict[str, Any]:
        """What ``explain()`` shows a user: the index used (or None) and the plan."""
        if self.index is None:
            return {"index": None, "plan": "scan", "sorted_by_index": False}
        described: dict[str, Any] = {
            "index": self.index.path.text,
            "unique": self.index.unique,
            "plan": self.kind,
            "sorted_by_index": self.ordered,
        }
        if self.kind == "range":
            described["bounds"] = [_show(self.lower, ">"), _show(self.upper, "<")]
        else:
            described["values"] = list(self.values)
        return described

    def candidates(self) -> Iterator[str] | None:
        """Keys that may match, in insertion order or (``ordered``) in sort order; None: all."""
        index = self.index
        if index is None:
            return None
        if self.kind != "range":
            return iter(index.equal(self.values))
        if self.ordered:
            return index.walk(self.lower, self.upper, descending=self.descending)
        return iter(index.between(self.lower, self.upper))


def _show(bound: Bound | None, side: str) -> str | None:
    return None if bound is None else f"{side}{'=' if bound[1] else ''} {bound[0]!r}"


def choose(where: Node, sort: SortSpec, indexes: IndexSet) -> Plan:
    """The plan for a checked filter and sort over a collection's indexes."""
    conditions = [c for c in conjuncts(where) if c.path.text in indexes.indexes]
    lookups = [_lookup(c, indexes.indexes[c.path.text], sort) for c in conditions]
    found = [plan for plan in lookups if plan is not None]
    if found:
        return min(found, key=lambda plan: _estimate(plan))
    for path in _sort_first(sort, conditions):
        ranges = [c for c in conditions if c.path.text == path and c.op in COMPARISONS]
        if ranges:
            return _range(indexes.indexes[path], ranges, sort)
    return Plan()


def conjuncts(node: Node) -> Iterator[Condition]:
    if isinstance(node, Condition):
        yield node
    elif isinstance(node, Logical) and node.op == "$and":
        for child in node.children:
            yield from conjuncts(child)


def _lookup(condition: Condition, index: PathIndex, sort: SortSpec) -> Plan | None:
    if condition.op == "$eq" and condition.operand is not None:
        # Every match holds the same value then, unless some hold it in a list.
        ordered = index.lists == 0 and len(sort) == 1 and sort[0][0] == condition.path
        return Plan(index, "equality", (condition.operand,), ordered=ordered)
    if condition.op == "$in" and None not in condition.operand:
        return Plan(index, "in", tuple(condition.operand))
    return None  # null also matches records the index does not hold


def _estimate(plan: Plan) -> int:
    assert plan.index is not None
    return sum(plan.index.count(value) for value in plan.values)


def _sort_first(sort: SortSpec, conditions: list[Condition]) -> list[str]:
    """Paths with ranges, the first sort field first (its index may also give the order)."""
    paths = [c.path.text for c in conditions]
    first = [sort[0][0].text] if sort and sort[0][0].text in paths else []
    return first + [path for path in dict.fromkeys(paths) if path not in first]


def _range(index: PathIndex, ranges: list[Condition], sort: SortSpec) -> Plan:
    kind = type(ranges[0].operand) is str
    same = [c for c in ranges if (type(c.operand) is str) == kind]
    lower = _tightest([c for c in same if c.op in ("$gt", "$gte")], max)
    upper = _tightest([c for c in same if c.op in ("$lt", "$lte")], min)
    if index.lists and lower and upper:
        upper = None  # with lists, two bounds may be met by two different elements
    ordered = index.lists == 0 and len(sort) == 1 and sort[0][0] == index.path
    descending = ordered and sort[0][1] == -1
    return Plan(index, "range", lower=lower, upper=upper, ordered=ordered, descending=descending)


def _tightest(conditions: list[Condition], pick: Callable[..., Any]) -> Bound | None:
    if not conditions:
        return None
    value = pick(c.operand for c in conditions)
    strict = any(c.operand == value and c.op in ("$gt", "$lt") for c in conditions)
    return (value, not strict)


def run(
    query: Query,
    indexes: IndexSet,
    items: Callable[[], Iterable[tuple[str, Any]]],
    get: Callable[[str], Any],
) -> list[tuple[str, Any]]:
    """Answer a query through the plan chosen: ``items`` scans, ``get`` fetches one value."""
    plan = choose(query.where, query.sort, indexes)
    keys = plan.candidates()
    if keys is None:
        return query.run(items())
    found: Iterable[tuple[str, Any]] = _matching(keys, compile_where(query.where), get)
    if query.sort and not plan.ordered:
        found = list(found)
        sort_items(found, query.sort)
    return _page(query, found)


def _matching(
    keys: Iterator[str], matcher: Callable[[str, Any], bool], get: Callable[[str], Any]
) -> Iterator[tuple[str, Any]]:
    seen: set[str] = set()  # a key held under two list elements comes once
    for key in keys:
        if key not in seen:
            seen.add(key)
            value = get(key)
            if value is not MISSING and matcher(key, value):
                yield key, value


def _page(query: Query, found: Iterable[tuple[str, Any]]) -> list[tuple[str, Any]]:
    end = None if query.limit is None else query.skip + query.limit
    page = list(islice(found, query.skip, end))
    if query.fields:
        return [(key, project(key, value, query.fields)) for key, value in page]
    return page

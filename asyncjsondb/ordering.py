"""How JSON values compare in queries: typed equality, the cross-type sort order, sort specs.

Equality is strict about types: ``True`` is not ``1``, but ``1`` is ``1.0``; objects are equal
when they hold equal members whatever their order (as PostgreSQL's jsonb sees them). Sorting
follows MongoDB's order across types, ``missing/null < numbers < strings < objects < lists <
booleans``; inside a type numbers go by value, strings by code point, ``false`` before ``true``,
and objects (and lists) tie with one another, keeping insertion order, as every tie does.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Final

from .errors import InvalidQueryError
from .paths import Path, parse_path

SortSpec = list[tuple[Path, int]]

RANK_NULL: Final = 0
RANK_NUMBER: Final = 1
RANK_STRING: Final = 2
RANK_OBJECT: Final = 3
RANK_LIST: Final = 4
RANK_BOOLEAN: Final = 5

_RANKS: Final[dict[type, int]] = {
    int: RANK_NUMBER,
    float: RANK_NUMBER,
    str: RANK_STRING,
    dict: RANK_OBJECT,
    list: RANK_LIST,
    bool: RANK_BOOLEAN,
}

# Frozen booleans: distinct from the numbers 1 and 0 they would otherwise hash and compare as.
FROZEN_TRUE: Final = ("boolean", True)
FROZEN_FALSE: Final = ("boolean", False)


def rank(value: Any) -> int:
    """The position of a value's type in the cross-type order (missing ranks as null)."""
    return _RANKS.get(type(value), RANK_NULL)


def freeze(value: Any) -> Any:
    """A hashable stand-in for a JSON value; two values are equal exactly when these are.

    Strings, numbers and null stand for themselves, so the common index keys cost nothing."""
    kind = type(value)
    if kind is str or kind is int or kind is float or value is None:
        return value
    if kind is bool:
        return FROZEN_TRUE if value else FROZEN_FALSE
    if kind is dict:
        return ("object", frozenset((name, freeze(item)) for name, item in value.items()))
    return ("list", tuple(freeze(item) for item in value))


def sort_key(value: Any) -> tuple[int, Any]:
    """A key that orders any JSON value (or ``MISSING``) in the cross-type order."""
    kind = _RANKS.get(type(value), RANK_NULL)
    if kind in (RANK_NUMBER, RANK_STRING, RANK_BOOLEAN):
        return (kind, value)
    return (kind, 0)


def parse_sort(sort: object) -> SortSpec:
    """Check a sort: a field, or a list of fields and ``(field, 1 | -1)`` pairs."""
    if sort is None:
        return []
    if isinstance(sort, str):
        return [(parse_path(sort, location="sort"), 1)]
    if not isinstance(sort, (list, tuple)):
        raise InvalidQueryError(
            f"sort takes a field or a list of fields and (field, 1 | -1) pairs, "
            f"not {type(sort).__name__}",
            location="sort",
        )
    return [_parse_sort_item(item, f"sort[{position}]") for position, item in enumerate(sort)]


def _parse_sort_item(item: object, location: str) -> tuple[Path, int]:
    if isinstance(item, str):
        return parse_path(item, location=location), 1
    if isinstance(item, (list, tuple)) and len(item) == 2:
        field, direction = item
        if type(direction) is int and direction in (1, -1):
            return parse_path(field, location=location), direction
        raise InvalidQueryError(f"a direction is 1 or -1, not {direction!r}", location=location)
    raise InvalidQueryError(
        f"a sort item is a field or a (field, 1 | -1) pair, not {item!r}", location=location
    )


def parse_sort_text(text: str) -> SortSpec:
    """Read the command-line and URL form ``"-age,name"``: a leading ``-`` sorts descending."""
    spec: list[tuple[str, int]] = []
    for part in text.split(","):
        name = part.strip()
        spec.append((name[1:], -1) if name.startswith("-") else (name, 1))
    return parse_sort(spec)


def sort_items(items: list[tuple[str, Any]], spec: SortSpec) -> None:
    """Sort ``(key, value)`` pairs in place; ties keep the order they came in."""
    for path, direction in reversed(spec):
        items.sort(key=_item_key(path), reverse=direction == -1)


def _item_key(path: Path) -> Callable[[tuple[str, Any]], tuple[int, Any]]:
    return lambda item: sort_key(path.resolve(item[0], item[1]))


def project(key: str, value: Any, fields: Sequence[Path]) -> dict[str, Any]:
    """Keep only ``fields`` of a record, nested as in the record.

    A path walks objects only: where it meets a list (or ends) that whole value is kept."""
    result: dict[str, Any] = {}
    for path in fields:
        if path.is_key:
            result[path.text] = key
            continue
        source, target = value, result
        for position, segment in enumerate(path.segments):
            if type(source) is not dict or segment not in source:
                break
            source = source[segment]
            last = position == len(path.segments) - 1
            if last or type(source) is not dict:
                target[segment] = source
                break
            existing = target.get(segment)
            child = existing if type(existing) is dict else {}
            target[segment] = child
            target = child
    return result


def parse_fields(fields: object) -> list[Path]:
    """Check a projection: a list of dotted paths."""
    if fields is None:
        return []
    if isinstance(fields, str) or not isinstance(fields, (list, tuple)):
        raise InvalidQueryError("fields takes a list of dotted paths", location="fields")
    return [parse_path(field, location=f"fields[{i}]") for i, field in enumerate(fields)]

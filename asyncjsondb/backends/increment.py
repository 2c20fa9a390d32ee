"""What ``increment(key, "a.b")`` means on every backend: a dotted path, as in the query language.

The path walks as ``asyncjsondb.paths`` reads it: a segment names a field of an object, and a
canonical non-negative integer also indexes an existing list element. Objects missing on the way
are created (``{}``), so ``increment("k", "stats.views")`` on ``{}`` gives
``{"stats": {"views": 1}}``. Anything else in the way (a number, a string, ``null``, a list without
that element) refuses the increment, naming the part of the path that holds it; nothing changes.
A stored bare number is incremented whatever the path: there is no field to walk to.

The file engine walks decoded values with ``add``; PostgreSQL walks jsonb in SQL and raises the
same refusals through ``not_a_container`` and ``no_element`` (``depth`` = segments walked).
"""

from __future__ import annotations

from typing import Any

from ..errors import InvalidOperationError
from ..paths import Path, is_list_index

Number = int | float


def is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def nested(path: Path, amount: Number) -> dict[str, Any]:
    """The object a missing record becomes: ``{"a": {"b": amount}}`` for ``a.b``."""
    *outer, last = path.segments
    value: dict[str, Any] = {last: amount}
    for segment in reversed(outer):
        value = {segment: value}
    return value


def add(document: dict[str, Any], path: Path, amount: Number, collection: str, key: str) -> Number:
    """Add ``amount`` at ``path`` in ``document``, changed in place; return the new number.

    ``document`` is a private copy: objects created before a refusal are thrown away with it.
    """
    node: Any = document
    last = len(path.segments) - 1
    for depth, segment in enumerate(path.segments):
        slot: Any
        if type(node) is dict:
            slot = segment
            if segment not in node:
                node[segment] = {} if depth < last else 0
        elif type(node) is list:
            if not is_list_index(segment) or int(segment) >= len(node):
                raise no_element(path, depth, collection, key)
            slot = int(segment)
        else:
            raise not_a_container(path, depth, type(node).__name__, collection, key)
        if depth < last:
            node = node[slot]
            continue
        if not is_number(node[slot]):
            raise not_a_number(path, type(node[slot]).__name__, collection, key)
        node[slot] = result = node[slot] + amount
        return result  # type: ignore[no-any-return]
    raise AssertionError("a path has at least one segment")


def not_a_number(path: Path, found: str, collection: str, key: str) -> InvalidOperationError:
    problem = f"field {path.text!r} holds {found}, not a number"
    return InvalidOperationError(problem, collection=collection, key=key)


def not_a_container(
    path: Path, depth: int, found: str, collection: str, key: str
) -> InvalidOperationError:
    walked = ".".join(path.segments[:depth])
    problem = f"cannot increment {path.text!r}: {walked!r} holds {found}, not an object"
    return InvalidOperationError(problem, collection=collection, key=key)


def no_element(path: Path, depth: int, collection: str, key: str) -> InvalidOperationError:
    walked = ".".join(path.segments[:depth])
    segment = path.segments[depth]
    problem = f"cannot increment {path.text!r}: the list {walked!r} has no element {segment!r}"
    return InvalidOperationError(problem, collection=collection, key=key)

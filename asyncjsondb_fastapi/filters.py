"""Equality filters from query parameters: ``?active=true&role=admin``.

A query value is a string; it matches a stored field equal to that string, or to the value the
string spells in JSON (``true``, ``30``, ``null``, ``"30"``), booleans never matching numbers.
Repeating a parameter matches any of its values; different parameters must all match.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping
from typing import Any

Filters = dict[str, list[Any]]


def parse_filters(pairs: Iterable[tuple[str, str]], reserved: Collection[str]) -> Filters:
    """Group the query parameters other than ``reserved`` into field -> accepted values."""
    filters: Filters = {}
    for field, raw in pairs:
        if field not in reserved:
            filters.setdefault(field, []).extend(_candidates(raw))
    return filters


def _candidates(raw: str) -> list[Any]:
    try:
        spelled = json.loads(raw)
    except ValueError:
        return [raw]
    return [raw] if spelled == raw else [raw, spelled]


def matches(value: Any, filters: Filters) -> bool:
    """True when ``value`` is an object whose fields equal one accepted value of every filter."""
    if not filters:
        return True
    if not isinstance(value, Mapping):
        return False
    missing = object()
    return all(
        any(_same(value.get(field, missing), wanted) for wanted in accepted)
        for field, accepted in filters.items()
    )


def _same(stored: Any, wanted: Any) -> bool:
    return stored == wanted and isinstance(stored, bool) == isinstance(wanted, bool)

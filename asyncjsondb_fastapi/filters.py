"""The query of a list endpoint: ``?where=<json>&sort=-age,name&fields=name,age`` and the equality
shorthands ``?active=true&role=admin``, as one filter of the core's query language.

A shorthand's value is a string; it matches a stored field equal to that string, or to the value
the string spells in JSON (``true``, ``30``, ``null``, ``"30"``), booleans never matching numbers.
Repeating a parameter matches any of its values; different parameters (and ``where``) must all
match. Bad input raises the core's ``InvalidQueryError``, which the router answers with a 400.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable
from typing import Any

from asyncjsondb.ordering import parse_sort_text
from asyncjsondb.query import parse_where_text

SortSpec = list[tuple[str, int]]


def build_where(
    where: str | None, pairs: Iterable[tuple[str, str]], reserved: Collection[str]
) -> dict[str, Any]:
    """One filter: ``where`` (JSON text, checked) and every shorthand parameter."""
    parts: list[dict[str, Any]] = []
    if where:
        parse_where_text(where)  # size and syntax checked before the JSON is trusted
        parts.append(json.loads(where))
    accepted: dict[str, list[Any]] = {}
    for field, raw in pairs:
        if field not in reserved:
            accepted.setdefault(field, []).extend(_candidates(raw))
    parts += [{field: {"$in": values}} for field, values in accepted.items()]
    return parts[0] if len(parts) == 1 else {"$and": parts} if parts else {}


def _candidates(raw: str) -> list[Any]:
    try:
        spelled = json.loads(raw)
    except ValueError:
        return [raw]
    return [raw] if spelled == raw else [raw, spelled]


def parse_sort(text: str | None) -> SortSpec | None:
    """``"-age,name"`` as ``[("age", -1), ("name", 1)]`` (checked)."""
    if not text:
        return None
    return [(path.text, direction) for path, direction in parse_sort_text(text)]


def parse_fields(text: str | None) -> list[str] | None:
    """``"name,address.city"`` as a list of paths."""
    return [part.strip() for part in text.split(",")] if text else None

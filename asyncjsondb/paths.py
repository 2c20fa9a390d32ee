"""Dotted field paths of the query language: ``"address.city"``, ``"tags.0"``, ``"_key"``.

A segment walks into an object by name; a segment written as a plain non-negative integer
(``0``, ``17``, not ``01`` or ``-1``) also indexes a list. Nothing else walks into a list: there is
no implicit traversal of lists of objects, so that the same path means the same thing in Python
and over PostgreSQL's jsonb. ``"_key"`` names the record's key, not a field.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from .errors import InvalidQueryError

KEY_PATH: Final = "_key"
_INDEX = re.compile(r"0|[1-9][0-9]{0,17}")


class _Missing:
    """The value of a path that leads nowhere; distinct from JSON null."""

    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISSING"

    def __reduce__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing()


def is_list_index(segment: str) -> bool:
    """Whether ``segment`` can index a list (a canonical non-negative integer)."""
    return _INDEX.fullmatch(segment) is not None


@dataclass(frozen=True)
class Path:
    """A validated dotted path, split once."""

    text: str
    segments: tuple[str, ...]

    @property
    def is_key(self) -> bool:
        return self.text == KEY_PATH

    def resolve(self, key: str, value: Any) -> Any:
        """The value this path reaches in a record, or ``MISSING``."""
        if self.is_key:
            return key
        return resolve_segments(self.segments, value)

    def getter(self) -> Callable[[str, Any], Any]:
        """``resolve`` made for one path, for code that resolves it for every record."""
        if len(self.segments) == 1 and not self.is_key:
            name = self.segments[0]
            return lambda key, value: value.get(name, MISSING) if type(value) is dict else MISSING
        return self.resolve


def resolve_segments(segments: tuple[str, ...], value: Any) -> Any:
    for segment in segments:
        kind = type(value)
        if kind is dict:
            value = value.get(segment, MISSING)
        elif kind is list and is_list_index(segment):
            index = int(segment)
            value = value[index] if index < len(value) else MISSING
        else:
            return MISSING
        if value is MISSING:
            return MISSING
    return value


def parse_path(text: object, *, location: str = "") -> Path:
    """Check a dotted path: a non-empty ``str`` without empty segments or NUL characters."""
    where = location or repr(text)
    if not isinstance(text, str):
        kind = type(text).__name__
        raise InvalidQueryError(f"a field path must be a str, not {kind}", location=where)
    if "\x00" in text:
        raise InvalidQueryError("a field path cannot hold a NUL character", location=where)
    segments = tuple(text.split("."))
    if "" in segments:
        raise InvalidQueryError(f"empty segment in the field path {text!r}", location=where)
    return Path(text, segments)

"""Standard JSON in and out: orjson when the ``fast`` extra is installed, the stdlib otherwise.

Both paths accept and produce the same documents: UTF-8, no NaN or Infinity, ``str`` object keys,
integers within 64 bits. Values are kept in memory as their encoded bytes, so decoding is also how
callers get a private copy.
"""

from __future__ import annotations

import contextlib
import enum
import gc
import json
import math
import os
import re
import threading
import uuid
from collections.abc import Iterator
from typing import Any

from .errors import InvalidValueError

try:
    import orjson
except ImportError:  # pragma: no cover - exercised by the stdlib CI leg
    orjson = None  # type: ignore[assignment]

JSON_LIBRARY = "orjson" if orjson is not None else "json"
_INT64_MIN, _UINT64_MAX = -(2**63), 2**64 - 1  # what orjson can write


def _find_problem(value: Any, depth: int = 0) -> str | None:
    """Name what standard JSON cannot hold in ``value``, or None when it is fine."""
    if depth > 254:
        return "nesting deeper than 255 levels"
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value.encode()
        except UnicodeEncodeError:
            return "a string holds a lone surrogate, which UTF-8 cannot encode"
        return None
    if isinstance(value, uuid.UUID):
        return None  # written as its string, as orjson does
    if isinstance(value, enum.Enum):
        return _find_problem(value.value, depth + 1)  # written as its value, as orjson does
    if isinstance(value, int):
        return None if _INT64_MIN <= value <= _UINT64_MAX else f"integer {value} exceeds 64 bits"
    if isinstance(value, float):
        return None if math.isfinite(value) else f"{value!r} is not a finite number"
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                return f"object key {k!r} is not a str"
            problem = _find_problem(v, depth + 1)
            if problem:
                return problem
        return None
    if isinstance(value, (list, tuple)):
        for item in value:
            problem = _find_problem(item, depth + 1)
            if problem:
                return problem
        return None
    return f"{type(value).__name__} is not JSON serializable"


def _reject(value: Any) -> None:
    raise TypeError


if orjson is not None:
    _OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS

    def encode(value: Any) -> bytes:
        """Encode ``value`` as compact JSON bytes, or raise InvalidValueError naming the problem."""
        try:
            data = orjson.dumps(value, default=_reject, option=_OPTIONS)
        except (TypeError, orjson.JSONEncodeError):
            data = None
        # orjson writes NaN and Infinity as null: look closer only when a null is present.
        if data is None or (b"null" in data and _find_problem(value)):
            raise InvalidValueError(_find_problem(value) or "not JSON serializable")
        # orjson's bytes keep the allocation of its output buffer (about 4 KB, whatever the
        # length): stored as they are, a million small values would hold gigabytes. A copy
        # has exactly its length.
        return b"%b" % data  # the cheapest exact copy

    decode = orjson.loads

else:  # pragma: no cover - exercised by the stdlib CI leg

    def _like_orjson(value: Any) -> Any:
        if isinstance(value, uuid.UUID):
            return str(value)
        if isinstance(value, enum.Enum):
            return value.value
        raise TypeError(f"{type(value).__name__} is not JSON serializable")

    _encoder = json.JSONEncoder(
        ensure_ascii=False, allow_nan=False, separators=(",", ":"), default=_like_orjson
    )

    def encode(value: Any) -> bytes:
        """Encode ``value`` as compact JSON bytes, or raise InvalidValueError naming the problem."""
        problem = _find_problem(value)
        if problem:
            raise InvalidValueError(problem)
        return _encoder.encode(value).encode()

    def _no_constants(token: str) -> Any:
        raise ValueError(f"{token} is not standard JSON")

    def decode(data: bytes | str) -> Any:
        return json.loads(data, parse_constant=_no_constants)


DecodeError: type[Exception] = orjson.JSONDecodeError if orjson is not None else ValueError

# A run of 19+ digits is the only way to write an integer beyond 64 bits: rare, so a cheap
# search (every digit made a 0, then one find: ~20x faster than a regular expression) guards
# the exact, slower look.
_DIGITS_AS_ZEROS = bytes.maketrans(b"123456789", b"000000000")
_LONG_RUN = b"0" * 19


def may_hold_big_integers(data: bytes) -> bool:
    """False when ``data`` cannot hold an integer beyond 64 bits (no run of 19 digits)."""
    return _LONG_RUN in data.translate(_DIGITS_AS_ZEROS)


class IntegerRangeError(ValueError):
    """A file holds an integer beyond 64 bits, which orjson would round to a float."""

    def __init__(self, text: str, offset: int) -> None:
        self.offset = offset  # of the integer in the bytes checked, when found
        super().__init__(f"integer {text} exceeds 64 bits")


def _offset_of_number(data: bytes, text: str) -> int:
    """Where the number ``text`` stands in ``data`` as a value (not inside a string)."""
    token = rb"(?:^|(?<=[\[:,\s]))" + re.escape(text.encode()) + rb"(?=[\]},\s]|$)"
    found = re.search(token, data)
    return found.start() if found else 0


def check_integers(data: bytes) -> None:
    """Raise IntegerRangeError if the JSON ``data`` holds an integer beyond 64 bits.

    Values read from files go through this once, when loaded: the API never writes such an
    integer, and reading one as a rounded float would change data silently.
    """
    if not may_hold_big_integers(data):
        return

    def exact(text: str) -> int:
        number = int(text)
        if not _INT64_MIN <= number <= _UINT64_MAX:
            raise IntegerRangeError(text, _offset_of_number(data, text))
        return number

    json.loads(data, parse_int=exact)


def encode_key(key: str) -> bytes:
    """Encode a key (already known to be a str) as a JSON string."""
    return encode(key)


_pause_lock = threading.Lock()
_PROMOTE_ABOVE = 50_000  # new objects: a pass over fewer takes a few milliseconds
_pause_depth = 0
_was_enabled = False


@contextlib.contextmanager
def bulk_decoding() -> Iterator[None]:
    """Pause the cyclic garbage collector while many values are decoded.

    Decoding 100k values makes 100k+ new containers, which sets off dozens of collections that
    scan every live object, about half the time of a ``find``; decoded JSON holds no reference
    cycles, so reference counting frees it all the same. Nested and threaded uses are counted:
    the collector runs again when the last one ends, if it was running before the first.

    When that many new objects are still alive then, the collector's next young pass would scan
    them all at once and stall every thread (~100 ms per 100k records): they are promoted to its
    oldest generation first, without a scan (``gc.freeze`` then ``gc.unfreeze``), where only a
    full collection looks at them, as it would at any long-lived data. Nothing stays frozen:
    unless the application had frozen objects itself (then they join its frozen ones, since
    unfreezing would thaw the application's too). That is looked at once per process (counting
    frozen objects walks them all): an application should freeze before its first bulk read.
    """
    global _pause_depth, _was_enabled
    with _pause_lock:
        if _pause_depth == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _pause_depth += 1
    try:
        yield
    finally:
        with _pause_lock:
            _pause_depth -= 1
            if _pause_depth == 0 and _was_enabled:
                if gc.get_count()[0] > _PROMOTE_ABOVE:
                    _promote()
                gc.enable()


_application_froze: bool | None = None  # looked at once: counting frozen objects walks them all


def _promote() -> None:
    """Move every tracked object to the oldest generation, scanning none."""
    global _application_froze
    if _application_froze is None:
        _application_froze = gc.get_freeze_count() > 0
    gc.freeze()
    if not _application_froze:
        gc.unfreeze()


def _after_fork_in_child() -> None:
    global _pause_lock, _pause_depth, _application_froze
    _application_froze = None  # a server may freeze before it forks its workers
    if _pause_depth and _was_enabled:  # forked in the middle of another thread's find
        gc.enable()
    _pause_lock, _pause_depth = threading.Lock(), 0


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)

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
import weakref
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

    try:
        json.loads(data, parse_int=exact)
    except RecursionError:  # orjson reads 1024 levels, the stdlib's parser fewer; we write 255
        raise ValueError("nested too deeply to check its integers") from None


def encode_key(key: str) -> bytes:
    """Encode a key (already known to be a str) as a JSON string."""
    return encode(key)


_pause_lock = threading.Lock()
_PROMOTE_ABOVE = 50_000  # new objects: a pass over fewer takes a few milliseconds
_pause_depth = 0
_was_enabled = False
_held = 0  # references put in new containers during the pause (``holding``)


@contextlib.contextmanager
def bulk_decoding() -> Iterator[None]:
    """Pause the cyclic garbage collector while many values are decoded.

    Decoding 100k values makes 100k+ new containers, which sets off dozens of collections that
    scan every live object, about half the time of a ``find``; decoded JSON holds no reference
    cycles, so reference counting frees it all the same. Nested and threaded uses are counted:
    the collector runs again when the last one ends, if it was running before the first.

    When that many new objects are still alive then, or new containers hold that many
    references (``holding``), the collector's next young pass would scan them all at once and
    stall every thread (~100 ms per 100k records; ~10 ms per million references, a cache miss
    each, up to ten times that when they point all over memory): they are promoted to its
    oldest generation first, without a scan (``gc.freeze`` then ``gc.unfreeze``), where only a
    full collection looks at them, as at any long-lived data. Nothing stays frozen, unless the
    application had frozen objects itself (``freezes``): then the new objects join them, since
    unfreezing would thaw the application's too.
    """
    global _pause_depth, _was_enabled, _held
    if _pause_depth == 0 and gc.isenabled():
        freezes.look()  # before the pause: its look is a young pass
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
                if gc.get_count()[0] > _PROMOTE_ABOVE or _held > _PROMOTE_ABOVE:
                    _promote()
                gc.enable()
            if _pause_depth == 0:
                _held = 0


def holding(references: int) -> None:
    """Tell ``bulk_decoding`` that new containers (a list of a million keys, the slices of a
    copy) hold ``references``: few objects, but a young pass visits every reference in them."""
    global _held
    _held += references


def _promote() -> None:
    """Move every tracked object to the oldest generation, scanning none."""
    gc.freeze()
    if not freezes.application_froze:
        gc.unfreeze()
        freezes.rearm()  # the probe was moved with everything else


class _Probe:
    __slots__ = ("cycle", "__weakref__")

    def __init__(self) -> None:
        self.cycle = self  # garbage as soon as it is no longer referenced: a cycle


class FreezeWatch:
    """Whether the application has frozen objects (``gc.freeze``), known without counting them.

    ``gc.get_freeze_count()`` walks every frozen object: after a server froze its start-up
    state, that is one C call of ~100 ms, a stall of every thread. So it is called once, at
    import, when little or nothing is frozen; later freezes are caught by a probe: a reference
    cycle that is garbage from birth, so that the collector's next young pass frees it (and
    its weak reference's callback makes the next one), unless a freeze moved it out of the
    young generation first. A probe that outlives a young pass was frozen; should the
    application unfreeze, a full collection frees it, and the watch starts again.
    """

    def __init__(self) -> None:
        self._froze_before_import = gc.get_freeze_count() > 0
        self.application_froze = self._froze_before_import
        self._probe: weakref.ref[_Probe] | None = None
        self.rearm()

    def rearm(self, _freed: object = None) -> None:
        """Make a new probe, the current one being freed or moved by our own freeze."""
        if _freed is not None:
            if _freed is not self._probe:
                return  # an old probe's late callback: a newer one is on watch
            self.application_froze = self._froze_before_import  # it was not frozen, or no more
        self._probe = None if self._froze_before_import else weakref.ref(_Probe(), self.rearm)

    def look(self) -> None:
        """Find out whether a freeze took the probe: a young pass frees it, if none did."""
        watched = self._probe
        if watched is None or watched() is None:
            return  # freed (and replaced) already: no freeze since it was made
        passes = gc.get_stats()[0]["collections"]
        gc.collect(0)  # the young objects since the last pass: a few hundred, as a rule
        if gc.get_stats()[0]["collections"] > passes:  # not if another pass was under way
            self.application_froze = watched() is not None


freezes = FreezeWatch()


def _after_fork_in_child() -> None:
    global _pause_lock, _pause_depth, _held
    if _pause_depth and _was_enabled:  # forked in the middle of another thread's find
        gc.enable()
    _pause_lock, _pause_depth, _held = threading.Lock(), 0, 0


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)

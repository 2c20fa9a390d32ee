"""``<name>.json``: the readable, standard JSON object that is the source of truth at rest.

Written one record per line (``"key":value,``), which keeps the file readable, diffable and
greppable, and lets loading slice each value's bytes instead of parsing the file and encoding every
value again. Any other layout of a valid JSON object (a hand-edited file) loads too, more slowly.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Protocol

from ...bridge import sharing_the_gil
from ...codec import (
    DecodeError,
    IntegerRangeError,
    check_integers,
    decode,
    encode,
    encode_key,
    may_hold_big_integers,
)
from ...errors import CorruptFileError
from . import segments
from .atomic import Contents

EMPTY = b"{}\n"


class Pairs(Protocol):
    """Key -> encoded value pairs that know their number: a dict, or a ``slices.Copy``."""

    def __len__(self) -> int: ...

    def items(self) -> Iterable[tuple[str, bytes]]: ...


def render(data: Pairs) -> Iterator[bytes]:
    """Yield the snapshot of ``data`` (key -> encoded value) in chunks."""
    if not data:
        yield EMPTY
        return
    yield b"{\n"
    last = len(data) - 1
    for index, (key, value) in enumerate(data.items()):
        yield b"%b:%b%b" % (encode_key(key), value, b"\n" if index == last else b",\n")
    yield b"}\n"


def parse(raw: Contents, path: Path) -> segments.Records:
    """Parse a snapshot (``bytes``, or a map of them) into key -> encoded value;
    CorruptFileError names what is wrong."""
    if raw[:2] == b"{\n" and raw[-3:] == b"\n}\n":
        fast = _parse_lines(raw)
        if fast is not None:
            return fast
    return _parse_any(bytes(raw), path)


def _parse_lines(raw: Contents) -> segments.Records | None:
    """Slice our own one-record-per-line layout; None when the file is laid out otherwise.

    A block at a time (``_BLOCK`` bytes, so that no C call holds the GIL for long): one regular
    expression finds every ``"key":value,`` line (a simpler one first, for keys without
    escapes), one JSON call decodes the block's keys, and each value is validated on its own,
    in C (a corrupt value must fail at open, not at a later get).
    """
    data: segments.Records = {}
    try:
        for block in sharing_the_gil(_blocks(raw)):
            count = block.count(b"\n")
            lines = _PLAIN_LINE.findall(block)
            if len(lines) == count:  # no key holds an escape: its text is the key
                keys = decode(b'["%b"]' % b'","'.join([key for key, _ in lines]))
            else:
                lines = _LINE.findall(block)
                if len(lines) != count:  # a line that is not "key":value,
                    return None
                keys = decode(b"[%b]" % b",".join([key for key, _ in lines]))
            values = [value for _, value in lines]
            deque(map(decode, values), maxlen=0)  # validates, in C
            if may_hold_big_integers(block):
                deque(map(check_integers, values), maxlen=0)
            data = segments.added(data, keys, values)
    except (DecodeError, ValueError):
        return None
    return data


_BLOCK = 1 << 17  # bytes parsed at once: a millisecond or so of C calls
# A line: a JSON string (no raw newline, escapes whole), a colon, the value, a comma.
_LINE = re.compile(rb'^("(?:[^"\\\n]|\\.)*"):(.*),\n', re.MULTILINE)
_PLAIN_LINE = re.compile(rb'^"([^"\\\n]*)":(.*),\n', re.MULTILINE)  # faster: no escapes


def _blocks(raw: Contents) -> Iterator[bytes]:
    """The lines between ``{\n`` and ``\n}\n``, a block of whole lines at a time, each line
    ending with ``,\n`` (the last one's comma added)."""
    start, end = 2, len(raw) - 3
    while start + _BLOCK < end:
        stop = raw.find(b"\n", start + _BLOCK, end) + 1
        if stop <= 0:
            break
        yield raw[start:stop]
        start = stop
    yield raw[start:end] + b",\n"


def _parse_any(raw: bytes, path: Path) -> segments.Records:
    if not raw.strip():
        raise CorruptFileError(
            path, "the file is empty; a collection file holds a JSON object", position=0
        )
    try:
        check_integers(raw)
        document = decode(raw)
    except IntegerRangeError as exc:
        raise CorruptFileError(path, str(exc), position=exc.offset) from exc
    except (DecodeError, ValueError, UnicodeDecodeError) as exc:
        position = _byte_of(exc, raw)
        raise CorruptFileError(path, f"not valid JSON ({exc})", position=position) from exc
    if not isinstance(document, dict):
        kind = type(document).__name__
        problem = f"holds a JSON {kind}, not an object of key -> value"
        raise CorruptFileError(path, problem, position=len(raw) - len(raw.lstrip()))
    return segments.added({}, list(document), [encode(value) for value in document.values()])


def _byte_of(exc: Exception, raw: bytes) -> int:
    """The byte an error points at: the first that is not UTF-8, else the decoder's position
    (JSON decoders count characters, not bytes)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as bad:
        return bad.start
    index = getattr(exc, "pos", None)
    return len(text[:index].encode("utf-8")) if isinstance(index, int) else 0

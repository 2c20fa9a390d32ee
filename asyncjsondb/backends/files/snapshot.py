"""``<name>.json``: the readable, standard JSON object that is the source of truth at rest.

Written one record per line (``"key":value,``), which keeps the file readable, diffable and
greppable, and lets loading slice each value's bytes instead of parsing the file and encoding every
value again. Any other layout of a valid JSON object (a hand-edited file) loads too, more slowly.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

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

EMPTY = b"{}\n"


def render(data: dict[str, bytes]) -> Iterator[bytes]:
    """Yield the snapshot of ``data`` (key -> encoded value) in chunks."""
    if not data:
        yield EMPTY
        return
    yield b"{\n"
    last = len(data) - 1
    for index, (key, value) in enumerate(data.items()):
        yield b"%b:%b%b" % (encode_key(key), value, b"\n" if index == last else b",\n")
    yield b"}\n"


def parse(raw: bytes, path: Path) -> dict[str, bytes]:
    """Parse a snapshot into key -> encoded value; CorruptFileError names what is wrong."""
    if raw.startswith(b"{\n") and raw.endswith(b"\n}\n"):
        fast = _parse_lines(raw)
        if fast is not None:
            return fast
    return _parse_any(raw, path)


def _parse_lines(raw: bytes) -> dict[str, bytes] | None:
    """Slice our own one-record-per-line layout; None when the file is laid out otherwise."""
    data: dict[str, bytes] = {}
    careful = may_hold_big_integers(raw)  # else no value needs the look
    lines: list[bytes] = []
    last = -1
    try:
        for lines, is_last in _blocks_of_lines(raw):
            last = len(lines) - 1 if is_last else -1
            for index, line in enumerate(lines):
                if index != last:
                    if not line.endswith(b","):
                        return None
                    line = line[:-1]
                colon = _key_end(line)
                if colon < 0:
                    return None
                key = decode(line[:colon])
                value = line[colon + 1 :]
                decode(value)  # validates: a corrupt value must fail at open, not at a later get
                if careful:
                    check_integers(value)
                data[key] = value
    except (DecodeError, ValueError):
        return None
    return data


_BLOCK = 1 << 20  # bytes split at once: one long C call would hold the GIL, and every event loop


def _blocks_of_lines(raw: bytes) -> Iterator[tuple[list[bytes], bool]]:
    """The lines between ``{\n`` and ``\n}\n``, a block at a time; True with the last block."""
    start, end = 2, len(raw) - 3
    while True:
        stop = raw.find(b"\n", start + _BLOCK, end) if start + _BLOCK < end else -1
        if stop < 0:
            yield raw[start:end].split(b"\n"), True
            return
        yield raw[start:stop].split(b"\n"), False
        start = stop + 1


def _key_end(line: bytes) -> int:
    """Index of the ``:`` that ends the leading JSON string key, or -1."""
    if not line.startswith(b'"'):
        return -1
    search = 1
    while True:
        quote = line.find(b'":', search)
        if quote < 0:
            return -1
        backslashes = len(line[:quote]) - len(line[:quote].rstrip(b"\\"))
        if backslashes % 2 == 0:
            return quote + 1
        search = quote + 1


def _parse_any(raw: bytes, path: Path) -> dict[str, bytes]:
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
    return {key: encode(value) for key, value in document.items()}


def _byte_of(exc: Exception, raw: bytes) -> int:
    """The byte an error points at: the first that is not UTF-8, else the decoder's position
    (JSON decoders count characters, not bytes)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as bad:
        return bad.start
    index = getattr(exc, "pos", None)
    return len(text[:index].encode("utf-8")) if isinstance(index, int) else 0

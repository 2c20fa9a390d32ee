"""``journal.scan`` reads blocks of plain sets in bulk and everything else line by line. It must
agree with the line-by-line scan it replaced (``reference_scan``, kept here as the oracle) on
every journal, whole, torn, damaged or crafted: the same records and valid end, or the same
CorruptFileError at the same byte."""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from asyncjsondb.backends.files import journal
from asyncjsondb.backends.files.journal import (
    BatchRecord,
    ClearRecord,
    DeleteRecord,
    Record,
    SetRecord,
)
from asyncjsondb.codec import DecodeError, encode, encode_key, may_hold_big_integers
from asyncjsondb.errors import CorruptFileError

PATH = Path("c.journal")


def reference_scan(buffer: bytes, path: Path, base: int) -> tuple[list[Record], int]:
    """The scan as it was before the bulk path (c6b9535), one line at a time."""
    records: list[Record] = []
    position = 0
    careful = may_hold_big_integers(buffer)
    while (newline := buffer.find(b"\n", position)) >= 0:
        if not journal._verifies(buffer, position, newline):
            if newline + 1 == len(buffer) and journal._is_torn(buffer, position, newline):
                break
            raise CorruptFileError(path, "checksum", position=base + position)
        try:
            record = journal.decode_body(buffer[position + 8 : newline])
            if careful:
                journal._check_integers(record)
            records.append(record)
        except (ValueError, DecodeError) as exc:
            raise CorruptFileError(path, "not a record", position=base + position) from exc
        position = newline + 1
    if len(buffer) - position > 9 and journal._verifies(buffer, position, len(buffer) - 1):
        raise CorruptFileError(path, "lost newline", position=base + len(buffer) - 1)
    return records, position


plain_keys = st.sampled_from(["a", "b", "user:17", "k" * 30])
keys = st.one_of(
    plain_keys, plain_keys, plain_keys, st.sampled_from(['q"uote', "back\\slash", "tab\tkey"])
)
values = st.one_of(
    st.text("xyz09 ", max_size=12),
    st.integers(-(2**63), 2**63 - 1),
    st.lists(st.booleans(), max_size=3),
)


def a_set(key: str, value: Any) -> SetRecord:
    return SetRecord(key, encode_key(key), encode(value))


sets = st.builds(a_set, keys, values)
deletes = st.builds(lambda key: DeleteRecord(key, encode_key(key)), keys)
records = st.one_of(
    sets,
    sets,
    sets,
    deletes,
    st.just(ClearRecord()),
    st.builds(BatchRecord, st.lists(st.one_of(sets, deletes), min_size=1, max_size=3).map(tuple)),
)


@st.composite
def crafted(draw: st.DrawFn) -> bytes:
    """A frame whose checksum matches a body no writer makes, which must be refused ("verifies
    but is not a record") wherever it stands; or a writer's frame with its checksum in capitals
    (hex all the same)."""
    key, value = encode_key(draw(plain_keys)), encode(draw(values))
    length = b"%d" % len(key)
    body = draw(
        st.sampled_from(
            [
                b"s%d:%b%b" % (draw(st.integers(0, len(key) + 3)), key, value),  # wrong length
                b"s%b:%b{" % (length, key),  # a value that is not JSON
                b"s%b:%b%b" % (length, key, b"1" * 25),  # an integer beyond 64 bits
                b"s%b:%b[%b]" % (length, key, b"9" * 21),
                b"s3:ab%b" % value,  # a key that is not a JSON string
                b's5:"a\tb"%b' % value,  # a raw control character in the key
                b"s" + b"0" * 4400 + b"%b:%b%b" % (length, key, value),  # int() refuses it
                b"s%b:%b%b" % (length, key, value),  # a plain set after all
            ]
        )
    )
    checksum = b"%08x" % zlib.crc32(body)
    if draw(st.booleans()):
        checksum = checksum.upper()
    return checksum + body + b"\n"


@st.composite
def journals(draw: st.DrawFn) -> bytes:
    """Framed records, then perhaps damage: a byte changed, a torn tail, zeros past the end."""
    frames = draw(st.lists(st.one_of(records.map(journal.frame), crafted()), max_size=25))
    buffer = bytearray(b"".join(frames))
    damage = draw(st.sampled_from(["none", "byte", "cut", "zeros", "byte+zeros"]))
    if buffer and damage in ("byte", "byte+zeros"):
        at = draw(st.integers(0, len(buffer) - 1))
        buffer[at] = draw(st.sampled_from(b'\n\0xyz09"s:,{'))
    if buffer and damage == "cut":
        del buffer[draw(st.integers(0, len(buffer) - 1)) :]
    if damage in ("zeros", "byte+zeros") and len(buffer) > 8:
        start = draw(st.integers(len(buffer) - 8, len(buffer) - 1))
        buffer[start:] = bytes(len(buffer) - start)
    return bytes(buffer)


def outcome(scan: Any, buffer: bytes) -> tuple[list[Record], int] | tuple[str, int | None]:
    try:
        return scan(buffer, PATH, 100)  # type: ignore[no-any-return]
    except CorruptFileError as exc:
        return ("corrupt", exc.position)


@settings(max_examples=1000, deadline=None)
@given(journals(), st.sampled_from([1, 40, 200, 1 << 14]))
def test_the_bulk_scan_agrees_with_the_line_by_line_one(buffer: bytes, block: int) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(journal, "_SCAN_BLOCK", block)
        assert outcome(journal.scan, buffer) == outcome(reference_scan, buffer)


@pytest.mark.parametrize("deletes", [False, True])
def test_a_journal_of_plain_sets_and_deletes_is_read_in_bulk(
    monkeypatch: pytest.MonkeyPatch, deletes: bool
) -> None:
    """The bulk path is the one taken for the common journal (else the test above proves
    nothing about it): sets, and sets with a delete every seventh line."""
    value = {"pad": "x" * 80}
    written: list[Record] = [
        DeleteRecord(f"key{n - 1}", encode_key(f"key{n - 1}"))
        if deletes and n % 7 == 0
        else a_set(f"key{n}", value)
        for n in range(2000)
    ]
    buffer = b"".join(map(journal.frame, written))
    taken: list[bool] = []
    plain_records = journal._plain_records

    def counted(block: bytes, careful: bool) -> list[Record] | None:
        found = plain_records(block, careful)
        taken.append(found is not None)
        return found

    monkeypatch.setattr(journal, "_plain_records", counted)
    found, end = journal.scan(buffer, PATH, 0)
    assert end == len(buffer) and found == written
    assert len(taken) > 1 and all(taken)


@pytest.mark.parametrize("line", [0, 700, 1999])
def test_a_changed_byte_in_a_plain_set_is_caught_by_its_checksum(line: int) -> None:
    """A byte of a value changed (still JSON, still a plain set): only the checksum tells."""
    frames = [journal.frame(a_set(f"key{n}", "hello")) for n in range(2000)]
    position = sum(map(len, frames[:line]))
    frames[line] = frames[line].replace(b"hello", b"jello")
    with pytest.raises(CorruptFileError) as caught:
        journal.scan(b"".join(frames), PATH, 0)
    assert caught.value.position == position


def test_a_crafted_value_nested_too_deeply_to_check_is_corrupt_not_a_crash() -> None:
    """orjson reads it (1000 levels), the big-integer check's parser cannot: the line is named
    corrupt (the API never writes past 255 levels), not a RecursionError out of the open."""
    body = b's3:"a"%b1234567890123456789012%b' % (b"[" * 1000, b"]" * 1000)
    line = b"%08x%b\n" % (zlib.crc32(body), body)
    buffer = journal.frame(a_set("b", 1)) + line
    with pytest.raises(CorruptFileError) as caught:
        journal.scan(buffer, PATH, 0)
    assert caught.value.position == len(journal.frame(a_set("b", 1)))

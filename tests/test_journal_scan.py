"""``journal.scan`` reads blocks of plain sets in bulk and everything else line by line: both
ways must agree on every journal, whole, torn or damaged (the same records and valid end, or
the same CorruptFileError at the same byte)."""

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
from asyncjsondb.codec import encode, encode_key
from asyncjsondb.errors import CorruptFileError

PATH = Path("c.journal")
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
    """A frame whose checksum matches a body no writer makes: a set whose stated key length
    is wrong, which must be refused ("verifies but is not a record") wherever it stands."""
    key, value = encode_key(draw(plain_keys)), encode(draw(values))
    body = b"s%d:%b%b" % (draw(st.integers(0, len(key) + 3)), key, value)
    return b"%08x%b\n" % (zlib.crc32(body), body)


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


def outcome(buffer: bytes) -> tuple[list[Record], int] | tuple[str, int | None]:
    try:
        return journal.scan(buffer, PATH, 100)
    except CorruptFileError as exc:
        return ("corrupt", exc.position)


@settings(max_examples=1000, deadline=None)
@given(journals(), st.sampled_from([1, 40, 200, 1 << 17]))
def test_bulk_and_line_by_line_agree(buffer: bytes, block: int) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(journal, "_SCAN_BLOCK", block)
        bulk = outcome(buffer)
        patch.setattr(journal, "_plain_sets", lambda block, careful: None)
        line_by_line = outcome(buffer)
    assert bulk == line_by_line


def test_a_journal_of_plain_sets_is_read_in_bulk(monkeypatch: pytest.MonkeyPatch) -> None:
    """The bulk path is the one taken for the common journal (else the test above proves
    nothing about it)."""
    buffer = b"".join(
        journal.frame(a_set(f"key{n}", {"n": n, "pad": "x" * 80})) for n in range(2000)
    )
    taken: list[int] = []
    plain_sets = journal._plain_sets

    def counted(block: bytes, careful: bool) -> list[SetRecord] | None:
        found = plain_sets(block, careful)
        taken.append(found is not None)
        return found

    monkeypatch.setattr(journal, "_plain_sets", counted)
    found, end = journal.scan(buffer, PATH, 0)
    assert end == len(buffer) and len(found) == 2000
    assert found[1999] == a_set("key1999", {"n": 1999, "pad": "x" * 80})
    assert len(taken) > 1 and all(taken)

"""The files on disk: the snapshot's layout and parsing, and the journal's self-checking lines."""

from __future__ import annotations

import errno
import json
import mmap
import os
import zlib
from pathlib import Path

import pytest

from asyncjsondb import AsyncJSONDB, CorruptFileError, create_database
from asyncjsondb.backends.files import atomic, journal, snapshot
from asyncjsondb.backends.files.journal import BatchRecord, ClearRecord, DeleteRecord, SetRecord
from asyncjsondb.codec import encode
from tests.journal_tail import records_end, records_of

ROOT = Path(__file__).resolve().parent.parent


def _set(key: str, value: object) -> SetRecord:
    return SetRecord(key, encode(key), encode(value))


TRICKY_KEYS = ["plain", 'quote"inside', "back\\slash", 'both\\"":', "new\nline", "é☃", "", '":']


def test_snapshot_layout_is_one_record_per_line_and_standard_json() -> None:
    data = {key: encode({"n": i}) for i, key in enumerate(TRICKY_KEYS)}
    raw = b"".join(snapshot.render(data))
    assert raw.count(b"\n") == len(data) + 2
    assert json.loads(raw) == {key: {"n": i} for i, key in enumerate(TRICKY_KEYS)}
    assert snapshot.parse(raw, Path("x.json")) == data
    assert snapshot._parse_lines(raw) == data  # our own layout takes the fast path


def test_snapshot_of_nothing_is_an_empty_object() -> None:
    assert b"".join(snapshot.render({})) == b"{}\n"
    assert snapshot.parse(b"{}\n", Path("x.json")) == {}


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (b"", "the file is empty"),
        (b"{\n", "not valid JSON"),
        (b'{"a": NaN}', "not valid JSON"),
        (b"[1, 2]", "holds a JSON list"),
        (b'{\n"a":1,\n"b":tru\n}\n', "not valid JSON"),
        (b"\xff\xfe{}", "not valid JSON"),
    ],
)
def test_corrupt_snapshots_name_their_problem(raw: bytes, problem: str) -> None:
    with pytest.raises(CorruptFileError, match=problem) as caught:
        snapshot.parse(raw, Path("/db/users.json"))
    assert caught.value.path == Path("/db/users.json")


async def test_a_corrupt_collection_file_is_reported_and_never_overwritten(db_path: Path) -> None:
    db_path.mkdir()
    (db_path / "users.json").write_bytes(b'{"a": 1,,}')
    db = AsyncJSONDB(db_path)
    with pytest.raises(CorruptFileError, match=r"users\.json.*not valid JSON"):
        await db.get_collection("users")
    with pytest.raises(CorruptFileError):
        await db.get_collection("users")
    await db.close()
    assert (db_path / "users.json").read_bytes() == b'{"a": 1,,}'


def test_journal_lines_round_trip() -> None:
    records = [
        _set("a", {"x": 1}),
        DeleteRecord("b", encode("b")),
        ClearRecord(),
        BatchRecord((_set('k"1', [1]), DeleteRecord("k2", encode("k2")))),
        _set("é\n", None),
    ]
    buffer = b"".join(journal.frame(record) for record in records)
    parsed, valid = journal.scan(buffer, Path("j"), 0)
    assert parsed == records and valid == len(buffer)


def test_a_torn_tail_is_cut_off() -> None:
    good = journal.frame(_set("a", 1)) + journal.frame(_set("b", 2))
    half = journal.frame(_set("c", 3))[:-5]
    unwritten = b"\0" * 8 + journal.frame(_set("c", 3))[8:]  # a sector never reached the disk
    for tail in (half, unwritten, b"\0" * 40):
        records, valid = journal.scan(good + tail, Path("j"), 0)
        assert [r.key for r in records] == ["a", "b"]  # type: ignore[union-attr]
        assert valid == len(good)


def test_a_damaged_end_that_no_tear_leaves_raises() -> None:
    good = journal.frame(_set("a", 1)) + journal.frame(_set("b", 2))
    half = journal.frame(_set("c", 3))[:-5]
    for tail in (half + b"\n", b"garbage\n\0\0", b"\0\n" + half):
        with pytest.raises(CorruptFileError) as caught:
            journal.scan(good + tail, Path("j"), 0)
        assert caught.value.position == len(good)


def test_corruption_before_the_tail_raises() -> None:
    lines = [journal.frame(_set(str(i), i)) for i in range(3)]
    broken = bytearray(b"".join(lines))
    broken[len(lines[0]) + 12] ^= 0x01  # one bit of the second line's body
    with pytest.raises(CorruptFileError, match="fails its checksum") as caught:
        journal.scan(bytes(broken), Path("/db/c.journal"), 100)
    assert caught.value.position == 100 + len(lines[0])


def test_checksums_cover_the_body() -> None:
    line = journal.frame(_set("a", 1))
    assert int(line[:8], 16) == zlib.crc32(line[8:-1])


async def test_open_replays_the_journal_and_truncates_a_torn_tail(db_path: Path) -> None:
    db = AsyncJSONDB(db_path)
    c = await db.get_collection("c")
    await c.set_many({"a": 1, "b": 2})
    await c.delete("a")
    await c.increment("n")
    journal_path = db_path / "c.journal"
    complete = records_of(journal_path)
    # Simulate a crash: nothing is folded (the file is copied before close), a half line appended.
    crashed = db_path.parent / "crashed"
    crashed.mkdir()
    (crashed / "c.json").write_bytes((db_path / "c.json").read_bytes())
    (crashed / "c.journal").write_bytes(complete + journal.frame(_set("x", 9))[:-3])
    await db.close()
    async with create_database(crashed) as again:
        assert await (await again.get_collection("c")).items() == [("b", 2), ("n", {"value": 1})]
        assert (crashed / "c.journal").read_bytes() == complete
    assert json.loads((crashed / "c.json").read_text()) == {"b": 2, "n": {"value": 1}}


async def test_mid_journal_corruption_refuses_to_open_and_changes_nothing(db_path: Path) -> None:
    db_path.mkdir()
    (db_path / "c.json").write_bytes(b"{}\n")
    lines = [journal.frame(_set(str(i), i)) for i in range(3)]
    broken = bytearray(b"".join(lines))
    broken[12] ^= 0x02
    (db_path / "c.journal").write_bytes(bytes(broken))
    db = AsyncJSONDB(db_path)
    with pytest.raises(CorruptFileError, match=r"c\.journal at byte 0: a journal line fails"):
        await db.get_collection("c")
    await db.close()
    assert (db_path / "c.journal").read_bytes() == bytes(broken)
    assert (db_path / "c.json").read_bytes() == b"{}\n"


async def test_leftover_temp_files_are_removed_at_open(db_path: Path) -> None:
    db_path.mkdir()
    (db_path / "c.json").write_bytes(b'{"a":1}')
    stale = db_path / ".c.json.tmp-0123456789ab"
    stale.write_bytes(b'{"half')
    other = db_path / ".other.json.tmp-0123456789ab"
    other.write_bytes(b"x")
    async with create_database(db_path) as db:
        assert await (await db.get_collection("c")).get("a") == 1
        assert not stale.exists()
        assert (
            other.exists()
        )  # another collection's: removed when that one is opened, under its lock


def test_the_documented_journal_example_is_what_a_write_appends() -> None:
    documented = (ROOT / "docs" / "file-format.md").read_text(encoding="utf-8")
    written = journal.frame(_set("a", {"n": 1})) + journal.frame(DeleteRecord("a", encode("a")))
    assert f"```\n{written.decode()}```" in documented


async def test_small_appends_overwrite_the_zeros_written_ahead(db_path: Path) -> None:
    """An fdatasync that need not commit a new file size is the cheaper one (journal.py)."""
    async with AsyncJSONDB(db_path, durability="fsync", auto_compact=False) as db:
        c = await db.get_collection("c")
        await c.set("first", 1)
        journal_path = db_path / "c.journal"
        size = journal_path.stat().st_size
        assert size % 4096 == 0 and size > records_end(journal_path)
        for n in range(20):
            await c.set(f"k{n}", n)
            assert journal_path.stat().st_size == size  # no append grew the file
        assert await c.count() == 21
        await c.set("big", "x" * size)  # one that reaches past the zeros writes new ones
        assert journal_path.stat().st_size > records_end(journal_path) > size
        recorded = records_of(journal_path)
    crashed = db_path.parent / "copy"
    crashed.mkdir()
    (crashed / "c.journal").write_bytes(recorded + bytes(4096))
    async with AsyncJSONDB(crashed) as again:  # a journal without its .json: zeros are no records
        assert await (await again.get_collection("c")).count() == 22


def _frames_ending_at(boundary: int) -> tuple[bytes, bytes]:
    """Two frames: the second's newline is the byte at ``boundary``."""
    last = journal.frame(_set("b", 2))
    overhead = len(journal.frame(_set("a", "")))
    first = journal.frame(_set("a", "x" * (boundary - len(last) + 1 - overhead)))
    return first, last


@pytest.mark.parametrize("shift", [0, 1])
async def test_a_frame_torn_off_its_newline_at_a_sector_boundary_is_a_torn_append(
    db_path: Path, shift: int
) -> None:
    """A tear stops on a sector boundary (a power cut) or a page's (a killed write): a whole
    frame but its newline, then the zeros written ahead, is an append never finished. Anywhere
    else, that NUL in place of the newline is damage (shift 1)."""
    first, last = _frames_ending_at(4096 + shift)
    assert len(first) + len(last) - 1 == 4096 + shift
    db_path.mkdir()
    (db_path / "c.json").write_bytes(b"{}\n")
    (db_path / "c.journal").write_bytes(first + last[:-1] + bytes(4096))
    if shift:
        with pytest.raises(CorruptFileError, match="lost its newline"):
            async with AsyncJSONDB(db_path) as db:
                await db.get_collection("c")
        return
    async with AsyncJSONDB(db_path) as db:
        c = await db.get_collection("c")
        assert await c.keys() == ["a"]
        assert records_of(db_path / "c.journal") == first  # the torn frame cut, nothing else


def test_a_snapshot_is_read_into_a_map_that_frees_without_the_gil(tmp_path: Path) -> None:
    """``read_mapped`` gives the file's exact bytes in an anonymous map (closed by ``let_go``),
    plain bytes for an empty file, and plain bytes when no map can be made."""
    path = tmp_path / "c.json"
    path.write_bytes(b'{\n"a":1\n}\n')
    loaded = atomic.read_mapped(path)
    assert loaded is not None
    contents, fd = loaded
    assert isinstance(contents, mmap.mmap) and contents[:] == b'{\n"a":1\n}\n'
    atomic.let_go(contents)
    assert contents.closed
    os.close(fd)
    path.write_bytes(b"")
    loaded = atomic.read_mapped(path)
    assert loaded is not None and loaded[0] == b""
    os.close(loaded[1])
    path.write_bytes(b"{}\n")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(mmap, "mmap", _refused)
        loaded = atomic.read_mapped(path)
    assert loaded is not None and loaded[0] == b"{}\n"
    os.close(loaded[1])
    assert atomic.read_mapped(tmp_path / "absent.json") is None


def _refused(*args: object) -> mmap.mmap:
    raise OSError(errno.ENOMEM, "Cannot allocate memory")

"""Damaged files are never read past silently: the exact data, or a CorruptFileError naming the
file and the byte; and the engine never writes a file it cannot read back."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from asyncjsondb import AsyncJSONDB, CorruptFileError, DatabaseError
from asyncjsondb.check import check_database
from tests.journal_tail import records_of, tear


async def _journal_of_three(path: Path) -> bytes:
    async with AsyncJSONDB(path) as db:
        c = await db.get_collection("c")
        await c.set("folded", 0)
        await db.compact()
        for key in ("x", "y", "z"):
            await c.set(key, 1)
        return records_of(path / "c.journal")


async def test_a_damaged_newline_mid_journal_is_reported(tmp_path: Path) -> None:
    journal = await _journal_of_three(tmp_path)
    ends = [i for i, byte in enumerate(journal) if byte == ord("\n")]
    damaged = journal[: ends[1]] + b"x" + journal[ends[1] + 1 :]
    (tmp_path / "c.journal").write_bytes(damaged)
    async with AsyncJSONDB(tmp_path) as db:
        with pytest.raises(CorruptFileError) as caught:
            await db.get_collection("c")
    assert Path(caught.value.path).name == "c.journal" and caught.value.position is not None
    assert (tmp_path / "c.journal").read_bytes() == damaged


async def test_a_damaged_final_newline_is_reported_not_cut_and_check_agrees(
    tmp_path: Path,
) -> None:
    journal = await _journal_of_three(tmp_path)
    damaged = journal[:-1] + b"x"  # the last acknowledged record's newline
    (tmp_path / "c.journal").write_bytes(damaged)
    async with AsyncJSONDB(tmp_path) as db:
        with pytest.raises(CorruptFileError) as caught:
            await db.get_collection("c")
    assert caught.value.position == len(journal) - 1
    assert (tmp_path / "c.journal").read_bytes() == damaged
    report = check_database(tmp_path, repair=True)
    assert [(p.path.name, p.repairable) for p in report.problems] == [("c.journal", False)]
    assert (tmp_path / "c.journal").read_bytes() == damaged


def _line(body: bytes) -> bytes:
    return b"%08x%b\n" % (zlib.crc32(body), body)


async def test_a_checksummed_line_that_is_not_json_is_refused(tmp_path: Path) -> None:
    await _journal_of_three(tmp_path)
    tear(tmp_path / "c.journal", _line(b's3:"b"{not json'))
    db = AsyncJSONDB(tmp_path)
    try:
        with pytest.raises(CorruptFileError):
            await (await db.get_collection("c")).get("b")
    finally:
        with contextlib.suppress(DatabaseError):
            await db.close()
        json.loads((tmp_path / "c.json").read_bytes())  # never a file it cannot read back


BIG_FILES = {
    "json-any-layout": ("c.json", b'{"a": 18446744073709551616}\n', 6),
    "json-engine-layout": ("c.json", b'{\n"a":[1,-9223372036854775809]\n}\n', 9),
    "journal": ("c.journal", _line(b's3:"a"18446744073709551616'), 0),
    "journal-batch": (
        "c.journal",
        _line(b's3:"z"1') + _line(b'b32:s3:"a"{"n":-9223372036854775809}'),
        16,  # where the second line starts
    ),
}
READ_BIG = """
import asyncio, sys
from pathlib import Path
if sys.argv[2] == "json":
    sys.modules["orjson"] = None  # as if the 'fast' extra were not installed
from asyncjsondb import AsyncJSONDB, CorruptFileError

async def main():
    async with AsyncJSONDB(sys.argv[1]) as db:
        try:
            print("read", repr(await (await db.get_collection("c")).get("a")))
        except CorruptFileError as exc:
            print("refused", Path(exc.path).name, exc.position)

asyncio.run(main())
"""


@pytest.mark.parametrize("library", ["orjson", "json"])
@pytest.mark.parametrize("where", list(BIG_FILES))
def test_an_integer_beyond_64_bits_is_refused_naming_file_and_byte(
    tmp_path: Path, where: str, library: str
) -> None:
    """Never rounded to a float: refused with both codecs, at the byte where the integer stands."""
    name, content, position = BIG_FILES[where]
    (tmp_path / name).write_bytes(content)
    done = subprocess.run(
        [sys.executable, "-c", READ_BIG, str(tmp_path), library],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["refused", name, str(position)]
    assert (tmp_path / name).read_bytes() == content  # never rewritten


async def test_a_hole_mid_journal_after_power_loss_is_reported_not_cut(tmp_path: Path) -> None:
    """With durability="flush" a power cut can leave zeros where a page never reached the disk;
    records after the hole were acknowledged, so the hole is reported, never cut off."""
    async with AsyncJSONDB(tmp_path, durability="flush") as db:
        c = await db.get_collection("c")
        await c.set("folded", 0)
        await db.compact()
        for key in ("w", "x", "y", "z"):
            await c.set(key, 1)
        journal = (tmp_path / "c.journal").read_bytes()
    starts = [0] + [i + 1 for i, byte in enumerate(journal) if byte == ord("\n")]
    holed = journal[: starts[1]] + bytes(starts[2] - starts[1]) + journal[starts[2] :]
    (tmp_path / "c.journal").write_bytes(holed)
    async with AsyncJSONDB(tmp_path) as db:
        with pytest.raises(CorruptFileError) as caught:
            await db.get_collection("c")
    assert Path(caught.value.path).name == "c.journal" and caught.value.position == starts[1]
    assert (tmp_path / "c.journal").read_bytes() == holed

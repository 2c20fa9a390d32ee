"""Damaged files are never read past silently: the exact data, or a CorruptFileError naming the
file and the byte; and the engine never writes a file it cannot read back."""

from __future__ import annotations

import contextlib
import json
import zlib
from pathlib import Path

import pytest

from asyncjsondb import AsyncJSONDB, CorruptFileError, DatabaseError
from asyncjsondb.check import check_database


async def _journal_of_three(path: Path) -> bytes:
    async with AsyncJSONDB(path) as db:
        c = await db.get_collection("c")
        await c.set("folded", 0)
        await db.compact()
        for key in ("x", "y", "z"):
            await c.set(key, 1)
        return (path / "c.journal").read_bytes()


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
    with open(tmp_path / "c.journal", "ab") as journal:
        journal.write(_line(b's3:"b"{not json'))
    db = AsyncJSONDB(tmp_path)
    try:
        with pytest.raises(CorruptFileError):
            await (await db.get_collection("c")).get("b")
    finally:
        with contextlib.suppress(DatabaseError):
            await db.close()
        json.loads((tmp_path / "c.json").read_bytes())  # never a file it cannot read back


@pytest.mark.xfail(strict=True, reason="defect 8: a big integer in a .json is read as a float")
async def test_an_integer_beyond_64_bits_is_exact_or_refused(tmp_path: Path) -> None:
    (tmp_path / "c.json").write_bytes(b'{"a": 18446744073709551616}\n')
    async with AsyncJSONDB(tmp_path) as db:
        try:
            value = await (await db.get_collection("c")).get("a")
        except CorruptFileError as exc:
            assert Path(exc.path).name == "c.json" and exc.position is not None
        else:
            assert value == 18446744073709551616 and isinstance(value, int)


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

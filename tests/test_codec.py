"""orjson (the `fast` extra) and the stdlib json fallback read and write the same documents."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from asyncjsondb import codec

VALUES = [None, True, 0, -(2**63), 2**64 - 1, 0.1, 1e16, -2.5e-8, 'é☃\n\t"\\', [1, {"a": []}], {}]


@pytest.mark.parametrize("value", VALUES)
def test_encoding_is_standard_json(value: object) -> None:
    raw = codec.encode(value)
    assert json.loads(raw) == value
    assert codec.decode(raw) == value
    assert b"\n" not in raw  # one record per line in the files depends on this


def test_non_standard_tokens_are_refused_on_read() -> None:
    for raw in (b"NaN", b"[Infinity]", b"-Infinity"):
        with pytest.raises(codec.DecodeError):
            codec.decode(raw)


STDLIB_RUN = textwrap.dedent(
    """
    import asyncio, sys
    sys.modules["orjson"] = None  # as if the 'fast' extra were not installed
    from asyncjsondb import AsyncJSONDB, InvalidValueError, codec

    assert codec.JSON_LIBRARY == "json", codec.JSON_LIBRARY

    async def main():
        async with AsyncJSONDB(sys.argv[1]) as db:
            c = await db.get_collection("c")
            await c.set("written by json", {"x": [1, 2.5, "é"], "n": None})
            assert await c.get("written by orjson") == {"big": 2**63, "s": "☃"}
            import enum, uuid
            await c.set("u", {"id": uuid.UUID(int=1), "e": enum.Enum("E", "A").A})
            assert await c.get("u") == {"id": "00000000-0000-0000-0000-000000000001", "e": 1}
            for bad in (float("nan"), {1: 2}, 2**64, {"s": {1}}, "\\ud800"):
                try:
                    await c.set("bad", bad)
                except InvalidValueError as error:
                    print("refused:", error.reason)
            assert not await c.exists("bad")
        try:
            codec.decode(b"[NaN]")
        except ValueError as error:
            print("refused on read:", error)

    asyncio.run(main())
    """
)


async def test_the_stdlib_fallback_reads_and_writes_the_same_files(tmp_path: Path) -> None:
    from asyncjsondb import AsyncJSONDB

    async with AsyncJSONDB(tmp_path) as db:
        await (await db.get_collection("c")).set("written by orjson", {"big": 2**63, "s": "☃"})
    done = subprocess.run(
        [sys.executable, "-c", STDLIB_RUN, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("refused:") == 5
    assert "lone surrogate" in done.stdout
    assert "refused on read: NaN is not standard JSON" in done.stdout
    async with AsyncJSONDB(tmp_path) as db:
        assert await (await db.get_collection("c")).get("written by json") == {
            "x": [1, 2.5, "é"],
            "n": None,
        }

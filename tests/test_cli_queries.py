"""``find``/``count`` with JSON filters, ``--sort``, ``--fields``, ``--skip``; ``index``."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from asyncjsondb import AsyncJSONDB
from tests.cli_support import cli, json_lines

PEOPLE = {
    "ann": {"name": "Ann", "age": 31, "address": {"city": "Oslo"}},
    "bob": {"name": "Bob", "age": 25, "address": {"city": "Rome"}},
    "cy": {"name": "Cy", "age": 40, "address": {"city": "Oslo"}},
}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    async def fill() -> None:
        async with AsyncJSONDB(tmp_path / "db") as db:
            await (await db.get_collection("people")).set_many(PEOPLE)

    asyncio.run(fill())
    return tmp_path / "db"


def test_find_with_a_json_filter_sort_fields_and_skip(folder: Path) -> None:
    where = json.dumps({"age": {"$gte": 30}})
    result = cli("find", folder, "people", "--where", where, "--sort", "-age", "--fields", "name")
    assert json_lines(result.out) == [
        {"key": "cy", "value": {"name": "Cy"}},
        {"key": "ann", "value": {"name": "Ann"}},
    ]
    result = cli("find", folder, "people", "--where", "address.city=Oslo", "--skip", "1")
    assert [line["key"] for line in json_lines(result.out)] == ["cy"]
    assert cli("count", folder, "people", "--where", where).out.strip() == "2"
    assert cli("count", folder, "people", "--where", where, "--where", "name=Cy").out == "1\n"


@pytest.mark.parametrize(
    "args",
    [
        ["find", "{folder}", "people", "--where", '{"age": {"$regex": "x"}}'],
        ["find", "{folder}", "people", "--where", "{not json"],
        ["find", "{folder}", "people", "--sort", "age,"],
        ["count", "{folder}", "people", "--where", "a..b=1"],
        ["index", "create", "{folder}", "people", "_key"],
    ],
)
def test_bad_queries_exit_2(folder: Path, args: list[str]) -> None:
    result = cli(*(arg.replace("{folder}", str(folder)) for arg in args))
    assert result.code == 2, result
    assert "invalid query" in result.err


def test_index_create_list_drop(folder: Path) -> None:
    assert cli("index", "create", folder, "people", "name", "--unique").code == 0
    assert "indexed already" in cli("index", "create", folder, "people", "name", "--unique").out
    assert json_lines(cli("index", "list", folder, "people").out) == [
        {"path": "name", "unique": True}
    ]
    refused = cli("set", folder, "people", "dup", '{"name": "Ann"}')
    assert refused.code == 1 and "unique index on 'name'" in refused.err
    assert cli("index", "create", folder, "people", "address.city", "--unique").code == 1
    assert cli("index", "drop", folder, "people", "name").code == 0
    assert cli("index", "drop", folder, "people", "name").code == 1
    assert cli("index", "list", folder, "people").out == ""

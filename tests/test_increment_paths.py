"""``increment(key, "a.b")`` walks a dotted path, as queries do, with the same answers on every
backend: missing objects are created, anything else in the way is refused and nothing changes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from asyncjsondb import AsyncJSONDB, InvalidOperationError, InvalidValueError
from asyncjsondb.query import compile_where
from tests.cli_support import cli, json_lines


async def test_a_dotted_field_is_nested_and_created_where_missing(db: AsyncJSONDB) -> None:
    c = await db.get_collection("counters")
    assert await c.increment("new", "stats.views") == 1
    assert await c.get("new") == {"stats": {"views": 1}}
    assert await c.increment("new", "stats.views", 4) == 5
    assert await c.increment("new", "stats.likes") == 1
    assert await c.increment("new", "a.b.c", 2) == 2
    assert await c.get("new") == {"stats": {"views": 5, "likes": 1}, "a": {"b": {"c": 2}}}
    await c.set("doc", {"title": "t"})
    assert await c.increment("doc", "stats.views", 2.5) == 2.5
    assert await c.get("doc") == {"title": "t", "stats": {"views": 2.5}}


async def test_the_path_is_the_query_languages(db: AsyncJSONDB) -> None:
    c = await db.get_collection("counters")
    await c.set("k", {"a": {"b": 1}, "a.b": 10, "scores": [3, {"n": 1}]})
    assert await c.increment("k", "a.b") == 2  # nested, never the literal "a.b" key
    assert await c.increment("k", "scores.0") == 4  # an existing list element
    assert await c.increment("k", "scores.1.n") == 2
    assert await c.increment("k", "scores.1.m.x", 3) == 3  # objects created inside a list too
    assert await c.get("k") == {"a": {"b": 2}, "a.b": 10, "scores": [4, {"n": 2, "m": {"x": 3}}]}
    assert compile_where({"a.b": 2, "scores.0": 4, "scores.1.n": 2})("k", await c.get("k"))


async def test_a_stored_null_becomes_the_nested_object(db: AsyncJSONDB) -> None:
    c = await db.get_collection("counters")
    await c.set("k", None)
    assert await c.increment("k", "a.b") == 1
    assert await c.get("k") == {"a": {"b": 1}}


@pytest.mark.parametrize(
    ("stored", "field", "problem"),
    [
        ({"a": 5}, "a.b", "cannot increment 'a.b': 'a' holds int, not an object"),
        ({"a": 2.5}, "a.b", "cannot increment 'a.b': 'a' holds float, not an object"),
        ({"a": {"b": "x"}}, "a.b.c", "cannot increment 'a.b.c': 'a.b' holds str, not an object"),
        ({"a": None}, "a.b", "cannot increment 'a.b': 'a' holds NoneType, not an object"),
        ({"a": [1]}, "a.1", "cannot increment 'a.1': the list 'a' has no element '1'"),
        ({"a": [1]}, "a.x", "cannot increment 'a.x': the list 'a' has no element 'x'"),
        ({"a": [1]}, "a.01", "cannot increment 'a.01': the list 'a' has no element '01'"),
        ({"a": {"b": True}}, "a.b", "field 'a.b' holds bool, not a number"),
        ({"a": {"b": None}}, "a.b", "field 'a.b' holds NoneType, not a number"),
        ({"a": [[1]]}, "a.0", "field 'a.0' holds list, not a number"),
    ],
)
async def test_anything_else_in_the_way_is_refused_and_nothing_changes(
    db: AsyncJSONDB, stored: dict[str, Any], field: str, problem: str
) -> None:
    c = await db.get_collection("counters")
    await c.set("k", stored)
    with pytest.raises(InvalidOperationError) as caught:
        await c.increment("k", field)
    assert str(caught.value) == f"counters['k']: {problem}"
    assert (caught.value.collection, caught.value.key) == ("counters", "k")
    assert await c.get("k") == stored


@pytest.mark.parametrize(
    ("field", "problem"),
    [
        ("", "empty segment in the field path ''"),
        ("a..b", "empty segment in the field path 'a..b'"),
        ("a.", "empty segment in the field path 'a.'"),
        ("a\x00b", "a field path cannot hold a NUL character"),
        ("_key", "names the record's key, not a field"),
    ],
)
async def test_a_malformed_path_is_refused_before_anything_runs(
    db: AsyncJSONDB, field: str, problem: str
) -> None:
    c = await db.get_collection("counters")
    with pytest.raises(InvalidValueError, match=problem.replace(".", r"\.").replace("(", r"\(")):
        await c.increment("k", field)
    assert not await c.exists("k")


def test_the_command_line_increments_the_same_path(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    first = cli("increment", folder, "pages", "home", "stats.views", "--create")
    assert (first.code, first.out) == (0, "1\n")
    assert cli("increment", folder, "pages", "home", "stats.views", "--by", "-3").out == "-2\n"
    assert cli("increment", folder, "pages", "hits", "--by", "2.5").out == "2.5\n"
    found = json_lines(cli("find", folder, "pages", "--where", "stats.views=-2").out)
    assert found == [{"key": "home", "value": {"stats": {"views": -2}}}]
    in_the_way = cli("increment", folder, "pages", "home", "stats.views.x")
    assert in_the_way.code == 1
    assert "'stats.views' holds int, not an object" in in_the_way.err
    assert cli("increment", folder, "pages", "home", "a..b").code == 2
    assert cli("increment", folder, "pages", "home", "--by", "true").code == 2
    assert json_lines(cli("get", folder, "pages", "home").out) == [{"stats": {"views": -2}}]


def test_where_on_the_command_line_reads_the_same_path(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    cli("set", folder, "c", "k", '{"scores": [3, {"n": 1}]}', "--create")
    cli("increment", folder, "c", "k", "scores.1.n")
    for condition in ("scores.0=3", "scores.1.n=2"):
        assert [
            hit["key"] for hit in json_lines(cli("find", folder, "c", "--where", condition).out)
        ] == ["k"]
    assert cli("find", folder, "c", "--where", "scores.2=3").out == ""
    empty = cli("find", folder, "c", "--where", "scores..0=3")
    assert empty.code == 2 and "empty segment in the field path 'scores..0'" in empty.err

"""The query language and indexes through the public API, on every backend (the ``db`` fixture).

The hypothesis property at the end holds the issue's promise: every answer equals what a plain
Python evaluation of the same filter over ``items()`` gives, with and without indexes.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from asyncjsondb import AsyncJSONDB, DuplicateKeyError, InvalidQueryError, InvalidValueError
from asyncjsondb.migrate import migrate
from asyncjsondb.query import Query
from tests.conftest import POSTGRES_URL, Location
from tests.proc_queries import indexes_and_answer, set_and_report
from tests.proc_workers import in_fresh_process
from tests.query_strategies import filters, naive_match, record_lists, sorts

PEOPLE: dict[str, Any] = {
    "ann": {"name": "Ann", "age": 31, "address": {"city": "Oslo"}, "tags": ["admin", "dev"]},
    "bob": {"name": "Bob", "age": 25, "address": {"city": "Rome"}, "tags": ["dev"]},
    "cy": {"name": "Cy", "age": 40, "address": {"city": "Oslo"}, "tags": []},
    "dee": {"name": "Dee", "age": "unknown"},
    "eve": {"name": "Eve", "age": 25, "active": True},
    "num": 7,
}


async def people(db: AsyncJSONDB) -> Any:
    collection = await db.get_collection("people")
    await collection.set_many(PEOPLE)
    return collection


async def test_where_sort_skip_limit_and_fields_together(db: AsyncJSONDB) -> None:
    found = await (await people(db)).find(
        where={"age": {"$gte": 25}}, sort=[("age", -1), "name"], skip=1, limit=2, fields=["name"]
    )
    assert found == [{"name": "Ann"}, {"name": "Bob"}]


async def test_dotted_paths_lists_and_the_key(db: AsyncJSONDB) -> None:
    collection = await people(db)
    assert [k for k, _ in await collection.find_items(where={"address.city": "Oslo"})] == [
        "ann",
        "cy",
    ]
    assert await collection.find(where={"tags": "dev"}, fields=["name"]) == [
        {"name": "Ann"},
        {"name": "Bob"},
    ]
    assert await collection.find(where={"tags.0": "dev"}, fields=["name"]) == [{"name": "Bob"}]
    assert await collection.find(where={"_key": {"$in": ["cy", "zed"]}}, fields=["_key"]) == [
        {"_key": "cy"}
    ]
    assert await collection.find(fields=["address.city"], limit=1) == [
        {"address": {"city": "Oslo"}}
    ]


async def test_type_rules_booleans_strings_and_missing_fields(db: AsyncJSONDB) -> None:
    collection = await people(db)
    assert await collection.count({"active": 1}) == 0  # True is not 1
    assert await collection.count({"active": True}) == 1
    assert await collection.count({"age": {"$gt": 0}}) == 4  # "unknown" is not a number
    assert await collection.count({"age": {"$ne": 25}}) == 3  # "unknown" too, not the bare 7
    assert await collection.count({"active": {"$exists": False}}) == 4  # not the bare 7
    assert await collection.count({}) == await collection.count() == 6


async def test_sort_across_types_keeps_ties_in_insertion_order(db: AsyncJSONDB) -> None:
    collection = await people(db)
    keys = [k for k, _ in await collection.find_items(sort="age")]
    assert keys == ["num", "bob", "eve", "ann", "cy", "dee"]  # missing, numbers, strings


async def test_filter_func_and_where_must_both_hold(db: AsyncJSONDB) -> None:
    collection = await people(db)
    found = await collection.find(lambda v: v["name"] != "Bob", where={"age": 25})
    assert found == [PEOPLE["eve"]]
    assert await collection.find(lambda v: v == 7) == [7]


async def test_find_one(db: AsyncJSONDB) -> None:
    collection = await people(db)
    assert (await collection.find_one({"age": 25}, sort=[("name", -1)]))["name"] == "Eve"
    assert await collection.find_one({"age": 99}) is None


@pytest.mark.parametrize(
    "arguments",
    [
        {"where": {"age": {"$regex": "^A"}}},
        {"where": {"age": {"$in": 3}}},
        {"where": [1]},
        {"where": {"a": {"$eq": "nul\x00"}}},
        {"sort": [("age", 2)]},
        {"fields": "name"},
        {"skip": -1},
    ],
)
async def test_bad_queries_raise_invalid_query_error(db: AsyncJSONDB, arguments: Any) -> None:
    collection = await people(db)
    with pytest.raises(InvalidQueryError):
        await collection.find(**arguments)
    assert await collection.count() == 6


async def test_deep_filters_and_bad_limits_are_refused(db: AsyncJSONDB) -> None:
    collection = await people(db)
    deep: dict[str, Any] = {"a": 1}
    for _ in range(20):
        deep = {"$and": [deep]}
    with pytest.raises(InvalidQueryError, match="deeper"):
        await collection.count(deep)
    with pytest.raises(InvalidValueError):
        await collection.find(limit=-1)


async def test_index_lifecycle(db: AsyncJSONDB) -> None:
    collection = await people(db)
    assert await collection.create_index("age") is True
    assert await collection.create_index("age") is False  # idempotent
    assert await collection.create_index("address.city", unique=False) is True
    assert await collection.list_indexes() == [
        {"path": "age", "unique": False},
        {"path": "address.city", "unique": False},
    ]
    with pytest.raises(InvalidQueryError, match="drop it first"):
        await collection.create_index("age", unique=True)
    with pytest.raises(InvalidQueryError):
        await collection.create_index("_key")
    assert await collection.find(where={"age": 25}, fields=["name"]) == [
        {"name": "Bob"},
        {"name": "Eve"},
    ]
    assert await collection.drop_index("age") is True
    assert await collection.drop_index("age") is False
    assert await collection.list_indexes() == [{"path": "address.city", "unique": False}]


async def test_indexes_follow_every_write(db: AsyncJSONDB) -> None:
    collection = await people(db)
    await collection.create_index("age")
    await collection.set("fay", {"name": "Fay", "age": 25})
    await collection.update("bob", {"age": 26})
    await collection.increment("eve", "age", 10)
    await collection.delete("fay")
    assert [k for k, _ in await collection.find_items(where={"age": {"$in": [25, 26, 35]}})] == [
        "bob",
        "eve",
    ]
    await collection.clear()
    assert await collection.find(where={"age": 26}) == []
    await collection.set("gus", {"age": 26})
    assert await collection.find(where={"age": 26}) == [{"age": 26}]


async def test_unique_index_refuses_duplicates_and_changes_nothing(db: AsyncJSONDB) -> None:
    collection = await people(db)
    assert await collection.create_index("name", unique=True)
    for write in (
        collection.set("new", {"name": "Ann"}),
        collection.set_many({"new": {"name": "New"}, "new2": {"name": "Bob"}}),
        collection.update("cy", {"name": "Dee"}),
    ):
        with pytest.raises(DuplicateKeyError) as caught:
            await write
        assert caught.value.path == "name"
    assert await collection.get("new") is None and await collection.get("new2") is None
    assert (await collection.get("cy"))["name"] == "Cy"
    await collection.set("nameless", {"age": 1})  # records without the field never conflict
    await collection.set("nameless2", {"age": 2})
    await collection.set("ann", {"name": "Ann", "age": 32})  # its own value again
    await collection.create_index("n", unique=True)
    await collection.increment("counter", "n", 1)
    await collection.set("other", {"n": 2})
    with pytest.raises(DuplicateKeyError):
        await collection.increment("counter", "n", 1)
    assert await collection.get("counter") == {"n": 1}


async def test_unique_index_over_duplicates_is_not_created(db: AsyncJSONDB) -> None:
    collection = await people(db)
    with pytest.raises(DuplicateKeyError):
        await collection.create_index("age", unique=True)
    assert await collection.list_indexes() == []
    await collection.set("x", {"age": 25})  # no index left behind to refuse it


async def test_explain_names_the_index_or_a_scan(db: AsyncJSONDB) -> None:
    collection = await people(db)
    assert (await collection.explain({"age": 25}))["index"] is None
    await collection.create_index("age")
    plan = await collection.explain({"age": 25})
    assert set(plan) >= {"index", "plan"}
    if "://" not in str(collection):  # the server picks its own plan over six rows
        assert plan["index"] == "age"


async def test_indexes_survive_reopening_and_dropping_the_collection(
    db: AsyncJSONDB, location: Location
) -> None:
    collection = await people(db)
    await collection.create_index("name", unique=True)
    await db.close()
    async with location.open() as again:
        reopened = await again.get_collection("people")
        assert await reopened.list_indexes() == [{"path": "name", "unique": True}]
        with pytest.raises(DuplicateKeyError):
            await reopened.set("x", {"name": "Bob"})
        await again.drop_collection("people")
        recreated = await again.get_collection("people")
        assert await recreated.list_indexes() == []
        await recreated.set_many({"a": {"name": "Z"}, "b": {"name": "Z"}})


async def test_another_process_sees_indexes_and_respects_unique_ones(tmp_path: Any) -> None:
    path = str(tmp_path / "db")
    async with AsyncJSONDB(path) as db:
        collection = await people(db)
        await collection.create_index("name", unique=True)
        await collection.create_index("age")
        assert await asyncio.to_thread(
            in_fresh_process, set_and_report, path, "x", {"name": "Ann"}
        ) == ("DuplicateKeyError")
        assert (
            await asyncio.to_thread(in_fresh_process, set_and_report, path, "x", {"name": "Xi"})
            == "ok"
        )
        with pytest.raises(DuplicateKeyError):  # the other process's write, seen in the commit
            await collection.set("y", {"name": "Xi"})
        await collection.drop_index("age")
        indexes, used, found = await asyncio.to_thread(
            in_fresh_process, indexes_and_answer, path, {"name": "Xi"}
        )
    assert indexes == [{"path": "name", "unique": True}]
    assert used == "name" and found == ["x"]


# --- the equivalence property ---------------------------------------------------------------

EQUIVALENCE = settings(
    max_examples=25,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
)


@EQUIVALENCE
@given(
    records=record_lists,
    wheres=st.lists(filters, min_size=1, max_size=4),
    sort=sorts,
    indexed=st.sampled_from([[], ["a"], ["a", "b", "a.b"]]),
)
def test_answers_equal_a_plain_python_evaluation(
    location: Location, records: list[Any], wheres: list[Any], sort: Any, indexed: list[str]
) -> None:
    asyncio.run(_check_equivalence(location, records, wheres, sort, indexed))


async def _check_equivalence(
    location: Location, records: list[Any], wheres: list[Any], sort: Any, indexed: list[str]
) -> None:
    async with location.open() as db:
        await db.drop_collection("c")
        collection = await db.get_collection("c")
        for path in indexed:
            await collection.create_index(path)
        await collection.set_many({f"k{n}": record for n, record in enumerate(records)})
        items = await collection.items()
        for where in wheres:
            expected = [key for key, value in items if naive_match(key, value, where)]
            assert [k for k, _ in await collection.find_items(where=where)] == expected, where
            assert await collection.count(where) == len(expected)
            page = Query.parse(where, sort=sort, skip=1, limit=3).run(items)
            found = await collection.find_items(where=where, sort=sort, skip=1, limit=3)
            assert found == page, (where, sort)


async def test_migrate_carries_the_indexes(tmp_path: Any, postgres_schema: str) -> None:
    async with AsyncJSONDB(tmp_path / "src") as db:
        collection = await people(db)
        await collection.create_index("name", unique=True)
        await collection.create_index("address.city")
    await migrate(tmp_path / "src", POSTGRES_URL, target_options={"schema": postgres_schema})
    async with AsyncJSONDB(POSTGRES_URL, schema=postgres_schema) as pg:
        moved = await pg.get_collection("people")
        assert await moved.list_indexes() == [
            {"path": "name", "unique": True},
            {"path": "address.city", "unique": False},
        ]
        with pytest.raises(DuplicateKeyError):
            await moved.set("x", {"name": "Ann"})
    await migrate(POSTGRES_URL, tmp_path / "back", source_options={"schema": postgres_schema})
    async with AsyncJSONDB(tmp_path / "back") as db:
        assert len(await (await db.get_collection("people")).list_indexes()) == 2


async def test_restored_duplicates_under_a_unique_index_stay_readable(tmp_path: Any) -> None:
    async with AsyncJSONDB(tmp_path / "db") as db:
        collection = await db.get_collection("people")
        await collection.set_many({"a": {"name": "Z"}, "b": {"name": "Z"}})
        await db.backup(tmp_path / "backup")
        await collection.clear()
        await collection.create_index("name", unique=True)
        await db.restore(tmp_path / "backup")
        assert [k for k, _ in await collection.find_items(where={"name": "Z"})] == ["a", "b"]
        await collection.set("c", {"name": "Y"})
        assert await collection.count({"name": {"$in": ["Y", "Z"]}}) == 3


async def test_backup_and_restore_carry_the_indexes(db: AsyncJSONDB, tmp_path: Any) -> None:
    collection = await people(db)
    await collection.create_index("name", unique=True)
    await collection.create_index("age")
    await db.backup(tmp_path / "backup")
    await collection.drop_index("age")
    await collection.drop_index("name")
    await collection.create_index("tags")
    await db.restore(tmp_path / "backup")
    assert await collection.list_indexes() == [
        {"path": "name", "unique": True},
        {"path": "age", "unique": False},
    ]
    with pytest.raises(DuplicateKeyError):
        await collection.set("x", {"name": "Bob"})
    assert [k for k, _ in await collection.find_items(where={"age": 25})] == ["bob", "eve"]


async def test_a_scan_finds_values_the_file_spells_with_escapes(tmp_path: Any) -> None:
    folder = tmp_path / "db"
    folder.mkdir()
    # Written by another program: "t" and true spelled as escapes or among other text.
    text = '{"a": {"tag": "\\u0074", "on": true}, "b": {"tag": "t"}, "c": {"tag": "x", "t": 1}}'
    (folder / "notes.json").write_text(text, encoding="utf-8")
    async with AsyncJSONDB(folder) as db:
        notes = await db.get_collection("notes")
        assert await notes.count({"tag": "t"}) == 2
        assert [k for k, _ in await notes.find_items(where={"tag": "t", "on": True})] == ["a"]
        many = {f"k{n}": {"tag": "t" if n % 2 else "u"} for n in range(1200)}
        await notes.set_many(many)  # past the sample: whichever way the scan goes, same answer
        assert await notes.count({"tag": "u"}) == 600

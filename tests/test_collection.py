"""The Collection API and the decisions issue 2 takes where the reference is vague."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from asyncjsondb import (
    AsyncJSONDB,
    DatabaseClosedError,
    InvalidOperationError,
    InvalidValueError,
    create_database,
)
from tests.conftest import Location


async def test_set_get_delete_exists(db: AsyncJSONDB) -> None:
    users = await db.get_collection("users")
    assert await users.get("a") is None
    assert await users.get("a", "fallback") == "fallback"
    assert await users.set("a", {"name": "Ann"}) is True
    assert await users.get("a") == {"name": "Ann"}
    assert await users.exists("a") and not await users.exists("b")
    assert await users.delete("a") is True
    assert await users.delete("a") is False
    assert await users.get("a") is None


async def test_any_json_value_round_trips(db: AsyncJSONDB) -> None:
    things = await db.get_collection("things")
    values = [
        None,
        True,
        0,
        -7,
        2**63 - 1,
        1.5,
        "",
        'é ☃ \n "quoted"',
        [],
        {},
        [1, [2, {"x": None}]],
    ]
    for index, value in enumerate(values):
        await things.set(str(index), value)
    assert await things.values() == values


async def test_insertion_order_is_kept_everywhere(db: AsyncJSONDB) -> None:
    c = await db.get_collection("ordered")
    for key in ["z", "a", "m", "b"]:
        await c.set(key, {"k": key})
    await c.set("a", {"k": "a2"})  # overwriting keeps the position, as a dict does
    assert await c.keys() == ["z", "a", "m", "b"]
    assert [v["k"] for v in await c.values()] == ["z", "a2", "m", "b"]
    assert [k for k, _ in await c.items()] == ["z", "a", "m", "b"]
    assert [v["k"] for v in await c.find()] == ["z", "a2", "m", "b"]
    await c.delete("z")
    await c.set("z", {"k": "z"})
    assert await c.keys() == ["a", "m", "b", "z"]


async def test_find_filters_and_limits(db: AsyncJSONDB) -> None:
    c = await db.get_collection("people")
    await c.set_many({f"p{i}": {"age": i} for i in range(10)})
    assert [v["age"] for v in await c.find(lambda v: v["age"] % 3 == 0)] == [0, 3, 6, 9]
    assert [v["age"] for v in await c.find(lambda v: v["age"] > 4, limit=2)] == [5, 6]
    assert len(await c.find(limit=4)) == 4
    assert await c.find(limit=0) == []
    assert len(await c.find()) == 10


@pytest.mark.parametrize("limit", [-1, 1.5, "3", True])
async def test_find_rejects_bad_limits(db: AsyncJSONDB, limit: object) -> None:
    c = await db.get_collection("people")
    with pytest.raises(InvalidValueError):
        await c.find(limit=limit)  # type: ignore[arg-type]


async def test_count_clear(db: AsyncJSONDB) -> None:
    c = await db.get_collection("c")
    await c.set_many([("a", 1), ("b", 2)])
    assert await c.count() == 2
    assert await c.clear() is True
    assert await c.count() == 0 and await c.keys() == []
    await c.set("c", 3)
    assert await c.items() == [("c", 3)]


async def test_update_merges_shallowly(db: AsyncJSONDB) -> None:
    c = await db.get_collection("cfg")
    await c.set("app", {"debug": False, "features": {"a": True, "b": True}})
    assert await c.update("app", {"debug": True, "features": {"c": True}}) is True
    assert await c.get("app") == {"debug": True, "features": {"c": True}}


async def test_update_of_a_missing_key_creates_nothing(db: AsyncJSONDB) -> None:
    c = await db.get_collection("cfg")
    assert await c.update("ghost", {"x": 1}) is False
    assert not await c.exists("ghost")


@pytest.mark.parametrize("stored", [[1, 2], "text", 3, None])
async def test_update_of_a_non_object_raises_and_keeps_it(db: AsyncJSONDB, stored: object) -> None:
    c = await db.get_collection("cfg")
    await c.set("k", stored)
    with pytest.raises(InvalidOperationError, match="update needs a stored object"):
        await c.update("k", {"x": 1})
    assert await c.get("k") == stored


async def test_increment_rules(db: AsyncJSONDB) -> None:
    c = await db.get_collection("counters")
    assert await c.increment("new") == 1
    assert await c.get("new") == {"value": 1}
    assert await c.increment("views", "count", 5) == 5
    assert await c.get("views") == {"count": 5}
    await c.set("doc", {"title": "t"})
    assert await c.increment("doc", "hits") == 1
    assert await c.get("doc") == {"title": "t", "hits": 1}
    await c.set("bare", 10)
    assert await c.increment("bare", amount=2.5) == 12.5
    assert await c.get("bare") == 12.5
    assert await c.increment("views", "count", -7) == -2


async def test_increment_of_a_non_number_raises_and_keeps_it(db: AsyncJSONDB) -> None:
    c = await db.get_collection("counters")
    await c.set("doc", {"hits": "many", "flag": True})
    with pytest.raises(InvalidOperationError, match="'hits' holds str"):
        await c.increment("doc", "hits")
    with pytest.raises(InvalidOperationError, match="'flag' holds bool"):
        await c.increment("doc", "flag")
    await c.set("list", [1])
    with pytest.raises(InvalidOperationError):
        await c.increment("list")
    assert await c.get("doc") == {"hits": "many", "flag": True}
    assert await c.get("list") == [1]


@pytest.mark.parametrize("amount", [True, "1", float("nan"), float("inf"), None])
async def test_increment_rejects_bad_amounts(db: AsyncJSONDB, amount: object) -> None:
    c = await db.get_collection("counters")
    with pytest.raises(InvalidValueError):
        await c.increment("k", amount=amount)  # type: ignore[arg-type]
    assert not await c.exists("k")


async def test_increment_overflow_to_infinity_is_refused(db: AsyncJSONDB) -> None:
    c = await db.get_collection("counters")
    await c.set("big", {"value": 1.7e308})
    with pytest.raises(InvalidValueError, match="overflows"):
        await c.increment("big", amount=1.7e308)
    assert await c.get("big") == {"value": 1.7e308}


async def test_batch_api(db: AsyncJSONDB) -> None:
    c = await db.get_collection("batch")
    assert await c.set_many({"a": 1, "b": 2, "c": 3}) == 3
    assert await c.get_many(["c", "zz", "a"]) == {"c": 3, "a": 1}
    assert await c.delete_many(["a", "zz", "a"]) == 1
    assert await c.keys() == ["b", "c"]
    assert await c.set_many([]) == 0 and await c.delete_many([]) == 0
    with pytest.raises(InvalidValueError):
        await c.set_many({"ok": 1, "bad": float("nan")})
    assert await c.keys() == ["b", "c"]  # all or nothing


async def test_collections_are_listed_sorted_and_dropped(
    db: AsyncJSONDB, location: Location
) -> None:
    for name in ["zeta", "alpha", "m.v2", "under_score-1"]:
        await db.get_collection(name)
    assert await db.list_collections() == ["alpha", "m.v2", "under_score-1", "zeta"]
    assert await db.drop_collection("zeta") is True
    assert await db.drop_collection("zeta") is False
    assert await db.drop_collection("never") is False
    assert await db.list_collections() == ["alpha", "m.v2", "under_score-1"]
    if location.backend == "files":
        assert not (Path(location.path) / "zeta.json").exists()


async def test_get_collection_creates_a_readable_empty_file(db_path: Path) -> None:
    async with create_database(db_path) as db:
        await db.get_collection("users")
        assert json.loads((db_path / "users.json").read_text()) == {}


async def test_a_dropped_collection_comes_back_when_written(db: AsyncJSONDB) -> None:
    c = await db.get_collection("users")
    await c.set("a", 1)
    await db.drop_collection("users")
    assert await c.count() == 0
    await c.set("b", 2)
    assert await db.list_collections() == ["users"]
    assert await c.items() == [("b", 2)]


async def test_after_close_the_json_files_hold_everything(db_path: Path, durability: str) -> None:
    db = AsyncJSONDB(db_path, durability=durability)
    users = await db.get_collection("users")
    await users.set("u1", {"name": "Ann", "tags": ["x"]})
    await users.increment("visits")
    await users.delete("nobody")
    await db.close()
    assert sorted(p.name for p in db_path.iterdir() if not p.name.startswith(".")) == ["users.json"]
    assert json.loads((db_path / "users.json").read_text(encoding="utf-8")) == {
        "u1": {"name": "Ann", "tags": ["x"]},
        "visits": {"value": 1},
    }


async def test_a_closed_database_refuses_calls(db_path: Path) -> None:
    db = AsyncJSONDB(db_path)
    users = await db.get_collection("users")
    await db.close()
    await db.close()  # twice is fine
    with pytest.raises(DatabaseClosedError, match="is closed"):
        await users.get("a")
    with pytest.raises(DatabaseClosedError):
        await users.set("a", 1)
    with pytest.raises(DatabaseClosedError):
        await db.get_collection("users")


async def test_context_manager_closes(db_path: Path) -> None:
    async with create_database(db_path) as db:
        await (await db.get_collection("c")).set("k", "v")
    with pytest.raises(DatabaseClosedError):
        await db.list_collections()
    async with create_database(db_path) as again:
        assert await (await again.get_collection("c")).get("k") == "v"


async def test_an_unclosed_database_warns(db_path: Path) -> None:
    import gc

    db = AsyncJSONDB(db_path)
    await db.get_collection("c")
    with pytest.warns(ResourceWarning, match="never closed"):
        del db
        gc.collect()


async def test_hand_edited_files_are_read(db_path: Path) -> None:
    db_path.mkdir()
    (db_path / "notes.json").write_text('{\n  "a": {"text": "hi"},\n  "b": [1, 2]\n}\n')
    async with create_database(db_path) as db:
        notes = await db.get_collection("notes")
        assert await notes.items() == [("a", {"text": "hi"}), ("b", [1, 2])]
        await notes.set("c", 3)
    assert json.loads((db_path / "notes.json").read_text()) == {
        "a": {"text": "hi"},
        "b": [1, 2],
        "c": 3,
    }


async def test_find_leaves_the_garbage_collector_as_it_found_it(db: AsyncJSONDB) -> None:
    import gc

    c = await db.get_collection("c")
    await c.set_many({str(i): {"n": i} for i in range(10)})

    def failing(value: dict[str, int]) -> bool:
        assert not gc.isenabled()  # paused while decoding
        raise ValueError("the filter's own error")

    with pytest.raises(ValueError, match="own error"):
        await c.find(failing)
    assert gc.isenabled()
    gc.disable()
    try:
        assert len(await c.find(lambda v: True)) == 10
        assert not gc.isenabled()  # a caller's choice is kept
    finally:
        gc.enable()

"""Keys, values, names: what is refused, and that stored values are isolated from callers."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Any

import pytest

from asyncjsondb import (
    AsyncJSONDB,
    ConfigurationError,
    DatabaseError,
    InvalidKeyError,
    InvalidNameError,
    InvalidValueError,
)
from tests.conftest import Location


async def test_values_returned_are_private_copies(db: AsyncJSONDB) -> None:
    cart = await db.get_collection("carts")
    original = {"items": [{"sku": "a"}], "total": 1.0}
    await cart.set("u", original)
    original["items"].append({"sku": "mutated"})  # the object passed to set
    got = await cart.get("u")
    got["items"].append({"sku": "b"})  # what get returned
    (await cart.values())[0]["total"] = 99
    (await cart.items())[0][1]["items"].clear()
    (await cart.find())[0]["items"].clear()
    (await cart.get_many(["u"]))["u"]["total"] = 5

    def meddling_filter(value: dict[str, Any]) -> bool:
        value["items"].clear()
        return True

    await cart.find(meddling_filter)
    assert await cart.get("u") == {"items": [{"sku": "a"}], "total": 1.0}


async def test_update_arguments_are_copied(db: AsyncJSONDB) -> None:
    c = await db.get_collection("c")
    await c.set("k", {"a": 1})
    updates = {"tags": ["x"]}
    await c.update("k", updates)
    updates["tags"].append("y")
    assert await c.get("k") == {"a": 1, "tags": ["x"]}


class Colour(str, enum.Enum):
    RED = "red"


async def test_str_subclass_keys_are_stored_as_plain_str(db: AsyncJSONDB) -> None:
    c = await db.get_collection("c")
    await c.set(Colour.RED, 1)
    assert await c.keys() == ["red"] and type((await c.keys())[0]) is str


@pytest.mark.parametrize("key", [1, None, b"bytes", ("t",), 1.5])
async def test_non_str_keys_are_refused_everywhere(db: AsyncJSONDB, key: Any) -> None:
    c = await db.get_collection("c")
    await c.set("kept", 1)
    for call in (
        c.get(key),
        c.set(key, 1),
        c.delete(key),
        c.exists(key),
        c.update(key, {}),
        c.increment(key),
        c.set_many({key: 1}),
        c.get_many([key]),
        c.delete_many([key]),
    ):
        with pytest.raises(InvalidKeyError, match="keys must be str"):
            await call
    assert await c.items() == [("kept", 1)]


BAD_VALUES = [
    (float("nan"), "not a finite number"),
    ({"x": [float("inf")]}, "not a finite number"),
    ({1: "int key"}, "object key 1 is not a str"),
    ({"s": {1, 2}}, "set is not JSON serializable"),
    (object(), "object is not JSON serializable"),
    (b"bytes", "bytes is not JSON serializable"),
    (2**64, "exceeds 64 bits"),
]


@pytest.mark.parametrize(("value", "problem"), BAD_VALUES)
async def test_bad_values_are_refused_and_the_old_value_stays(
    db: AsyncJSONDB, location: Location, value: Any, problem: str
) -> None:
    c = await db.get_collection("c")
    await c.set("k", {"old": True})
    with pytest.raises(InvalidValueError, match=problem) as caught:
        await c.set("k", value)
    assert caught.value.key == "k"
    with pytest.raises(InvalidValueError, match=problem):
        await c.set("new", value)
    if isinstance(value, dict):
        with pytest.raises(InvalidValueError, match=problem):
            await c.update("k", value)
    assert await c.items() == [("k", {"old": True})]
    await db.close()
    reopened = location.open()
    assert await (await reopened.get_collection("c")).items() == [("k", {"old": True})]
    await reopened.close()


@pytest.mark.parametrize("bad", ["not a mapping", [("a", 1)], None])
async def test_update_needs_a_mapping(db: AsyncJSONDB, bad: Any) -> None:
    c = await db.get_collection("c")
    await c.set("k", {})
    with pytest.raises(InvalidValueError, match="updates must be a mapping"):
        await c.update("k", bad)


TRAVERSALS = [
    "../escape",
    "..",
    ".",
    "a/b",
    "a\\b",
    "/etc/passwd",
    ".hidden",
    "",
    "x" * 129,
    "nul\0byte",
    "spa ce",
    "ünïcode",
    "con:colon",
]


@pytest.mark.parametrize("name", TRAVERSALS)
async def test_unsafe_collection_names_touch_no_file(tmp_path: Path, name: str) -> None:
    db_path = tmp_path / "inner" / "db"
    db = AsyncJSONDB(db_path)
    await db.get_collection("ok")
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    for call in (db.get_collection(name), db.drop_collection(name)):
        with pytest.raises(InvalidNameError, match="invalid collection name"):
            await call
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before
    await db.close()


@pytest.mark.parametrize("name", [1, None, b"users"])
async def test_non_str_collection_names_are_refused(db: AsyncJSONDB, name: Any) -> None:
    with pytest.raises(InvalidNameError, match="must be a str"):
        await db.get_collection(name)


def test_unknown_or_bad_options_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="'cache_tl': unknown option"):
        AsyncJSONDB(tmp_path, cache_tl=1)
    with pytest.raises(ConfigurationError, match="durability"):
        AsyncJSONDB(tmp_path, durability="sometimes")
    with pytest.raises(ConfigurationError, match="cache_ttl"):
        AsyncJSONDB(tmp_path, cache_ttl=-1)


def test_every_error_is_a_database_error() -> None:
    import asyncjsondb
    from asyncjsondb import errors

    classes = [getattr(errors, n) for n in dir(errors) if n.endswith("Error")]
    assert len(classes) == 15
    assert all(issubclass(cls, DatabaseError) for cls in classes)
    assert asyncjsondb.__all__ == sorted(asyncjsondb.__all__)
    assert all(hasattr(asyncjsondb, name) for name in asyncjsondb.__all__)


def test_errors_survive_pickling_across_processes() -> None:
    import errno
    import pickle

    from asyncjsondb import errors

    samples = [
        errors.InvalidNameError("../x", "no separators"),
        errors.InvalidValueError("nan", key="k"),
        errors.CorruptFileError(Path("/db/c.json"), "bad", position=7),
        errors.StorageError("write", Path("/db/c.journal"), OSError(errno.ENOSPC, "No space")),
        errors.ServerError("postgresql://h/db", "down"),
        errors.LockTimeoutError(Path("/db/.c.lock"), 2.5),
        errors.ReadOnlyError("/db", "set on 'c'"),
    ]
    for error in samples:
        copy = pickle.loads(pickle.dumps(error))
        assert type(copy) is type(error) and str(copy) == str(error)
        assert {k: repr(v) for k, v in copy.__dict__.items()} == {
            k: repr(v) for k, v in error.__dict__.items()
        }
    storage = pickle.loads(pickle.dumps(samples[3]))
    assert isinstance(storage, OSError) and storage.errno == errno.ENOSPC


async def test_nul_is_refused_in_keys_on_every_backend(db: AsyncJSONDB) -> None:
    c = await db.get_collection("c")
    for call in (c.set("a\0b", 1), c.get("a\0b"), c.set_many({"x\0": 1})):
        with pytest.raises(InvalidKeyError, match="NUL"):
            await call
    assert await c.count() == 0


async def test_uuids_and_enums_are_stored_as_orjson_writes_them(db: AsyncJSONDB) -> None:
    import uuid

    class Level(enum.Enum):
        HIGH = "high"

    c = await db.get_collection("c")
    ident = uuid.UUID("12345678-1234-5678-1234-567812345678")
    await c.set("k", {"id": ident, "level": Level.HIGH, "colour": Colour.RED})
    assert await c.get("k") == {"id": str(ident), "level": "high", "colour": "red"}
    with pytest.raises(InvalidValueError, match="lone surrogate"):
        await c.set("s", "\ud800")

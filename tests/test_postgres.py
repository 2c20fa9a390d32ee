"""What only the PostgreSQL backend has to prove: correctness across hosts, and moving data
between it and the files. (Every contract test of the API also runs on it: see ``db`` in conftest.)
"""

from __future__ import annotations

import json
import multiprocessing
import os
from pathlib import Path

import pytest

from asyncjsondb import AsyncJSONDB, ConfigurationError, ServerError
from asyncjsondb.migrate import MigrationError, migrate
from tests.conftest import POSTGRES_URL
from tests.proc_postgres import increment_many


async def test_two_processes_with_their_own_pools_lose_no_increment(postgres_schema: str) -> None:
    context = multiprocessing.get_context("spawn")
    with context.Pool(2) as pool:
        pool.starmap(increment_many, [(POSTGRES_URL, postgres_schema, 500)] * 2)
    async with AsyncJSONDB(POSTGRES_URL, schema=postgres_schema) as db:
        assert await (await db.get_collection("counters")).get("hits") == {"value": 1000}


async def test_reads_are_never_stale_across_hosts(postgres_schema: str) -> None:
    one = AsyncJSONDB(POSTGRES_URL, schema=postgres_schema)
    two = AsyncJSONDB(POSTGRES_URL, schema=postgres_schema, cache_ttl=60)
    first, second = await one.get_collection("c"), await two.get_collection("c")
    await first.set("k", 1)
    assert await second.get("k") == 1
    await second.delete("k")
    assert await first.get("k") is None
    await one.drop_collection("c")
    assert await two.list_collections() == []
    await one.close()
    await two.close()


def _records(count: int) -> dict[str, dict[str, object]]:
    return {
        f"user{i:06d}": {"name": f"User {i}", "email": f"u{i}@example.com", "age": i % 90,
                         "tags": ["a", "b"][: i % 3], "active": i % 2 == 0, "score": i / 7}
        for i in range(count)
    }  # fmt: skip


async def test_migration_round_trip_files_postgres_files(
    tmp_path: Path, postgres_schema: str
) -> None:
    source = tmp_path / "source"
    async with AsyncJSONDB(source) as db:
        # Copied in 12 batches (slices of 1,000) one way, read in 6 pages of 2,000 (CHUNK_ROWS) the
        # other: enough to cross every boundary; 60,000 records crossed the same ones, 5x longer.
        await (await db.get_collection("users")).set_many(_records(12_000))
        await (await db.get_collection("empty")).clear()
        await (await db.get_collection("misc")).set_many({"n": None, "ü": "☃", "big": 2**63})
    seen: list[tuple[str, int]] = []
    counts = await migrate(
        source,
        POSTGRES_URL,
        target_options={"schema": postgres_schema},
        progress=lambda name, done: seen.append((name, done)),
    )
    assert counts == {"empty": 0, "misc": 3, "users": 12_000}
    assert ("users", 12_000) in seen and len(seen) > 10
    back = tmp_path / "back"
    await migrate(POSTGRES_URL, back, source_options={"schema": postgres_schema})
    for name in counts:
        original = json.loads((source / f"{name}.json").read_bytes())
        returned = json.loads((back / f"{name}.json").read_bytes())
        assert list(returned.items()) == list(original.items())  # same records, same order
        assert (back / f"{name}.json").read_bytes() == (source / f"{name}.json").read_bytes()


async def test_migration_refuses_a_destination_that_is_not_empty(
    tmp_path: Path, postgres_schema: str
) -> None:
    async with AsyncJSONDB(POSTGRES_URL, schema=postgres_schema) as db:
        await (await db.get_collection("there")).set("k", 1)
    async with AsyncJSONDB(tmp_path / "src") as db:
        await (await db.get_collection("users")).set("k", 2)
    with pytest.raises(MigrationError, match="already holds collections"):
        await migrate(tmp_path / "src", POSTGRES_URL, target_options={"schema": postgres_schema})
    async with AsyncJSONDB(POSTGRES_URL, schema=postgres_schema) as db:
        assert await db.list_collections() == ["there"]


async def test_a_backup_of_either_backend_restores_into_the_other(
    tmp_path: Path, postgres_schema: str
) -> None:
    async with AsyncJSONDB(POSTGRES_URL, schema=postgres_schema) as pg:
        await (await pg.get_collection("orders")).set_many({"o1": [1, 2], "o2": {"x": None}})
        await pg.backup(tmp_path / "from-pg")
    async with AsyncJSONDB(tmp_path / "files") as files:
        await (await files.get_collection("stale")).set("k", 1)
        await files.restore(tmp_path / "from-pg")
        assert await files.list_collections() == ["orders"]
        assert await (await files.get_collection("orders")).items() == [
            ("o1", [1, 2]),
            ("o2", {"x": None}),
        ]
        await (await files.get_collection("orders")).set("o3", 3)
        await files.backup(tmp_path / "from-files")
    async with AsyncJSONDB(POSTGRES_URL, schema=postgres_schema) as pg:
        await pg.restore(tmp_path / "from-files")
        assert await (await pg.get_collection("orders")).keys() == ["o1", "o2", "o3"]


async def test_server_problems_are_database_errors(tmp_path: Path) -> None:
    db = AsyncJSONDB("postgresql://nobody@127.0.0.1:1/none")
    with pytest.raises(ServerError, match="cannot reach the server"):
        await db.get_collection("c")
    await db.close()
    with pytest.raises(ConfigurationError, match="applies only to a postgresql:// database"):
        AsyncJSONDB(tmp_path, schema="x")
    with pytest.raises(ConfigurationError, match="mysql:// is not supported"):
        AsyncJSONDB("mysql://host/db")
    with pytest.raises(ConfigurationError, match="schema"):
        AsyncJSONDB(POSTGRES_URL, schema='bad"; DROP TABLE x; --')


def test_passwords_never_show_in_reprs() -> None:
    db = AsyncJSONDB("postgresql://app:s3cret@127.0.0.1:5432/test")
    assert "s3cret" not in repr(db) and "app:***@127.0.0.1" in repr(db)


async def test_the_url_can_carry_the_server_options(postgres_schema: str) -> None:
    url = f"{POSTGRES_URL}?schema={postgres_schema}&table_prefix=app_&pool_size=2"
    async with AsyncJSONDB(url) as db:
        await (await db.get_collection("c")).set("k", 1)
    async with AsyncJSONDB(POSTGRES_URL, schema=postgres_schema, table_prefix="app_") as db:
        assert await (await db.get_collection("c")).get("k") == 1
    with pytest.raises(ConfigurationError, match="both in the URL and as an option"):
        AsyncJSONDB(url, schema="other")
    with pytest.raises(ConfigurationError, match="pool_size"):
        AsyncJSONDB(f"{POSTGRES_URL}?pool_size=many")


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://app:s3cret@host:5432/db", "postgresql://app:***@host:5432/db"),
        ("postgresql://app:s3:cr@et@host/db", "postgresql://app:***@host/db"),
        ("postgresql://host/db?password=s3cret&sslmode=require",
         "postgresql://host/db?password=***&sslmode=require"),
        ("postgresql://app:s3cret@host:notaport/db", "postgresql://(a malformed URL, not shown)"),
        ("postgresql://host/db?schema=x", "postgresql://host/db?schema=x"),
    ],
)  # fmt: skip
def test_redact_hides_every_password(url: str, shown: str) -> None:
    from asyncjsondb.backends.postgres.backend import redact

    assert redact(url) == shown


async def test_a_scan_yields_each_key_once_even_if_it_moves(
    postgres_schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from asyncjsondb.backends.postgres import backend as postgres_backend

    monkeypatch.setattr(postgres_backend, "CHUNK_ROWS", 2)
    async with AsyncJSONDB(POSTGRES_URL, schema=postgres_schema) as db:
        c = await db.get_collection("c")
        await c.set_many({key: key for key in "abcdef"})
        seen: list[str] = []
        async for chunk in c._backend.item_chunks():
            seen.extend(key for key, _ in chunk)
            if len(seen) == 2:
                await c.delete("a")
                await c.set("a", "again")  # now after 'f'
        assert sorted(seen) == list("abcdef") and len(seen) == 6
        assert await c.keys() == list("bcdefa")


@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_opens_its_own_pool(postgres_schema: str) -> None:
    import asyncio

    db = AsyncJSONDB(POSTGRES_URL, schema=postgres_schema)

    async def bump() -> int | float:
        return await (await db.get_collection("c")).increment("n")

    assert asyncio.run(bump()) == 1  # the parent's pool exists now
    pid = os.fork()
    if pid == 0:
        os._exit(0 if asyncio.run(bump()) == 2 else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert asyncio.run(bump()) == 3
    asyncio.run(db.close())


async def test_database_objects_on_one_server_share_a_pool(postgres_schema: str) -> None:
    first = AsyncJSONDB(POSTGRES_URL, schema=postgres_schema)
    second = AsyncJSONDB(POSTGRES_URL, schema=postgres_schema)
    await (await first.get_collection("c")).set("k", 1)
    assert await (await second.get_collection("c")).get("k") == 1
    assert first._backend._group is second._backend._group  # type: ignore[attr-defined]
    await first.close()
    assert await (await second.get_collection("c")).get("k") == 1  # still open for the other
    await second.close()


async def _workout(db: AsyncJSONDB, name: str) -> list[object]:
    """Every kind of call (single statements, one-connection queries, transactions, batches)."""
    c = await db.get_collection(name)
    seen: list[object] = [
        await c.set_many({f"k{i}": {"n": i, "tag": "ab"[i % 2]} for i in range(30)})
    ]
    seen += [
        await c.set("x", {"n": -1}),
        await c.update("k1", {"m": 1}),
        await c.increment("k2", "n", 5),
    ]
    seen += [
        await c.delete("k3"),
        await c.delete_many(["k4", "k5", "nope"]),
        await c.create_index("n"),
    ]
    seen += [
        await c.create_index("tag", unique=False),
        await c.drop_index("tag"),
        await c.list_indexes(),
    ]
    seen += [
        await c.find(where={"tag": "a"}, sort="-n", limit=5),
        await c.count({"n": {"$gt": 10}}),
    ]
    seen += [
        await c.get("k2"),
        await c.get_many(["k1", "x", "none"]),
        await c.exists("k3"),
        await c.keys(),
    ]
    seen += [
        await c.find_items(where={"n": {"$lt": 3}}),
        await c.items(),
        await c.explain(where={"n": 4}),
    ]
    seen += [
        await db.list_collections(),
        await db.drop_collection(name),
        await db.list_collections(),
    ]
    return seen


async def test_own_loop_and_hop_paths_give_the_same_answers(postgres_schema: str) -> None:
    import asyncio
    import threading

    from asyncjsondb.backends.postgres.pools import HOP

    db = AsyncJSONDB(
        f"{POSTGRES_URL}?application_name=paths_{postgres_schema}", schema=postgres_schema
    )
    own = await _workout(db, "c")  # the first loop to use the database: a pool of its own
    hopped: list[object] = []
    thread = threading.Thread(target=lambda: hopped.extend(asyncio.run(_workout(db, "c"))))
    thread.start()
    await asyncio.to_thread(thread.join)
    group = db._backend._group  # type: ignore[attr-defined]
    assert group.pools[asyncio.get_running_loop()].calls >= len(own)
    assert group.pools[HOP.loop()].calls >= len(own)  # the thread's loop hopped, every call
    assert hopped == own
    await db.close()
    assert group.pools == {}

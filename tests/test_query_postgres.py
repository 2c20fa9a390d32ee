"""The filter language as SQL on the real PostgreSQL: the same keys in the same order as the
Python form for generated records, filters and sorts, values always as parameters, and the
index statements (unique ones refusing duplicates, equality served by an index)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

import pytest
from hypothesis import given

from asyncjsondb.backends.postgres.query import (
    compile_sort,
    compile_where,
    index_statements,
    path_expression,
)
from asyncjsondb.paths import parse_path
from asyncjsondb.query import Query
from tests.conftest import POSTGRES_URL, require_postgres
from tests.query_strategies import (
    BOUNDED,
    GRID_RECORDS,
    filter_lists,
    filters,
    grid_filters,
    record_lists,
    sort_fields,
    sortable_records,
    sorts,
)

T = TypeVar("T")


class Server:
    """One connection and one table in a schema of the module's own, driven from sync tests."""

    def __init__(self) -> None:
        import asyncpg

        self.loop = asyncio.new_event_loop()
        self.schema = f"test_{uuid.uuid4().hex[:16]}"
        self.table = f'"{self.schema}".records'
        self.connection = self.run(asyncpg.connect(POSTGRES_URL))
        self.run(
            self.connection.execute(
                f'CREATE SCHEMA "{self.schema}"; CREATE TABLE {self.table} ('
                "collection_id bigint NOT NULL DEFAULT 1, key text NOT NULL, "
                "seq bigserial NOT NULL, value json NOT NULL, PRIMARY KEY (collection_id, key))"
            )
        )

    def run(self, work: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(work)

    def load(self, items: list[tuple[str, Any]]) -> None:
        self.run(self.connection.execute(f"TRUNCATE {self.table}"))
        rows = [(key, json.dumps(value)) for key, value in items]
        insert = f"INSERT INTO {self.table} (key, value) VALUES ($1, $2::json)"
        self.run(self.connection.executemany(insert, rows))

    def keys(self, query: Query) -> list[str]:
        where = compile_where(query.where, start=2)
        order = compile_sort(query.sort)
        sql = (
            f"SELECT key FROM {self.table} WHERE collection_id = $1 AND {where.sql} "
            f"ORDER BY {order}"
        )
        rows = self.run(self.connection.fetch(sql, 1, *where.parameters))
        return [row["key"] for row in rows]

    def close(self) -> None:
        self.run(self.connection.execute(f'DROP SCHEMA "{self.schema}" CASCADE'))
        self.run(self.connection.close())
        self.loop.close()


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    require_postgres()
    server = Server()
    yield server
    server.close()


def python_keys(query: Query, items: list[tuple[str, Any]]) -> list[str]:
    return [key for key, _ in query.run(items)]


@BOUNDED
@given(records=record_lists, wheres=filter_lists)
def test_sql_filters_give_the_keys_of_the_python_form(
    server: Server, records: list[Any], wheres: list[dict[str, Any]]
) -> None:
    items = [(f"k{n}", record) for n, record in enumerate(records)]
    server.load(items)
    for where in wheres:
        query = Query.parse(where)
        assert server.keys(query) == python_keys(query, items), where


@BOUNDED
@given(records=sortable_records, sort=sort_fields)
def test_sql_sorts_give_the_order_of_the_python_form(
    server: Server, records: list[Any], sort: list[tuple[str, int]]
) -> None:
    items = [(f"k{n}", record) for n, record in enumerate(records)]
    server.load(items)
    query = Query.parse(sort=sort)
    assert server.keys(query) == python_keys(query, items)


@BOUNDED
@given(records=record_lists, where=filters, sort=sorts)
def test_sql_queries_give_the_keys_and_order_of_the_python_form(
    server: Server, records: list[Any], where: dict[str, Any], sort: list[tuple[str, int]]
) -> None:
    items = [(f"k{n}", record) for n, record in enumerate(records)]
    server.load(items)
    query = Query.parse(where, sort=sort)
    assert server.keys(query) == python_keys(query, items)


def test_every_operator_on_every_kind_of_value_gives_the_python_keys(server: Server) -> None:
    items = [(f"k{n}", record) for n, record in enumerate(GRID_RECORDS)]
    server.load(items)
    for where in grid_filters():
        query = Query.parse(where)
        assert server.keys(query) == python_keys(query, items), where


def test_values_travel_as_parameters_and_paths_as_quoted_literals(server: Server) -> None:
    hostile = "x'); DROP TABLE records; --"
    path = "it's\\"
    server.load([("a", {path: hostile, "n": 1}), ("b", {"n": 2})])
    query = Query.parse({path: hostile, "n": {"$gte": 1}})
    where = compile_where(query.where, start=2)
    assert hostile not in where.sql and "x'" not in where.sql
    assert "E'it''s\\\\'" in where.sql
    assert where.parameters == [json.dumps(hostile), "1"]
    assert server.keys(query) == ["a"]
    assert server.keys(Query.parse({"n": {"$gt": 1}})) == ["b"]


def test_placeholders_are_numbered_after_the_callers_own() -> None:
    compiled = compile_where(Query.parse({"a": 1, "b": {"$lt": "x"}}).where, start=4)
    assert "$4::jsonb" in compiled.sql and "$5::text" in compiled.sql
    assert "$3" not in compiled.sql and compiled.parameters == ["1", "x"]
    assert compile_where(Query.parse({}).where) == compile_where(Query.parse(None).where)


def test_list_index_segments_never_count_from_the_end(server: Server) -> None:
    server.load([("a", {"t": [1, 2, 3]}), ("b", {"t": {"-1": 3}}), ("c", {"t": {"0": 1}})])
    assert server.keys(Query.parse({"t.-1": 3})) == ["b"]
    assert server.keys(Query.parse({"t.0": 1})) == ["a", "c"]
    assert server.keys(Query.parse({"t.01": 2})) == []
    assert "#> '{0}'" in path_expression(parse_path("t.0"))


def test_index_statements_refuse_duplicates_and_serve_equality(server: Server) -> None:
    items = [(f"k{n}", {"email": f"u{n}@x", "n": n % 7}) for n in range(2000)]
    items += [("none1", {}), ("none2", {"other": 1})]
    server.load(items)
    for statement in index_statements(
        "records_email", server.table, parse_path("email"), unique=True
    ):
        server.run(server.connection.execute(statement))
    duplicate = f"INSERT INTO {server.table} (key, value) VALUES ('dup', '{{\"email\": \"u5@x\"}}')"
    with pytest.raises(Exception, match="duplicate key value") as caught:
        server.run(server.connection.execute(duplicate))
    assert type(caught.value).__name__ == "UniqueViolationError"
    missing = f"INSERT INTO {server.table} (key, value) VALUES ('none3', '{{}}')"
    server.run(server.connection.execute(missing))  # records without the field never conflict
    server.run(server.connection.execute(f"ANALYZE {server.table}"))

    where = compile_where(Query.parse({"email": "u5@x"}).where, start=2)
    sql = f"SELECT key FROM {server.table} WHERE collection_id = $1 AND {where.sql}"
    plan = server.run(server.connection.fetch(f"EXPLAIN {sql}", 1, *where.parameters))
    assert "records_email_contains" in "\n".join(row[0] for row in plan)
    assert [r["key"] for r in server.run(server.connection.fetch(sql, 1, *where.parameters))] == [
        "k5"
    ]
    server.run(server.connection.execute(f'DROP INDEX "{server.schema}".records_email'))
    server.run(server.connection.execute(f'DROP INDEX "{server.schema}".records_email_contains'))


async def test_an_index_brings_statistics_on_its_path(postgres_schema: str) -> None:
    # The server keeps none for a partial index's expression; without them it guessed many
    # matches for a unique email and walked the collection in insertion order, filtering
    # (80 ms at 200k records), rather than asking the index for the one record (0.1 ms).
    import asyncpg

    from asyncjsondb import AsyncJSONDB

    statistics = (
        "SELECT e.n_distinct FROM pg_stats_ext_exprs e WHERE e.schemaname = $1 "
        "AND e.expr LIKE '%email%'"
    )
    connection = await asyncpg.connect(POSTGRES_URL)
    try:
        async with AsyncJSONDB(POSTGRES_URL, schema=postgres_schema) as db:
            users = await db.get_collection("users")
            await users.set_many([(f"k{n}", {"email": f"u{n}@x", "n": n}) for n in range(2000)])
            await users.create_index("email", unique=True)
            assert await connection.fetchval(statistics, postgres_schema) == -1  # all distinct
            assert (await users.explain({"email": "u1900@x"}))["index"] == "email"
            assert await users.find_one({"email": "u1900@x"}) == {"email": "u1900@x", "n": 1900}
            await users.drop_index("email")
            assert await connection.fetch(statistics, postgres_schema) == []
    finally:
        await connection.close()

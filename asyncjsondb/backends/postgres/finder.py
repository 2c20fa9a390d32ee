"""Queries and indexes of one collection on PostgreSQL: the filter, sort and paging run as one
parameterised statement; projection happens on the page fetched.

Indexes are partial expression indexes over the collection's rows (``index_statements``), so a
statement names the collection by its id as a literal (an integer of our own table, never user
text): only then can the server match the indexes' predicate. Their definitions are rows of
``<prefix>indexes``, which drop with the collection.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ...codec import decode
from ...errors import DuplicateKeyError, InvalidQueryError
from ...ordering import project
from ...paths import MISSING, parse_path
from ...query import Node, Query
from .query import compile_sort, compile_where, index_statements, statistics_statement

if TYPE_CHECKING:
    from .backend import PostgresBackend

UNIQUE_VIOLATION = "23505"


class Finder:
    def __init__(self, backend: PostgresBackend, name: str) -> None:
        self._backend = backend
        self._name = name

    async def _id(self, connection: Any | None = None) -> int | None:
        """The collection's id, on ``connection`` if given (else a hop of its own)."""
        query = f"SELECT id FROM {self._backend.sql.collections} WHERE name = $1"
        if connection is None:
            found = await self._backend.call("fetchval", query, self._name)
        else:
            found = await connection.fetchval(query, self._name)
        return None if found is None else int(found)

    async def query(self, query: Query) -> list[tuple[str, Any]]:
        rows = await self._backend.on_connection(self._rows, query)
        found = [(row[0], decode(str(row[1]))) for row in rows]
        if query.fields:
            return [(key, project(key, value, query.fields)) for key, value in found]
        return found

    async def _rows(self, connection: Any, query: Query) -> list[Any]:
        """The id and the page on one connection: one hop to the pool's loop for both."""
        collection_id = await self._id(connection)
        if collection_id is None:
            return []
        where = compile_where(query.where)
        sql = f"SELECT key, value FROM {self._backend.sql.records} "
        sql += f"WHERE collection_id = {collection_id} AND {where.sql} "
        sql += f"ORDER BY {compile_sort(query.sort)}"
        arguments = list(where.parameters)
        if query.skip:
            arguments.append(query.skip)
            sql += f" OFFSET ${len(arguments)}"
        if query.limit is not None:
            arguments.append(query.limit)
            sql += f" LIMIT ${len(arguments)}"
        rows: list[Any] = await connection.fetch(sql, *arguments)
        return rows

    async def count(self, node: Node) -> int:
        return await self._backend.on_connection(self._count, node)

    async def _count(self, connection: Any, node: Node) -> int:
        collection_id = await self._id(connection)
        if collection_id is None:
            return 0
        where = compile_where(node)
        sql = f"SELECT count(*) FROM {self._backend.sql.records} "
        sql += f"WHERE collection_id = {collection_id} AND {where.sql}"
        return int(await connection.fetchval(sql, *where.parameters))

    async def explain(self, query: Query) -> dict[str, Any]:
        """The server's plan, reduced to the index it uses (by path) and its scan kind."""
        collection_id = await self._id()
        names = {row[1]: row[0] for row in await self._definitions(collection_id)}
        if collection_id is None:
            return {"index": None, "plan": "scan", "sorted_by_index": False}
        where = compile_where(query.where)
        sql = f"EXPLAIN (FORMAT JSON) SELECT key, value FROM {self._backend.sql.records} "
        sql += f"WHERE collection_id = {collection_id} AND {where.sql} "
        sql += f"ORDER BY {compile_sort(query.sort)}"
        plan = json.loads(await self._backend.call("fetchval", sql, *where.parameters))
        nodes = list(_nodes(plan[0]["Plan"]))
        for node in nodes:
            index = node.get("Index Name", "").removesuffix("_contains")
            if index in names:
                return {"index": names[index], "plan": node["Node Type"], "sorted_by_index": False}
        kinds = [node["Node Type"] for node in nodes if "Scan" in node["Node Type"]]
        return {"index": None, "plan": kinds[0] if kinds else "scan", "sorted_by_index": False}

    async def _definitions(self, collection_id: int | None) -> list[Any]:
        if collection_id is None:
            return []
        query = f"SELECT path, name, is_unique FROM {self._backend.sql.indexes} "
        query += "WHERE collection_id = $1 ORDER BY seq"
        rows: list[Any] = await self._backend.call("fetch", query, collection_id)
        return rows

    async def list_indexes(self) -> list[dict[str, Any]]:
        rows = await self._definitions(await self._id())
        return [{"path": row[0], "unique": row[2]} for row in rows]

    async def create_index(self, path: str, unique: bool) -> bool:
        backend = self._backend
        return bool(await backend.in_transaction(self.create_index_in, path, unique))

    async def create_index_in(self, connection: Any, path: str, unique: bool) -> bool:
        """Create the index in ``connection``'s transaction (a restore's, or its own)."""
        n = self._backend.sql
        collection_id = int(await connection.fetchval(f"SELECT {n.collection_id}($1)", self._name))
        await connection.execute("SELECT pg_advisory_xact_lock($1, $2)", n.lock_key, collection_id)
        existing = await connection.fetchval(
            f"SELECT is_unique FROM {n.indexes} WHERE collection_id = $1 AND path = $2",
            collection_id,
            path,
        )
        if existing is not None:
            if existing != unique:
                raise InvalidQueryError(
                    f"an index on {path!r} exists with unique={existing}: drop it first",
                    location="index",
                )
            return False
        name = n.index_name(collection_id, path)
        await connection.execute(
            f"INSERT INTO {n.indexes} (collection_id, path, is_unique, name) "
            "VALUES ($1, $2, $3, $4)",
            collection_id,
            path,
            unique,
            name,
        )
        checked = parse_path(path, location="index")
        try:
            for statement in index_statements(
                name, n.records, checked, unique=unique, only=collection_id
            ):
                await connection.execute(statement)
        except Exception as exc:
            if getattr(exc, "sqlstate", "") == UNIQUE_VIOLATION:
                raise DuplicateKeyError(path, "(held twice)", key="?", other_key="?") from None
            raise
        if connection.get_server_version().major >= 14:
            await connection.execute(statistics_statement(n.statistics(name), n.records, checked))
            await connection.execute(f"ANALYZE {n.records}")  # so the next query has them
        return True

    async def drop_index(self, path: str) -> bool:
        return bool(await self._backend.in_transaction(self._drop_index, path))

    async def _drop_index(self, connection: Any, path: str) -> bool:
        n = self._backend.sql
        name = await connection.fetchval(
            f"DELETE FROM {n.indexes} WHERE path = $2 AND collection_id = "
            f"(SELECT id FROM {n.collections} WHERE name = $1) RETURNING name",
            self._name,
            path,
        )
        if name is None:
            return False
        await drop_index_objects(connection, n.schema, name)
        return True

    async def duplicate(self, index_name: str, written: dict[str, Any]) -> DuplicateKeyError:
        """The error for a write a unique index refused, naming the path, value and holder."""
        n = self._backend.sql
        rows = await self._backend.call(
            "fetch", f"SELECT path, collection_id FROM {n.indexes} WHERE name = $1", index_name
        )
        if not rows:
            return DuplicateKeyError(index_name, "?", key="?", other_key="?")
        path = parse_path(rows[0][0])
        for key, value in written.items():
            held = path.resolve(key, value)
            if held is MISSING:
                continue
            where = compile_where(Query.parse({path.text: held}).where, start=2)
            other = await self._backend.call(
                "fetchval",
                f"SELECT key FROM {n.records} WHERE collection_id = $1 AND {where.sql} "
                "AND key <> ALL($%d::text[]) LIMIT 1" % (2 + len(where.parameters)),
                rows[0][1],
                *where.parameters,
                list(written),
            )
            if other is not None:
                return DuplicateKeyError(path.text, held, key=key, other_key=str(other))
        return DuplicateKeyError(path.text, "?", key=next(iter(written), "?"), other_key="?")


async def drop_index_objects(connection: Any, schema: str, name: str) -> None:
    for suffix in ("", "_contains"):
        await connection.execute(f'DROP INDEX IF EXISTS "{schema}"."{name}{suffix}"')
    await connection.execute(f'DROP STATISTICS IF EXISTS "{schema}"."{name}_stats"')


def _nodes(plan: dict[str, Any]) -> Any:
    yield plan
    for child in plan.get("Plans", ()):
        yield from _nodes(child)

"""The PostgreSQL storage backend: the same API, correct across hosts.

Every read and write is one statement on the server, so several hosts can share a database:
``set`` is an upsert, ``update`` and ``increment`` are server-side functions that lock the row
(no read-modify-write in Python), ``clear`` and ``drop`` are single transactional deletes.
Nothing is cached, so a read is never stale (``cache_ttl`` does not apply).

asyncpg pools belong to the event loop that made them: a caller's loop may have a pool of its own,
else the call hops to a shared pool on a loop in a thread of its own (``pools.py``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ...backup import Indexes, read_backup, read_backup_indexes, write_backup
from ...bridge import run_blocking
from ...codec import decode, encode
from ...errors import (
    ConfigurationError,
    DatabaseClosedError,
    DatabaseError,
    InvalidKeyError,
    InvalidOperationError,
    InvalidValueError,
    ServerError,
)
from ...options import SERVER_OPTIONS, Options
from ...query import Node, Query
from .. import increment
from ..base import (
    STALE,
    Clear,
    Delete,
    DeleteMany,
    Increment,
    Mutation,
    SetMany,
    SetValue,
    Stale,
    Update,
)
from . import schema
from .finder import UNIQUE_VIOLATION, Finder, drop_index_objects
from .pools import GROUPS, HOP, Group, LoopPool
from .schema import Names

try:
    import asyncpg  # type: ignore[import-untyped]
except ImportError:  # pragma: no cover - without the 'postgres' extra
    asyncpg = None

T = TypeVar("T")
CHUNK_ROWS = 2000
_JSON_TO_PYTHON = {"array": "list", "string": "str", "null": "NoneType", "number": "int",
                   "boolean": "bool", "object": "dict"}  # fmt: skip


def redact(url: str) -> str:
    """``url`` without its password (in the user part or the query), for messages and reprs."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        return f"{url.split('://', 1)[0]}://(a malformed URL, not shown)"
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        if ":" in userinfo:
            netloc = f"{userinfo.split(':', 1)[0]}:***@{host}"
    query = parse_qsl(parts.query, keep_blank_values=True)
    hidden = [(k, "***" if k.lower() in ("password", "passfile") else v) for k, v in query]
    return urlunsplit(parts._replace(netloc=netloc, query=urlencode(hidden, safe="*")))


def split_url_options(url: str, options: Options) -> tuple[str, Options]:
    """Take ``schema``, ``table_prefix`` and ``pool_size`` from the URL's query, if there.

    So one string (``ASYNCJSONDB_PATH``, Django's PATH, the command line) can say everything:
    ``postgresql://app@db/site?schema=shop``. The driver gets the URL without them.
    """
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    ours = {key: value for key, value in query if key in SERVER_OPTIONS}
    if not ours:
        return url, options
    changes: dict[str, Any] = {}
    for key, value in ours.items():
        if getattr(options, key) is not None:
            raise ConfigurationError(key, "given both in the URL and as an option")
        changes[key] = int(value) if key == "pool_size" and value.isdigit() else value
    rest = urlencode([(key, value) for key, value in query if key not in SERVER_OPTIONS])
    return urlunsplit(parts._replace(query=rest)), dataclasses.replace(options, **changes)


class PostgresCollection:
    def __init__(self, backend: PostgresBackend, name: str) -> None:
        self._backend = backend
        self._name = name
        self._finder = Finder(backend, name)
        n = backend.sql
        # The id as a scalar subquery, not a join: the planner then uses the (collection_id, seq)
        # index for each page of a scan instead of sorting the table for every page.
        self._from = (
            f"FROM {n.records} r WHERE r.collection_id = "
            f"(SELECT id FROM {n.collections} WHERE name = $1)"
        )

    def known_to_exist(self) -> bool:
        return True  # asking would cost a round trip per get_collection

    def get_cached(self, key: str) -> bytes | None | Stale:
        return STALE  # nothing is cached: every read asks the server

    async def get(self, key: str) -> bytes | None:
        value = await self._backend.call("fetchval", f"SELECT r.value {self._from} AND r.key = $2",
                                          self._name, key)  # fmt: skip
        return None if value is None else str(value).encode()

    async def get_many(self, keys: list[str]) -> dict[str, bytes]:
        rows = await self._backend.call(
            "fetch",
            f"SELECT r.key, r.value {self._from} AND r.key = ANY($2::text[])",
            self._name,
            keys,
        )
        found = {row[0]: str(row[1]).encode() for row in rows}
        return {key: found[key] for key in keys if key in found}

    async def contains(self, key: str) -> bool:
        query = f"SELECT EXISTS (SELECT 1 {self._from} AND r.key = $2)"
        return bool(await self._backend.call("fetchval", query, self._name, key))

    async def keys(self) -> list[str]:
        rows = await self._backend.call(
            "fetch", f"SELECT r.key {self._from} ORDER BY r.seq", self._name
        )
        return [row[0] for row in rows]

    async def count(self) -> int:
        return int(
            await self._backend.call("fetchval", f"SELECT count(*) {self._from}", self._name)
        )

    async def item_chunks(self) -> AsyncIterator[list[tuple[str, bytes]]]:
        """Rows in insertion order, CHUNK_ROWS at a time (keyset paging: nothing held between).

        A key deleted and set again during the scan moves past the cursor; it is yielded once.
        Records written during the scan may or may not be seen, as with a live dict.
        """
        query = f"SELECT r.seq, r.key, r.value {self._from} AND r.seq > $2 ORDER BY r.seq LIMIT $3"
        after = 0
        seen: set[str] = set()
        while True:
            rows = await self._backend.call("fetch", query, self._name, after, CHUNK_ROWS)
            if not rows:
                return
            fresh = [(row[1], str(row[2]).encode()) for row in rows if row[1] not in seen]
            seen.update(key for key, _ in fresh)
            yield fresh
            after = rows[-1][0]

    async def value_chunks(self) -> AsyncIterator[list[bytes]]:
        async for chunk in self.item_chunks():
            yield [value for _, value in chunk]

    async def query(self, query: Query) -> list[tuple[str, Any]]:
        return await self._finder.query(query)

    async def count_matching(self, where: Node) -> int:
        return await self._finder.count(where)

    async def explain(self, query: Query) -> dict[str, Any]:
        return await self._finder.explain(query)

    async def create_index(self, path: str, unique: bool) -> bool:
        return await self._finder.create_index(path, unique)

    async def drop_index(self, path: str) -> bool:
        return await self._finder.drop_index(path)

    async def list_indexes(self) -> list[dict[str, Any]]:
        return await self._finder.list_indexes()

    async def apply(self, mutation: Mutation) -> Any:
        try:
            return await self._apply(mutation)
        except _Refused as refused:
            if refused.sqlstate != UNIQUE_VIOLATION:
                raise
            raise await self._finder.duplicate(refused.detail, _written(mutation)) from None

    async def _apply(self, mutation: Mutation) -> Any:
        n, call, name = self._backend.sql, self._backend.call, self._name
        upsert = "ON CONFLICT (collection_id, key) DO UPDATE SET value = EXCLUDED.value"
        match mutation:
            case SetValue(key, value_json):
                query = f"INSERT INTO {n.records} (collection_id, key, value) "
                query += f"VALUES ({n.collection_id}($1), $2, $3::json) {upsert}"
                await call("execute", query, name, key, value_json.decode())
                return True
            case Delete(key):
                query = f"DELETE FROM {n.records} r USING {n.collections} c "
                query += "WHERE c.id = r.collection_id AND c.name = $1 AND r.key = $2 RETURNING 1"
                return await call("fetchval", query, name, key) is not None
            case Clear():
                query = f"DELETE FROM {n.records} WHERE collection_id = {n.collection_id}($1)"
                await call("execute", query, name)
                return True
            case SetMany(pairs):
                items = dict(pairs)  # last value wins, first position kept, as in a dict
                if items:
                    query = f"WITH c AS MATERIALIZED (SELECT {n.collection_id}($1) AS id) "
                    query += f"INSERT INTO {n.records} (collection_id, key, value) "
                    query += "SELECT c.id, t.k, t.v::json FROM c, unnest($2::text[], $3::text[]) "
                    query += f"WITH ORDINALITY AS t(k, v, i) ORDER BY t.i {upsert}"
                    values = [value.decode() for value in items.values()]
                    await call("execute", query, name, list(items), values)
                return len(pairs)
            case DeleteMany(keys):
                query = f"DELETE FROM {n.records} r USING {n.collections} c "
                query += "WHERE c.id = r.collection_id "
                query += "AND c.name = $1 AND r.key = ANY($2::text[]) RETURNING 1"
                return len(await call("fetch", query, name, list(keys)))
            case Update():
                return await self._update(mutation)
            case Increment():
                return await self._increment(mutation)

    async def _update(self, mutation: Update) -> bool:
        query = f"SELECT {self._backend.sql.update}($1, $2, $3::jsonb)"
        changes = encode(mutation.updates).decode()
        try:
            return bool(
                await self._backend.call("fetchval", query, self._name, mutation.key, changes)
            )
        except _Refused as refused:
            if refused.sqlstate == UNIQUE_VIOLATION:
                raise
            found = _JSON_TO_PYTHON.get(refused.detail, refused.detail)
            problem = f"update needs a stored object, found {found}"
            raise InvalidOperationError(problem, collection=self._name, key=mutation.key) from None

    async def _increment(self, mutation: Increment) -> int | float:
        query = f"SELECT {self._backend.sql.increment}($1, $2, $3::text[], $4::numeric, $5)"
        amount = (
            Decimal(repr(mutation.amount))
            if isinstance(mutation.amount, float)
            else mutation.amount
        )
        as_float = isinstance(mutation.amount, float)
        path = mutation.field
        args = (self._name, mutation.key, list(path.segments), amount, as_float)
        try:
            result: int | float = decode(await self._backend.call("fetchval", query, *args))
        except _Refused as refused:
            if refused.sqlstate == UNIQUE_VIOLATION:
                raise
            raise self._increment_refused(mutation, refused) from None
        return result

    def _increment_refused(self, mutation: Increment, refused: _Refused) -> DatabaseError:
        """The error the file engine raises for the same refusal (``backends/increment.py``)."""
        where = (self._name, mutation.key)
        depth, _, kind = refused.detail.partition(":")
        found = _JSON_TO_PYTHON.get(refused.detail, refused.detail)
        match refused.sqlstate:
            case schema.NOT_A_NUMBER:
                return increment.not_a_number(mutation.field, found, *where)
            case schema.NOT_A_CONTAINER:
                kind = _JSON_TO_PYTHON.get(kind, kind)
                return increment.not_a_container(mutation.field, int(depth), kind, *where)
            case schema.NO_ELEMENT:
                return increment.no_element(mutation.field, int(depth), *where)
            case schema.NOT_AN_OBJECT:
                problem = f"increment needs an object or a number, found {found}"
                return InvalidOperationError(problem, collection=self._name, key=mutation.key)
        message = f"incrementing by {mutation.amount!r} overflows or exceeds 64 bits"
        return InvalidValueError(message, key=mutation.key)


def _written(mutation: Mutation) -> dict[str, Any]:
    """The records a mutation writes whole, decoded (for naming a unique index's refusal)."""
    match mutation:
        case SetValue(key, value_json):
            return {key: decode(value_json)}
        case SetMany(pairs):
            return {key: decode(value_json) for key, value_json in pairs}
    return {getattr(mutation, "key", "?"): {}}


class _Refused(Exception):
    """A refusal raised by one of our server-side functions (SQLSTATE AJ00x) or a range error."""

    def __init__(self, sqlstate: str, detail: str) -> None:
        self.sqlstate = sqlstate
        self.detail = detail


class PostgresBackend:
    """A PostgreSQL database reached through a pool of ``options.pool_size`` connections."""

    def __init__(self, url: str, options: Options) -> None:
        if asyncpg is None:
            raise ConfigurationError(
                "db_path", "PostgreSQL needs: pip install 'asyncjsondb[postgres]'"
            )
        self._url, options = split_url_options(url, options)
        self.location = redact(url)
        self.sql = Names(options.schema or "public", options.table_prefix or "asyncjsondb_")
        self._key = (self._url, options.durable, options.pool_size or 10)
        self._schema_key = (self.sql.schema, self.sql.prefix)
        self._group: Group | None = None
        self._group_pid = 0
        self._closed = False
        self._lock = threading.Lock()

    # -- running statements on a pool of the caller's loop, or of the hop loop -------------

    async def call(self, method: str, query: str, *args: Any) -> Any:
        """``connection.<method>(query, *args)`` on a pooled connection, errors translated."""
        return await self._run(_statement, method, query, args)

    async def on_connection(self, function: Callable[..., Awaitable[T]], *args: Any) -> T:
        """``function(connection, *args)`` on one pooled connection (several statements pay one
        hop, when they hop at all), errors translated."""
        return await self._run(function, *args)

    async def in_transaction(self, function: Callable[..., Awaitable[T]], *args: Any) -> T:
        """``function(connection, *args)`` inside one transaction, errors translated."""
        return await self._run(_in_transaction, function, *args)

    async def _run(self, function: Callable[..., Awaitable[T]], *args: Any) -> T:
        """On the caller's loop's own pool if it has one (``pools.py``), else hop to the shared."""
        group = self._group_here()
        here = group.pool_for(asyncio.get_running_loop())
        if here is None:
            return await HOP.run(self._hopped, group, function, *args)
        return await self._guarded(here, function, args)

    async def _hopped(self, group: Group, function: Callable[..., Awaitable[T]], *args: Any) -> T:
        return await self._guarded(group.hop_pool(), function, args)

    async def _guarded(
        self, here: LoopPool, function: Callable[..., Awaitable[T]], args: tuple[Any, ...]
    ) -> T:
        try:
            if self._schema_key not in here.group.ready:
                await here.run(self._set_up)
                here.group.ready.add(self._schema_key)
            return await here.run(function, *args)
        except DatabaseError:
            raise
        except asyncpg.PostgresError as exc:
            raise _translate(exc, self.location) from exc
        except (OSError, asyncpg.InterfaceError) as exc:
            raise ServerError(self.location, f"cannot reach the server: {exc}") from exc

    async def _set_up(self, connection: Any) -> None:
        """The schema, once per group; many hosts starting together take turns."""
        async with connection.transaction():
            await connection.execute("SELECT pg_advisory_xact_lock($1)", self.sql.lock_key)
            await connection.execute(schema.ddl(self.sql))

    def _group_here(self) -> Group:
        """This object's reference to the process's pools on its server settings."""
        group = self._group
        if group is not None and self._group_pid == os.getpid():
            return group
        with self._lock:
            if self._closed:
                raise DatabaseClosedError(self.location)
            if self._group is None or self._group_pid != os.getpid():
                self._group = GROUPS.take(self._key, self.location)
                self._group_pid = os.getpid()
            return self._group

    async def _release(self) -> None:
        with self._lock:
            self._closed = True
            group, self._group = self._group, None
            if group is None or self._group_pid != os.getpid():
                return
        if GROUPS.give_back(group):
            await group.close()

    # -- the Backend interface -------------------------------------------------------------

    async def collection(self, name: str) -> PostgresCollection:
        await self.call("fetchval", f"SELECT {self.sql.collection_id}($1)", name)
        return PostgresCollection(self, name)

    async def drop(self, name: str) -> bool:
        return await self.in_transaction(self._drop, name)

    async def _drop(self, connection: Any, name: str) -> bool:
        n = self.sql
        indexes = await connection.fetch(
            f"SELECT i.name FROM {n.indexes} i JOIN {n.collections} c "
            "ON c.id = i.collection_id WHERE c.name = $1",
            name,
        )
        for row in indexes:  # the definitions go with the collection's row
            await drop_index_objects(connection, n.schema, row[0])
        query = f"DELETE FROM {n.collections} WHERE name = $1 RETURNING 1"
        return await connection.fetchval(query, name) is not None

    async def names(self) -> list[str]:
        query = f'SELECT name FROM {self.sql.collections} ORDER BY name COLLATE "C"'
        return [row[0] for row in await self.call("fetch", query)]

    async def compact(self) -> list[str]:
        return []  # the server keeps its own files compact

    async def backup(self, target: Path) -> None:
        moment, indexes = await self._run(self._read_everything)
        await run_blocking(write_backup, moment, target, indexes)

    async def _read_everything(
        self, connection: Any
    ) -> tuple[dict[str, dict[str, bytes]], Indexes]:
        """Every collection at one moment: one repeatable-read transaction."""
        n = self.sql
        moment: dict[str, dict[str, bytes]] = {}
        async with connection.transaction(isolation="repeatable_read", readonly=True):
            query = f'SELECT id, name FROM {n.collections} ORDER BY name COLLATE "C"'
            for collection_id, name in await connection.fetch(query):
                rows = connection.cursor(
                    f"SELECT key, value FROM {n.records} WHERE collection_id = $1 ORDER BY seq",
                    collection_id,
                )
                moment[name] = {key: str(value).encode() async for key, value in rows}
            query = f"SELECT c.name, i.path, i.is_unique FROM {n.indexes} i "
            query += f"JOIN {n.collections} c ON c.id = i.collection_id ORDER BY i.seq"
            indexes: dict[str, list[dict[str, Any]]] = {}
            for name, path, unique in await connection.fetch(query):
                indexes.setdefault(name, []).append({"path": path, "unique": unique})
        return moment, indexes

    async def restore(self, source: Path, only: str | None = None) -> None:
        # verified (whole, or the one collection) before anything changes
        backup = await run_blocking(read_backup, source, only)
        indexes = await run_blocking(read_backup_indexes, source)
        await self.in_transaction(self._replace_everything, backup, indexes, only)

    async def _replace_everything(
        self,
        connection: Any,
        backup: dict[str, tuple[bytes, dict[str, bytes]]],
        indexes: Indexes,
        only: str | None,
    ) -> None:
        n = self.sql
        if only is None:
            replaced = await connection.fetch(f"SELECT name FROM {n.indexes}")
        else:
            replaced = await connection.fetch(
                f"SELECT i.name FROM {n.indexes} i JOIN {n.collections} c "
                "ON c.id = i.collection_id WHERE c.name = $1",
                only,
            )
        for row in replaced:
            await drop_index_objects(connection, n.schema, row[0])
        if only is None:
            await connection.execute(f"DELETE FROM {n.collections}")
        else:
            await connection.execute(f"DELETE FROM {n.collections} WHERE name = $1", only)
        for name, (_, data) in backup.items():
            query = f"INSERT INTO {n.collections} (name) VALUES ($1) RETURNING id"
            collection_id = await connection.fetchval(query, name)
            await connection.execute(
                f"INSERT INTO {n.records} (collection_id, key, value) "
                "SELECT $1, t.k, t.v::json FROM unnest($2::text[], $3::text[]) "
                "WITH ORDINALITY AS t(k, v, i) ORDER BY t.i",
                collection_id,
                list(data),
                [value.decode() for value in data.values()],
            )
            for index in indexes.get(name, []):
                await Finder(self, name).create_index_in(connection, index["path"], index["unique"])

    async def close(self) -> None:
        """Return this object's reference to the pools; a cancelled close still does."""
        await asyncio.shield(self._release())


async def _statement(connection: Any, method: str, query: str, args: tuple[Any, ...]) -> Any:
    return await getattr(connection, method)(query, *args)


async def _in_transaction(connection: Any, function: Callable[..., Awaitable[T]], *args: Any) -> T:
    async with connection.transaction():
        return await function(connection, *args)


def _translate(exc: Any, location: str) -> Exception:
    sqlstate = getattr(exc, "sqlstate", "") or ""
    if sqlstate.startswith("AJ") or sqlstate == "22003":  # ours, or numeric_value_out_of_range
        return _Refused(sqlstate, getattr(exc, "detail", "") or "")
    if sqlstate == UNIQUE_VIOLATION:  # a unique index of ours: the caller names it
        return _Refused(sqlstate, getattr(exc, "constraint_name", "") or "")
    if sqlstate in ("22P05", "22021"):  # \u0000 in text, or bytes the server cannot store
        if "key" in str(exc):
            return InvalidKeyError(None, f"the server cannot store it: {exc}")
        return InvalidValueError(f"the server cannot store it: {exc}")
    return ServerError(location, f"{type(exc).__name__}: {exc}")

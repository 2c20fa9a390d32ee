"""``get``, ``set``, ``delete``, ``find``, ``keys`` and ``count``: records, through the API.

``find`` and ``count`` take filters of the query language (``--where``), as the API does.

PATH is a folder or a ``postgresql://`` URL alike: everything here goes through the API.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from ..database import AsyncJSONDB
from ..errors import InvalidQueryError, InvalidValueError
from ..ordering import parse_sort_text
from ..query import parse_where, parse_where_text
from .common import (
    Failure,
    Location,
    Refusal,
    collection_argument,
    database_argument,
    existing_collection,
    parse_value,
    run,
)
from .output import echo_json

_MISSING = object()
T = TypeVar("T")


@click.command("get")
@database_argument()
@collection_argument()
@click.argument("key")
def get_command(path: Location, collection: str, key: str) -> None:
    """Print the value stored under KEY as JSON (exit 1 if there is none)."""

    async def work(db: AsyncJSONDB) -> Any:
        return await (await existing_collection(db, collection)).get(key, _MISSING)

    value = run(path, work)
    if value is _MISSING:
        raise Failure(f"no key {key!r} in collection {collection!r}")
    echo_json(value)


@click.command("set")
@database_argument(writes=True)
@collection_argument()
@click.argument("key")
@click.argument("value", metavar="VALUE")
def set_command(path: Location, collection: str, key: str, value: str) -> None:
    """Store VALUE under KEY: JSON ('{"age": 30}', 30, true), a bare word as a string, or -
    to read JSON from stdin."""
    text = sys.stdin.read() if value == "-" else value
    document = parse_value(text, "the value")

    async def work(db: AsyncJSONDB) -> None:
        await (await db.get_collection(collection)).set(key, document)

    try:
        run(path, work)
    except InvalidValueError as exc:
        raise Refusal(str(exc)) from exc


@click.command("delete")
@database_argument()
@collection_argument()
@click.argument("key")
def delete_command(path: Location, collection: str, key: str) -> None:
    """Remove KEY (exit 1 if it was not there)."""

    async def work(db: AsyncJSONDB) -> bool:
        return await (await existing_collection(db, collection)).delete(key)

    if not run(path, work):
        raise Failure(f"no key {key!r} in collection {collection!r}")


where_option = click.option(
    "--where",
    "conditions",
    multiple=True,
    metavar="FILTER",
    help='A filter as JSON (\'{"age": {"$gte": 18}}\', see docs/queries.md), or FIELD=VALUE: '
    "FIELD (a.b for nested) equals VALUE (JSON, or a bare word as a string, as for set). "
    "Repeat to require several.",
)


@click.command("find")
@database_argument()
@collection_argument()
@where_option
@click.option("--sort", metavar="FIELDS", help="Sort by these fields: -age,name ('-' descends).")
@click.option("--fields", metavar="PATHS", help="Print only these fields: name,address.city.")
@click.option("--skip", type=click.IntRange(min=0), default=0, help="Leave out this many first.")
@click.option("--limit", type=click.IntRange(min=0), help="Print at most this many.")
def find_command(
    path: Location,
    collection: str,
    conditions: tuple[str, ...],
    sort: str | None,
    fields: str | None,
    skip: int,
    limit: int | None,
) -> None:
    """Print matching records, one {"key": ..., "value": ...} JSON line each, in insertion order
    (or by --sort)."""
    where = parse_conditions(conditions)
    order = _refused_if_invalid(lambda: parse_sort_text(sort) if sort else None)
    paths = [part.strip() for part in fields.split(",")] if fields else None

    async def work(db: AsyncJSONDB) -> list[tuple[str, Any]]:
        records = await existing_collection(db, collection)
        sorting = [(p.text, direction) for p, direction in order] if order else None
        return await records.find_items(
            where=where, sort=sorting, skip=skip, limit=limit, fields=paths
        )

    for key, value in _refused_if_invalid(lambda: run(path, work)):
        echo_json({"key": key, "value": value})


def parse_conditions(conditions: tuple[str, ...]) -> dict[str, Any] | None:
    """Every ``--where`` as one filter of the query language; a bad one is refused (exit 2)."""
    parts = _refused_if_invalid(lambda: [parse_condition(c) for c in conditions])
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else {"$and": parts}


def parse_condition(condition: str) -> dict[str, Any]:
    """JSON text as a filter, or ``a.b=VALUE`` (VALUE read as ``set`` reads it) as equality."""
    if condition.lstrip().startswith("{"):
        parse_where_text(condition)
        found: dict[str, Any] = json.loads(condition)
        return found
    field, equals, raw = condition.partition("=")
    if not equals or not field:
        raise Refusal(f"--where {condition!r}: expected FIELD=VALUE or a JSON filter")
    value = parse_value(raw, f"--where {condition!r}: the value")
    parse_where({field: value})
    return {field: value}


def _refused_if_invalid(make: Callable[[], T]) -> T:
    try:
        return make()
    except InvalidQueryError as exc:
        raise Refusal(str(exc)) from exc


@click.command("keys")
@database_argument()
@collection_argument()
@click.option("--json", "as_json", is_flag=True, help="One JSON list, for machines.")
def keys_command(path: Location, collection: str, as_json: bool) -> None:
    """Print the keys of COLLECTION, one a line, in insertion order."""

    async def work(db: AsyncJSONDB) -> list[str]:
        return await (await existing_collection(db, collection)).keys()

    keys = run(path, work)
    if as_json:
        echo_json(keys)
    else:
        for key in keys:
            click.echo(key)


@click.command("count")
@database_argument()
@collection_argument()
@where_option
def count_command(path: Location, collection: str, conditions: tuple[str, ...]) -> None:
    """Print how many records COLLECTION holds (that match every --where, if given)."""
    where = parse_conditions(conditions)

    async def work(db: AsyncJSONDB) -> int:
        return await (await existing_collection(db, collection)).count(where)

    click.echo(str(run(path, work)))


COMMANDS = [get_command, set_command, delete_command, find_command, keys_command, count_command]

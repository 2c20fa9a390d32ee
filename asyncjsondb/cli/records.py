"""``get``, ``set``, ``increment``, ``delete``, ``find``, ``keys`` and ``count``: records.

PATH is a folder or a ``postgresql://`` URL alike: everything here goes through the API.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from typing import Any

import click

from ..collection import Collection
from ..database import AsyncJSONDB
from ..errors import InvalidQueryError, InvalidValueError
from ..paths import MISSING, parse_path, resolve_segments
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
_FIND_PAGE = 1000  # records decoded at a time by find: memory stays bounded, --limit stops early


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


@click.command("increment")
@database_argument(writes=True)
@collection_argument()
@click.argument("key")
@click.argument("field", default="value")
@click.option("--by", "amount", default="1", metavar="NUMBER", help="What to add (default 1).")
def increment_command(path: Location, collection: str, key: str, field: str, amount: str) -> None:
    """Add NUMBER to FIELD of KEY (default "value"; a.b for nested, as in --where) and print the
    new number. A missing KEY or field starts at 0; missing objects on the way are created."""
    number = parse_value(amount, "--by")
    if isinstance(number, bool) or not isinstance(number, (int, float)):
        raise Refusal(f"--by {amount!r} is not a number")

    async def work(db: AsyncJSONDB) -> int | float:
        return await (await db.get_collection(collection)).increment(key, field, number)

    try:
        echo_json(run(path, work))
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
    metavar="FIELD=VALUE",
    help="Keep objects whose FIELD (a.b for nested) equals VALUE (JSON, or a bare word as a "
    "string, as for set). Repeat to require several.",
)


@click.command("find")
@database_argument()
@collection_argument()
@where_option
@click.option("--limit", type=click.IntRange(min=0), help="Print at most this many.")
def find_command(
    path: Location, collection: str, conditions: tuple[str, ...], limit: int | None
) -> None:
    """Print matching records, one {"key": ..., "value": ...} JSON line each, in insertion order."""
    wanted = [parse_condition(condition) for condition in conditions]

    async def work(db: AsyncJSONDB) -> None:
        if limit == 0:
            return
        printed = 0
        async for key, value in _matching(await existing_collection(db, collection), wanted):
            echo_json({"key": key, "value": value})
            printed += 1
            if printed == limit:
                return

    run(path, work)


Condition = tuple[list[str], Any]


async def _matching(records: Collection, wanted: list[Condition]) -> AsyncIterator[tuple[str, Any]]:
    """The records matching every condition, in insertion order, decoded a page at a time."""
    keys = await records.keys()
    for start in range(0, len(keys), _FIND_PAGE):
        for key, value in (await records.get_many(keys[start : start + _FIND_PAGE])).items():
            if all(_matches(value, fields, expected) for fields, expected in wanted):
                yield key, value


def parse_condition(condition: str) -> Condition:
    """``a.b=VALUE`` -> (["a", "b"], VALUE read as ``set`` reads it)."""
    field, equals, raw = condition.partition("=")
    if not equals or not field:
        raise Refusal(f"--where {condition!r}: expected FIELD=VALUE")
    try:
        path = parse_path(field)
    except InvalidQueryError as exc:
        raise Refusal(f"--where {condition!r}: {exc.problem}") from exc
    return list(path.segments), parse_value(raw, f"--where {condition!r}: the value")


def _matches(value: Any, fields: list[str], expected: Any) -> bool:
    # A dotted path as the query language reads it: a.b walks objects, scores.0 indexes a list.
    value = resolve_segments(tuple(fields), value)
    if value is MISSING:
        return False
    # JSON true is not 1: compare the kinds too, not only Python equality.
    return bool(value == expected and isinstance(value, bool) == isinstance(expected, bool))


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
    wanted = [parse_condition(condition) for condition in conditions]

    async def work(db: AsyncJSONDB) -> int:
        records = await existing_collection(db, collection)
        if not wanted:
            return await records.count()
        return sum([1 async for _ in _matching(records, wanted)])

    click.echo(str(run(path, work)))


COMMANDS = [
    get_command,
    set_command,
    increment_command,
    delete_command,
    find_command,
    keys_command,
    count_command,
]

"""``get``, ``set``, ``delete`` and ``find``: single records, through the ``Collection`` API.

PATH is a folder or a ``postgresql://`` URL alike: everything here goes through the API.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from ..database import AsyncJSONDB
from ..errors import InvalidValueError
from .common import (
    Failure,
    Location,
    Refusal,
    collection_argument,
    database_argument,
    existing_collection,
    load_json,
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
@database_argument(create=True)
@collection_argument()
@click.argument("key")
@click.argument("value", metavar="JSON")
def set_command(path: Location, collection: str, key: str, value: str) -> None:
    """Store JSON (a JSON text, or - to read it from stdin) under KEY."""
    text = sys.stdin.read() if value == "-" else value
    document = parse_json(text, "the value")

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


@click.command("find")
@database_argument()
@collection_argument()
@click.option(
    "--where",
    "conditions",
    multiple=True,
    metavar="FIELD=VALUE",
    help="Keep objects whose FIELD (a.b for nested) equals VALUE (JSON, else a string). "
    "Repeat to require several.",
)
@click.option("--limit", type=click.IntRange(min=0), help="Print at most this many.")
def find_command(
    path: Location, collection: str, conditions: tuple[str, ...], limit: int | None
) -> None:
    """Print matching records, one {"key": ..., "value": ...} JSON line each, in insertion order."""
    wanted = [parse_condition(condition) for condition in conditions]

    async def work(db: AsyncJSONDB) -> None:
        records = await existing_collection(db, collection)
        keys = await records.keys()
        printed = 0
        for start in range(0, len(keys), _FIND_PAGE):
            for key, value in (await records.get_many(keys[start : start + _FIND_PAGE])).items():
                if limit is not None and printed >= limit:
                    return
                if all(_matches(value, fields, expected) for fields, expected in wanted):
                    echo_json({"key": key, "value": value})
                    printed += 1

    run(path, work)


def parse_json(text: str, what: str) -> Any:
    try:
        return load_json(text)
    except ValueError as exc:
        raise Refusal(f"{what} is not valid JSON: {exc}") from exc


def parse_condition(condition: str) -> tuple[list[str], Any]:
    """``a.b=VALUE`` -> (["a", "b"], VALUE as JSON, or the raw string if it is not JSON)."""
    field, equals, raw = condition.partition("=")
    if not equals or not field:
        raise Refusal(f"--where {condition!r}: expected FIELD=VALUE")
    try:
        expected = load_json(raw)
    except ValueError:
        expected = raw
    return field.split("."), expected


def _matches(value: Any, fields: list[str], expected: Any) -> bool:
    for field in fields:
        if not isinstance(value, dict) or field not in value:
            return False
        value = value[field]
    # JSON true is not 1: compare the kinds too, not only Python equality.
    return bool(value == expected and isinstance(value, bool) == isinstance(expected, bool))


COMMANDS = [get_command, set_command, delete_command, find_command]

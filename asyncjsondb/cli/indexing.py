"""``index list|create|drop``: a collection's indexes, through the API."""

from __future__ import annotations

import click

from ..database import AsyncJSONDB
from ..errors import InvalidQueryError
from .common import Location, Refusal, collection_argument, database_argument, run
from .output import echo_json


@click.group("index")
def index_group() -> None:
    """List, create or drop the indexes of a collection (queries on FIELD get faster)."""


@index_group.command("list")
@database_argument()
@collection_argument()
def list_command(path: Location, collection: str) -> None:
    """Print the indexes, one {"path": ..., "unique": ...} JSON line each."""

    async def work(db: AsyncJSONDB) -> list[dict[str, object]]:
        return await (await db.get_collection(collection)).list_indexes()

    for index in run(path, work):
        echo_json(index)


@index_group.command("create")
@database_argument(writes=True)
@collection_argument()
@click.argument("field")
@click.option("--unique", is_flag=True, help="Refuse writes that would repeat a value.")
def create_command(path: Location, collection: str, field: str, unique: bool) -> None:
    """Index FIELD (a.b for nested); nothing to do if that index exists."""

    async def work(db: AsyncJSONDB) -> bool:
        return await (await db.get_collection(collection)).create_index(field, unique=unique)

    try:
        created = run(path, work)
    except InvalidQueryError as exc:
        raise Refusal(str(exc)) from exc
    click.echo(f"created the index on {field!r}" if created else f"{field!r} is indexed already")


@index_group.command("drop")
@database_argument(writes=True)
@collection_argument()
@click.argument("field")
def drop_command(path: Location, collection: str, field: str) -> None:
    """Remove the index on FIELD (exit 1 if there was none)."""

    async def work(db: AsyncJSONDB) -> bool:
        return await (await db.get_collection(collection)).drop_index(field)

    if not run(path, work):
        raise click.ClickException(f"no index on {field!r} in {collection!r}")


COMMANDS = [index_group]

"""What the commands share: argument types, exit codes, and running the core API on a database.

Exit codes: 0 success; 1 the operation failed (a ``DatabaseError``, a bad input file, a missing
key, problems found by ``check``); 2 the command line is wrong (unknown option, bad collection
name, missing folder, a VALUE that is not JSON), and nothing was touched.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import click

from ..collection import Collection
from ..database import AsyncJSONDB
from ..errors import InvalidNameError
from ..names import validate_collection_name

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])

EXIT_FAILED = 1
EXIT_USAGE = 2


class Failure(click.ClickException):
    """The operation failed: exit code 1."""

    exit_code = EXIT_FAILED


class Refusal(click.ClickException):
    """The command line asks for something we will not do: exit code 2, nothing touched."""

    exit_code = EXIT_USAGE


@dataclass(frozen=True)
class Settings:
    """The group's options, handed to every command through ``click``'s context object."""

    lock_timeout: float = 10.0


def _collection_name(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """A name the core accepts; anything else is a usage error before any file is touched."""
    try:
        return validate_collection_name(value)
    except InvalidNameError as exc:
        raise click.BadParameter(f"{value!r}: {exc.reason}") from exc


def database_argument(*, create: bool = False) -> Callable[[F], F]:
    """``PATH``: an existing database folder, or (``create``) one to make if it is missing."""
    kind = click.Path(exists=not create, file_okay=False, path_type=Path)
    return click.argument("path", type=kind)


def collection_argument() -> Callable[[F], F]:
    return click.argument("collection", callback=_collection_name)


def load_json(text: str | bytes) -> Any:
    """Parse JSON given to the command line, exactly: standard JSON only, integers never rounded.

    The stdlib parser keeps integers exact, so one beyond 64 bits reaches the core, which refuses
    it by name, instead of being silently rounded to a float. ValueError when it is not JSON.
    """
    try:
        return _DECODER.decode(text.decode() if isinstance(text, bytes) else text)
    except RecursionError as exc:
        raise ValueError("nested too deeply") from exc


def _reject_constant(token: str) -> Any:
    raise ValueError(f"{token} is not standard JSON")


_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


def settings() -> Settings:
    obj = click.get_current_context().find_object(Settings)
    return obj if obj is not None else Settings()


def run(path: Path, work: Callable[[AsyncJSONDB], Awaitable[T]]) -> T:
    """Open the database at ``path``, await ``work(db)`` on a new event loop, close it."""

    async def session() -> T:
        async with AsyncJSONDB(path, lock_timeout=settings().lock_timeout) as db:
            return await work(db)

    return asyncio.run(session())


async def existing_collection(db: AsyncJSONDB, name: str) -> Collection:
    """The collection ``name``; a usage error if it does not exist (reads never create one)."""
    if name not in await db.list_collections():
        raise Refusal(f"no collection {name!r} in {db.db_path}")
    return await db.get_collection(name)

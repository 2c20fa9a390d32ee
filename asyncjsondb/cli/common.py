"""What the commands share: argument types, exit codes, and running the core API on a database.

A database is a folder (a ``Path``) or a ``postgresql://`` URL (a ``str``), as for ``AsyncJSONDB``;
a URL is only ever shown through ``shown``, which hides its password.

Commands that write refuse a folder that does not exist unless given ``--create``, so a typo
in PATH never starts a new, empty database. A VALUE is JSON; a bare word that is not JSON is
taken as a string (see ``parse_value``), the same for ``set`` and ``--where``.

Exit codes: 0 success; 1 the operation failed (a ``DatabaseError``, a bad input file, a missing
key, problems found by ``check``, a server that does not answer); 2 the command line is wrong
(unknown option, bad collection name, missing folder, a bad URL, a VALUE that is not JSON), and
nothing was touched.
"""

from __future__ import annotations

import asyncio
import functools
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import parse_qsl, urlsplit

import click

from ..backends import open_backend
from ..collection import Collection
from ..database import AsyncJSONDB
from ..errors import ConfigurationError, InvalidNameError
from ..names import validate_collection_name
from ..options import Options

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])
Location = Path | str  # a database folder, or a postgresql:// URL

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

    lock_timeout: float = Options.lock_timeout


def _collection_name(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """A name the core accepts; anything else is a usage error before any file is touched."""
    try:
        return validate_collection_name(value)
    except InvalidNameError as exc:
        raise click.BadParameter(f"{value!r}: {exc.reason}") from exc


def optional_collection_name(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> str | None:
    """As ``collection_argument`` checks a name, for an option that may be left out."""
    return None if value is None else _collection_name(ctx, param, value)


def is_url(location: Location) -> bool:
    return isinstance(location, str)


def shown(location: Location) -> str:
    """How messages name a database: a folder as given, a URL without its password."""
    if not is_url(location):
        return str(location)
    from ..backends.postgres.backend import redact  # imports the driver: only for a URL

    return redact(str(location))


if TYPE_CHECKING:  # click >= 8.2 types ParamType by the values it converts; older is not generic
    _ParamType = click.ParamType[Any, Any]
else:
    _ParamType = click.ParamType


class DatabaseType(_ParamType):
    """A ``postgresql://`` URL, checked as the core checks it; else a folder, as ``click.Path``.

    A URL is refused (exit 2) for an unknown scheme, a bad query option or a missing driver,
    and never echoed with its password.
    """

    name = "PATH|URL"

    def __init__(self, *, create: bool) -> None:
        self._folder = click.Path(exists=not create, file_okay=False, path_type=Path)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        text = str(value)
        if "://" not in text:
            return self._folder.convert(value, param, ctx)
        if not _well_formed(text):  # then even redact could not find the password: show nothing
            self.fail(
                "not a valid URL (is the port a number? in a password, write / ? # as %2F %3F %23)",
                param,
                ctx,
            )
        if any("password" in key.lower() for key, _ in parse_qsl(urlsplit(text).query)):
            self.fail(
                "a password in the URL's query would be shown in messages: write "
                "user:password@host, or use PGPASSWORD or ~/.pgpass",
                param,
                ctx,
            )
        try:
            open_backend(text, Options())  # touches nothing; raises what AsyncJSONDB would
        except ConfigurationError as exc:
            self.fail(f"{shown(text)}: {exc}", param, ctx)
        return text


def _well_formed(url: str) -> bool:
    """The URL parses, with a numeric port, and any ``@`` is the one ending its user part."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError when the port is not a number
    except ValueError:
        return False
    return "@" not in url.replace(parts.netloc, "", 1)


def database_argument(name: str = "path", *, writes: bool = False) -> Callable[[F], F]:
    """A database argument: a folder or a URL. A folder must exist, except that a command that
    ``writes`` takes ``--create`` to start a new database there."""
    if not writes:
        return click.argument(name, type=DatabaseType(create=False))

    def decorate(command: F) -> F:
        @functools.wraps(command)
        def checked(*args: Any, create: bool, **kwargs: Any) -> Any:
            location = kwargs[name]
            if not create and not is_url(location) and not Path(location).is_dir():
                raise Refusal(
                    f"no database folder {location}: pass --create to start a new database there"
                )
            return command(*args, **kwargs)

        with_option = click.option(
            "--create", is_flag=True, help="Start a new database if the folder does not exist."
        )(checked)
        return click.argument(name, type=DatabaseType(create=True))(with_option)  # type: ignore[return-value]

    return decorate


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

# Text that can only have been meant as JSON: an object, array, string or number (NaN and
# Infinity too): when it does not parse, it is a mistake to report, never a string to store.
_MEANT_AS_JSON = re.compile(r"\s*([-{\[\"0-9]|NaN$|Infinity$)")


def parse_value(text: str, what: str) -> Any:
    """A VALUE from the command line: JSON, or else a bare word taken as a string.

    ``30`` is a number, ``true`` a boolean, ``'"30"'`` and ``Alice`` strings. Text that starts
    like JSON (``{ [ " - 0-9``, or ``NaN``) but does not parse is refused (exit 2) with the
    parser's reason, rather than stored as a string by accident.
    """
    try:
        return load_json(text)
    except ValueError as exc:
        if _MEANT_AS_JSON.match(text) or not text.strip():
            raise Refusal(
                f"{what} is not valid JSON ({exc}); write a JSON value, e.g. "
                """'{"name": "Alice"}', 30, true, '"a string"', or a bare word for a string"""
            ) from exc
        return text


def settings() -> Settings:
    obj = click.get_current_context().find_object(Settings)
    return obj if obj is not None else Settings()


def database_options() -> dict[str, Any]:
    """The options every command opens a database with."""
    return {"lock_timeout": settings().lock_timeout}


def run(path: Location, work: Callable[[AsyncJSONDB], Awaitable[T]]) -> T:
    """Open the database at ``path``, await ``work(db)`` on a new event loop, close it."""

    async def session() -> T:
        async with AsyncJSONDB(path, **database_options()) as db:
            return await work(db)

    return asyncio.run(session())


async def existing_collection(db: AsyncJSONDB, name: str) -> Collection:
    """The collection ``name``; a usage error if it does not exist (reads never create one)."""
    if name not in await db.list_collections():
        raise Refusal(f"no collection {name!r} in {shown(db.db_path)}")
    return await db.get_collection(name)


async def record_counts(db: AsyncJSONDB) -> dict[str, int]:
    """Each collection's record count, by name, through the API (so for any backend)."""
    return {
        name: await (await db.get_collection(name)).count() for name in await db.list_collections()
    }

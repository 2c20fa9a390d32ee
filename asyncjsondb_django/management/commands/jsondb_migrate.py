"""``manage.py jsondb_migrate SOURCE DEST [--noinput]``: copy a whole database, then verify it.

SOURCE and DEST are each a database folder or a ``postgresql://`` URL; ``--to-settings`` or
``--from-settings`` stands for the settings' database (its PATH, with its OPTIONS, e.g. a schema).
Explicit locations are opened with the default options. The work is ``asyncjsondb.migrate``.
"""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from asyncjsondb import AsyncJSONDB
from asyncjsondb.migrate import migrate

from ...conf import Location, conf, display, is_url
from ..base import command_errors, confirmed, format_table, record_counts, require_folder
from ..progress import progress_display

HEADER = ("collection", "records")
SHOWN_OPTIONS = ("schema", "table_prefix")  # they tell apart databases behind one URL


@dataclass(frozen=True)
class Endpoint:
    """One side of the migration: where it is, and the options to open it with."""

    location: Location
    options: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        names = [f"{name} {self.options[name]}" for name in SHOWN_OPTIONS if self.options.get(name)]
        return display(self.location) + (f" ({', '.join(names)})" if names else "")

    def open(self) -> AsyncJSONDB:
        return AsyncJSONDB(self.location, **self.options)


class Command(BaseCommand):
    help = (
        "Copy every collection of SOURCE into DEST, which must hold no collection, then verify "
        "the record counts. Each is a database folder or a postgresql:// URL."
    )
    stealth_options = ("stdin",)

    def add_arguments(self, parser: CommandParser) -> None:
        where = "a database folder or a postgresql:// URL"
        parser.add_argument(
            "source", nargs="?", metavar="SOURCE", help=f"The database to copy: {where}."
        )
        parser.add_argument(
            "dest", nargs="?", metavar="DEST", help=f"The empty destination: {where}."
        )
        parser.add_argument(
            "--to-settings",
            action="store_true",
            help="DEST is the settings' database (ASYNCJSONDB PATH and OPTIONS); give SOURCE only.",
        )
        parser.add_argument(
            "--from-settings",
            action="store_true",
            help="SOURCE is the settings' database; give DEST only.",
        )
        parser.add_argument(
            "--noinput",
            "--no-input",
            action="store_false",
            dest="interactive",
            help="Do not ask for confirmation.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        with command_errors():
            source, dest = endpoints(options)
            totals = asyncio.run(survey(source, dest))
        records = sum(totals.values())
        if options["interactive"]:
            self.stdout.write(
                f"Copying {len(totals)} collection(s), {records} record(s) from {source} into "
                f"the empty {dest}."
            )
            stdin = options.get("stdin") or sys.stdin
            if not confirmed(self.stdout, stdin, "migrate", "Nothing was copied."):
                self.stdout.write("Migration cancelled; nothing was copied.")
                return
        partial = f". {dest} may hold part of the copy: empty it before trying again."
        with (
            command_errors(partial),
            progress_display(self.stdout, totals, options["verbosity"]) as progress,
        ):
            counts = asyncio.run(
                migrate(
                    source.location,
                    dest.location,
                    source_options=source.options,
                    target_options=dest.options,
                    progress=progress,
                )
            )
        if options["verbosity"] > 0:
            self.stdout.write(
                f"Copied and verified {len(counts)} collection(s), {sum(counts.values())} "
                f"record(s) from {source} into {dest}:"
            )
            rows: list[list[object]] = [[name, count] for name, count in counts.items()]
            self.stdout.write(format_table(HEADER, [*rows, ["(total)", sum(counts.values())]]))


def endpoints(options: dict[str, Any]) -> tuple[Endpoint, Endpoint]:
    """SOURCE and DEST from the arguments, the flags standing for the settings' database."""
    given = [Endpoint(_location(value)) for value in (options["source"], options["dest"]) if value]
    from_settings, to_settings = options["from_settings"], options["to_settings"]
    if from_settings and to_settings:
        raise CommandError("--from-settings and --to-settings together name one database twice")
    if len(given) != 2 - from_settings - to_settings:
        wanted = "DEST" if from_settings else "SOURCE" if to_settings else "SOURCE and DEST"
        raise CommandError(f"give {wanted} (a database folder or a postgresql:// URL)")
    if from_settings:
        given.insert(0, Endpoint(conf.PATH, conf.OPTIONS))
    if to_settings:
        given.append(Endpoint(conf.PATH, conf.OPTIONS))
    return given[0], given[1]


def _location(value: str) -> Location:
    return value if "://" in value else Path(value)


async def survey(source: Endpoint, dest: Endpoint) -> dict[str, int]:
    """The source's record counts, after making sure there is something to copy and room for it.

    The core refuses a non-empty destination too; checking first refuses it before asking.
    A missing source folder is refused rather than created; a missing DEST folder is created.
    """
    if not is_url(source.location):
        require_folder(Path(source.location))
    async with source.open() as db:
        totals = await record_counts(db)
    if not totals:
        raise CommandError(f"{source} holds no collections: nothing to migrate")
    if is_url(dest.location) or Path(dest.location).exists():
        async with dest.open() as db:
            existing = await db.list_collections()
        if existing:
            raise CommandError(
                f"{dest} already holds {len(existing)} collection(s) ({', '.join(existing)}); "
                "jsondb_migrate copies only into an empty database. Nothing was copied."
            )
    return totals

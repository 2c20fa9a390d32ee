"""``migrate SRC DST``: copy a whole database between folders and servers, thin over the core.

The work and its verification are ``asyncjsondb.migrate.migrate``; this command counts the
source first (to refuse an empty one, and for the progress totals), shows progress, and turns
the outcome into messages and exit codes.
"""

from __future__ import annotations

import asyncio

import click

from ..errors import DatabaseError
from ..migrate import MigrationError, migrate
from .common import (
    DatabaseType,
    Failure,
    Location,
    database_argument,
    database_options,
    record_counts,
    run,
    shown,
)
from .output import echo_json, echo_table, plural, progress_by_name


@click.command("migrate")
@database_argument("source")
# A missing destination folder is created: making a new database is what migrate is for.
@click.argument("destination", type=DatabaseType(create=True))
@click.option("--json", "as_json", is_flag=True, help="The verified counts as JSON for machines.")
def migrate_command(source: Location, destination: Location, as_json: bool) -> None:
    """Copy every collection of SOURCE into DESTINATION, then verify the record counts.

    Each is a database folder or a postgresql:// URL. DESTINATION must hold no collection
    (a missing folder is created); otherwise nothing is copied. A progress bar shows on a
    terminal, a line per tenth of each collection on stderr elsewhere.
    """
    totals = run(source, record_counts)
    if not totals:
        raise Failure(f"{shown(source)} holds no collections: nothing to migrate")
    copied_any = False

    with progress_by_name("copying", totals) as reached:

        def progress(name: str, copied: int) -> None:
            nonlocal copied_any
            copied_any = True
            reached(name, copied)

        options = database_options()
        work = migrate(
            source, destination, source_options=options, target_options=options, progress=progress
        )
        try:
            counts = asyncio.run(work)
        except DatabaseError as exc:
            if not copied_any:
                if isinstance(exc, MigrationError):  # the core refused before copying
                    raise Failure(f"{shown(destination)}: {exc}; nothing was copied") from exc
                raise
            raise Failure(
                f"{exc}; {shown(destination)} may hold part of the copy: empty it before "
                "trying again"
            ) from exc
    _report(source, destination, counts, as_json)


def _report(source: Location, destination: Location, counts: dict[str, int], as_json: bool) -> None:
    records = sum(counts.values())
    if as_json:
        echo_json(
            {
                "source": shown(source),
                "destination": shown(destination),
                "collections": counts,
                "records": records,
            }
        )
        return
    echo_table(("NAME", "RECORDS"), [(name, str(n)) for name, n in counts.items()], right={1})
    click.echo(
        f"migrated {plural(len(counts), 'collection')}, {plural(records, 'record')} from "
        f"{shown(source)} to {shown(destination)}; counts verified"
    )


COMMANDS = [migrate_command]

"""``backup``, ``restore``, ``check``, ``compact``, ``drop``: thin wrappers over the core.

``backup`` and ``restore`` take a folder or a ``postgresql://`` URL alike. ``check`` and
``compact`` work on JSON files; given a URL they say so and, once the server has answered,
exit 0 with nothing done, so that scripts keep working when a database moves to a server.
"""

from __future__ import annotations

import sys
import time
from dataclasses import asdict
from pathlib import Path
from urllib.parse import urlsplit

import click

from ..backup import list_backups
from ..check import check_database
from ..database import AsyncJSONDB
from ..errors import DatabaseError
from ..options import Options
from .common import (
    EXIT_FAILED,
    Failure,
    Location,
    Refusal,
    collection_argument,
    database_argument,
    existing_collection,
    is_url,
    optional_collection_name,
    run,
    settings,
    shown,
)
from .output import echo_json, echo_table, human_size, plural


@click.command("backup")
@database_argument()
@click.option(
    "--output",
    "-o",
    type=click.Path(file_okay=False, path_type=Path),
    help="New folder for the backup; default: PATH-backup-<UTC time> beside PATH (for a URL: "
    "<database>[-<schema>]-backup-<UTC time> in the current folder). With --list: the folder "
    "whose backups to list.",
)
@click.option(
    "--list",
    "listing",
    is_flag=True,
    help="List the backups (default: PATH's, beside it) instead of writing one.",
)
@click.option("--json", "as_json", is_flag=True, help="With --list: a JSON list for machines.")
def backup_command(path: Location, output: Path | None, listing: bool, as_json: bool) -> None:
    """Write a consistent copy of every collection of PATH to a new folder; print its path.

    Safe while applications write: the backup is one moment of the whole database. The folder
    restores into a database folder or a server alike. --list lists backups, oldest first.
    """
    if listing:
        _list_backups(path, output, as_json)
        return
    if output is None:
        output = _default_backup(path, time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()))

    async def work(db: AsyncJSONDB) -> bool:
        return await db.backup(output)

    try:
        run(path, work)
    except OSError as exc:  # a folder on the way that cannot be made
        if isinstance(exc, DatabaseError):
            raise
        raise Failure(
            f"could not write the backup {output}: {exc.filename}: {exc.strerror}"
        ) from exc
    click.echo(str(output))


def _list_backups(path: Location, folder: Path | None, as_json: bool) -> None:
    """The backups in ``folder``, or PATH's default ones (``<name>-backup-*`` where
    ``backup`` puts them)."""
    prefix = ""
    if folder is None:
        default = _default_backup(path, "")
        folder, prefix = default.parent, default.name
    found = [info for info in list_backups(folder) if info.path.name.startswith(prefix)]
    if as_json:
        echo_json([{**asdict(info), "path": str(info.path)} for info in found])
        return
    rows = [
        (
            str(info.path),
            info.created,
            str(len(info.collections)),
            str(sum(info.collections.values())),
            human_size(info.bytes),
        )
        for info in found
    ]
    echo_table(("BACKUP", "CREATED", "COLLECTIONS", "RECORDS", "SIZE"), rows, right={2, 3, 4})


def _default_backup(path: Location, stamp: str) -> Path:
    if not is_url(path):
        resolved = Path(path).resolve()
        return resolved.with_name(f"{resolved.name}-backup-{stamp}")
    from ..backends.postgres.backend import split_url_options

    url, options = split_url_options(str(path), Options())
    parts = [urlsplit(url).path.strip("/") or "postgresql", options.schema]
    name = "-".join(part for part in parts if part)
    return Path.cwd() / f"{name}-backup-{stamp}"


@click.command("restore")
@database_argument(writes=True)
@click.argument("backup", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--yes", "-y", is_flag=True, help="Do not ask; required when not on a terminal.")
@click.option(
    "--collection",
    "-c",
    callback=optional_collection_name,
    help="Restore only this collection; the others are left as they are.",
)
def restore_command(path: Location, backup: Path, yes: bool, collection: str | None) -> None:
    """Replace every collection of PATH with those of BACKUP (or only --collection NAME).

    The whole backup is verified first (with --collection: its manifest and that file); a bad
    backup changes nothing. Collections that are not in the backup are deleted.
    """
    if collection is not None:
        _restore_one(path, backup, collection, yes)
        return
    if not yes:
        _confirm(
            "restore replaces the whole database",
            f"Replace every collection of {shown(path)} with the backup {backup}? "
            "Collections not in the backup are deleted",
        )

    async def work(db: AsyncJSONDB) -> list[str]:
        await db.restore(backup)
        return await db.list_collections()

    names = run(path, work)
    listed = ", ".join(names) or "-"
    click.echo(f"restored {plural(len(names), 'collection')} from {backup}: {listed}")


def _restore_one(path: Location, backup: Path, name: str, yes: bool) -> None:
    if not yes:
        _confirm(
            "restore replaces the collection",
            f"Replace the collection {name!r} of {shown(path)} with the backup's?",
        )

    async def work(db: AsyncJSONDB) -> int:
        await db.restore(backup, collection=name)
        return await (await db.get_collection(name)).count()

    count = run(path, work)
    click.echo(f"restored {name} ({plural(count, 'record')}) from {backup}")


@click.command("check")
@database_argument()
@click.option("--repair", is_flag=True, help="Repair what loses nothing acknowledged.")
@click.option("--json", "as_json", is_flag=True, help="The report as JSON for machines.")
def check_command(path: Location, repair: bool, as_json: bool) -> None:
    """Verify every file of PATH; exit 0 when sound, 1 when problems remain.

    --repair cuts journal tails torn by a crash mid-append (never acknowledged) and removes
    temp files of interrupted writes; any other problem is reported and left untouched.
    For a postgresql:// URL there are no files to verify: it says so once the server answers.
    """
    if is_url(path):
        note = _not_files(path, "check verifies the JSON files of a database folder")
        if as_json:
            echo_json({"ok": True, "problems": [], "repaired": [], "note": note})
        else:
            click.echo(note)
        return
    report = check_database(path, repair=repair, lock_timeout=settings().lock_timeout)
    if as_json:
        echo_json(
            {
                "ok": report.ok,
                "problems": [{**asdict(p), "path": str(p.path)} for p in report.problems],
                "repaired": report.repaired,
            }
        )
    else:
        for problem in report.problems:
            hint = " (repairable: run with --repair)" if problem.repairable and not repair else ""
            click.echo(f"{problem}{hint}")
        for done in report.repaired:
            click.echo(f"repaired: {done}")
        click.echo(_summary(path, len(report.problems), len(report.repaired), report.ok))
    if not report.ok:
        click.get_current_context().exit(EXIT_FAILED)


def _confirm(danger: str, question: str) -> None:
    """Ask on a terminal (abort on no); elsewhere refuse, since nobody can answer."""
    if not sys.stdin.isatty():
        raise Refusal(f"{danger}: pass --yes when not on a terminal")
    click.confirm(question, abort=True)


def _not_files(path: Location, what: str) -> str:
    """The server answers (else ServerError, exit 1), and a line that says nothing was done."""

    async def work(db: AsyncJSONDB) -> list[str]:
        return await db.list_collections()

    names = run(path, work)
    return (
        f"{shown(path)}: {what}; a PostgreSQL server keeps its own storage, so there is "
        f"nothing to do (the server answers: {plural(len(names), 'collection')})"
    )


def _summary(path: Location, found: int, repaired: int, ok: bool) -> str:
    if not found:
        return f"{path}: ok"
    state = "ok after repair" if ok else "NOT OK"
    return f"{path}: {plural(found, 'problem')}, {repaired} repaired: {state}"


@click.command("compact")
@database_argument()
def compact_command(path: Location) -> None:
    """Fold every journal into its <name>.json, so the .json files alone hold all the data.

    For a postgresql:// URL there is nothing to fold: it says so once the server answers.
    """
    if is_url(path):
        click.echo(_not_files(path, "compact folds journals into the .json files of a folder"))
        return

    async def work(db: AsyncJSONDB) -> list[str]:
        return await db.compact()

    names = run(path, work)
    if names:
        click.echo(f"compacted {plural(len(names), 'collection')}: {', '.join(names)}")
    else:
        click.echo(f"{path}: nothing to compact, the .json files already hold all the data")


@click.command("drop")
@database_argument()
@collection_argument()
@click.option("--yes", "-y", is_flag=True, help="Do not ask; required when not on a terminal.")
def drop_command(path: Location, collection: str, yes: bool) -> None:
    """Delete COLLECTION and its records; asks first on a terminal."""

    async def count(db: AsyncJSONDB) -> int:
        return await (await existing_collection(db, collection)).count()

    records = run(path, count)
    if not yes:
        _confirm(
            "drop deletes the collection",
            f"Delete the collection {collection} of {shown(path)} and its "
            f"{plural(records, 'record')}?",
        )

    async def work(db: AsyncJSONDB) -> bool:
        return await db.drop_collection(collection)

    if not run(path, work):
        raise Failure(f"no collection {collection!r} in {shown(path)}")
    click.echo(f"dropped {collection} ({plural(records, 'record')})")


COMMANDS = [backup_command, restore_command, check_command, compact_command, drop_command]

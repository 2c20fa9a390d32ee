"""``backup``, ``restore``, ``check``, ``compact``: thin wrappers over the core's own functions."""

from __future__ import annotations

import sys
import time
from dataclasses import asdict
from pathlib import Path

import click

from ..check import check_database
from ..database import AsyncJSONDB
from .common import EXIT_FAILED, Refusal, database_argument, run, settings
from .output import echo_json, plural


@click.command("backup")
@database_argument()
@click.option(
    "--output",
    "-o",
    type=click.Path(file_okay=False, path_type=Path),
    help="New folder for the backup; default: PATH-backup-<UTC time> beside PATH.",
)
def backup_command(path: Path, output: Path | None) -> None:
    """Write a consistent copy of every collection of PATH to a new folder; print its path.

    Safe while applications write: the backup is one moment of the whole database.
    """
    if output is None:
        resolved = path.resolve()
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        output = resolved.with_name(f"{resolved.name}-backup-{stamp}")

    async def work(db: AsyncJSONDB) -> bool:
        return await db.backup(output)

    run(path, work)
    click.echo(str(output))


@click.command("restore")
@database_argument(create=True)
@click.argument("backup", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--yes", "-y", is_flag=True, help="Do not ask; required when not on a terminal.")
def restore_command(path: Path, backup: Path, yes: bool) -> None:
    """Replace every collection of PATH with those of BACKUP.

    The whole backup is verified first; a bad backup changes nothing. Collections that are
    not in the backup are deleted.
    """
    if not yes:
        if not sys.stdin.isatty():
            raise Refusal("restore replaces the whole database: pass --yes when not on a terminal")
        click.confirm(
            f"Replace every collection of {path} with the backup {backup}? "
            "Collections not in the backup are deleted",
            abort=True,
        )

    async def work(db: AsyncJSONDB) -> list[str]:
        await db.restore(backup)
        return await db.list_collections()

    names = run(path, work)
    listed = ", ".join(names) or "-"
    click.echo(f"restored {plural(len(names), 'collection')} from {backup}: {listed}")


@click.command("check")
@database_argument()
@click.option("--repair", is_flag=True, help="Repair what loses nothing acknowledged.")
@click.option("--json", "as_json", is_flag=True, help="The report as JSON for machines.")
def check_command(path: Path, repair: bool, as_json: bool) -> None:
    """Verify every file of PATH; exit 0 when sound, 1 when problems remain.

    --repair cuts journal tails torn by a crash mid-append (never acknowledged) and removes
    temp files of interrupted writes; any other problem is reported and left untouched.
    """
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


def _summary(path: Path, found: int, repaired: int, ok: bool) -> str:
    if not found:
        return f"{path}: ok"
    state = "ok after repair" if ok else "NOT OK"
    return f"{path}: {plural(found, 'problem')}, {repaired} repaired: {state}"


@click.command("compact")
@database_argument()
def compact_command(path: Path) -> None:
    """Fold every journal into its <name>.json, so the .json files alone hold all the data."""

    async def work(db: AsyncJSONDB) -> list[str]:
        return await db.compact()

    names = run(path, work)
    click.echo(f"compacted {plural(len(names), 'collection')}: {', '.join(names) or '-'}")


COMMANDS = [backup_command, restore_command, check_command, compact_command]

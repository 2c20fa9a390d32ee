"""What the management commands share: running the core on the settings' database, errors, tables.

The commands stay thin (arguments, prompt, output); the work is the core's. Errors become
``CommandError`` so a cron job sees a one-line message and exit code 1.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO, TypeVar

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, OutputWrapper

from asyncjsondb import AsyncJSONDB, CorruptFileError, DatabaseError
from asyncjsondb.backends.files.layout import collection_names
from asyncjsondb.backup import read_backup
from asyncjsondb.check import collection_stats
from asyncjsondb.options import Options

from ..checks import folder_problem, reading_only
from ..conf import SETTING_NAME, Location, conf, is_url
from ..database import open_db

T = TypeVar("T")
PROMPT = "Type 'yes' to continue, or 'no' to cancel: "


@contextlib.contextmanager
def command_errors(then: str = "") -> Iterator[None]:
    """Turn the core's and the settings' errors into a ``CommandError`` (exit code 1)."""
    try:
        yield
    except (DatabaseError, ImproperlyConfigured) as exc:
        raise CommandError(f"{exc}{then}") from exc


class ReadingCommand(BaseCommand):
    """A command that may only read the database: its system checks leave out those that ask
    for writable folders (E002, E003), so an operator with read access can run it."""

    def reads_only(self, options: dict[str, Any]) -> bool:
        return True

    def execute(self, *args: Any, **options: Any) -> str | None:
        if not self.reads_only(options):
            return super().execute(*args, **options)
        with reading_only():
            return super().execute(*args, **options)


def require_writable(folder: Path, what: str) -> None:
    """Refuse, naming the folder at fault, a ``folder`` that cannot be made and written."""
    problem = folder_problem(folder)
    if problem:
        raise CommandError(f"{what} {folder} {problem}")


def run(work: Callable[[AsyncJSONDB], Awaitable[T]]) -> T:
    """Await ``work(db)`` on a new database of the settings, on a new event loop; close it."""

    async def session() -> T:
        async with open_db() as db:
            return await work(db)

    return asyncio.run(session())


def existing_database() -> Location:
    """The settings' PATH; a folder must exist, since inspecting a database never creates one."""
    location = conf.PATH
    if not is_url(location):
        require_folder(Path(location), f" (settings.{SETTING_NAME}['PATH'])")
    return location


def require_folder(path: Path, where: str = "") -> None:
    if not path.is_dir():
        raise CommandError(f"no database folder {path}{where}")


async def record_counts(db: AsyncJSONDB) -> dict[str, int]:
    """Each collection's record count, through the API (so for any backend)."""
    return {
        name: await (await db.get_collection(name)).count() for name in await db.list_collections()
    }


def confirmed(stdout: OutputWrapper, stdin: TextIO, action: str, unchanged: str) -> bool:
    """Ask for 'yes'; no answer at all (cron, a closed stdin) refuses rather than guesses."""
    stdout.write(PROMPT, ending="")
    stdout.flush()
    answer = stdin.readline()
    if not answer:
        raise CommandError(
            f"no answer on standard input; pass --noinput to {action} without asking. {unchanged}"
        )
    return answer.strip().lower() == "yes"


def new_backup_folder(backup_dir: Path) -> Path:
    """``backup_dir/<UTC timestamp>``, sortable by name; suffixed if taken within the second."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    candidate, number = backup_dir / stamp, 1
    while candidate.exists():
        number += 1
        candidate = backup_dir / f"{stamp}-{number}"
    return candidate


def lock_timeout() -> float:
    """The lock timeout the settings give the database, for the checker's locks too."""
    return Options.from_kwargs(conf.OPTIONS).lock_timeout


def restore_plan(source: Path, only: str | None = None) -> list[list[str]]:
    """Rows (collection, records now, records after, change) of restoring the backup ``source``
    (or ``only`` its collection of that name).

    The backup is verified first (``read_backup``), so a corrupt one is refused here. A
    folder is only read, by the checker: a cancelled restore leaves every file as it was.
    """
    incoming = {name: str(len(data)) for name, (_, data) in read_backup(source, only).items()}
    location = conf.PATH
    if is_url(location):
        current = {name: str(count) for name, count in run(record_counts).items()}
    else:
        current = _record_counts(Path(location))
    if only is not None:
        current = {name: count for name, count in current.items() if name == only}
    rows = []
    for name in sorted(set(incoming) | set(current)):
        change = "deleted" if name not in incoming else "replaced" if name in current else "created"
        rows.append([name, current.get(name, "-"), incoming.get(name, "-"), change])
    return rows


def _record_counts(path: Path) -> dict[str, str]:
    if not path.is_dir():
        return {}  # restoring onto a new machine: the folder is created by the restore
    try:
        stats = collection_stats(path, lock_timeout=lock_timeout())
        return {item.name: str(item.records) for item in stats}
    except CorruptFileError:
        return {name: "unreadable" for name in collection_names(path)}


def format_table(header: Sequence[str], rows: Sequence[Sequence[object]], align: str = "") -> str:
    """A plain-text table; ``align`` has one ``<`` or ``>`` per column (default: ``<>>...``)."""
    align = align or "<" + ">" * (len(header) - 1)
    cells = [[str(cell) for cell in row] for row in [header, *rows]]
    widths = [max(len(row[column]) for row in cells) for column in range(len(header))]
    lines = []
    for row in cells:
        parts = [
            cell.ljust(width) if side == "<" else cell.rjust(width)
            for cell, width, side in zip(row, widths, align, strict=True)
        ]
        lines.append("  ".join(parts).rstrip())
    return "\n".join(lines)

"""``manage.py jsondb_backup [--output DIR]``: a consistent backup; prints its folder.

``--list`` lists the backups in BACKUP_DIR (or ``--output DIR``) instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import CommandError, CommandParser

from asyncjsondb.backup import BackupInfo, list_backups
from asyncjsondb.errors import DatabaseError

from ...conf import conf
from ..base import (
    ReadingCommand,
    command_errors,
    existing_database,
    format_table,
    new_backup_folder,
    require_writable,
    run,
)

HEADER = ("backup", "created", "collections", "records", "bytes")


class Command(ReadingCommand):
    help = (
        "Write a consistent backup of the AsyncJSONDB database (every collection at one moment, "
        "while the site keeps writing) and print the backup's folder."
    )

    def reads_only(self, options: dict[str, Any]) -> bool:
        return bool(options.get("list"))  # listing runs for an operator who may only read

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--output",
            type=Path,
            help="The new backup folder (default: BACKUP_DIR/<UTC timestamp>); with --list, the "
            "folder whose backups to list (default: BACKUP_DIR).",
        )
        parser.add_argument(
            "--list",
            action="store_true",
            help="List the backups, oldest first, instead of writing one.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["list"]:
            folder = Path(options["output"] or conf.BACKUP_DIR)
            with command_errors():
                found = list_backups(folder)
            self.stdout.write(format_table(HEADER, [_row(info) for info in found], "<<>>>"))
            return
        with command_errors():
            existing_database()
            # call_command hands keyword options over as given: a str as well as a Path
            output = options["output"]
            target = (Path(output) if output else new_backup_folder(conf.BACKUP_DIR)).absolute()
            require_writable(target, "the backup folder")
            try:
                run(lambda db: db.backup(target))
            except OSError as exc:  # a folder that vanished or cannot be made, as it is made
                if isinstance(exc, DatabaseError):
                    raise
                raise CommandError(
                    f"could not write the backup {target}: {exc.filename}: {exc.strerror}"
                ) from exc
        if options["verbosity"] > 0:
            self.stdout.write(str(target))


def _row(info: BackupInfo) -> list[object]:
    records = sum(info.collections.values())
    return [info.path, info.created, len(info.collections), records, info.bytes]

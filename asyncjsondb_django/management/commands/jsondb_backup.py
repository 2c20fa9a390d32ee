"""``manage.py jsondb_backup [--output DIR]``: a consistent backup; prints its folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ...conf import conf
from ..base import command_errors, existing_database, new_backup_folder, require_writable, run


class Command(BaseCommand):
    help = (
        "Write a consistent backup of the AsyncJSONDB database (every collection at one moment, "
        "while the site keeps writing) and print the backup's folder."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--output",
            type=Path,
            help="The new backup folder (default: BACKUP_DIR/<UTC timestamp>).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        with command_errors():
            existing_database()
            # call_command hands keyword options over as given: a str as well as a Path
            output = options["output"]
            target = (Path(output) if output else new_backup_folder(conf.BACKUP_DIR)).absolute()
            require_writable(target, "the backup folder")
            try:
                run(lambda db: db.backup(target))
            except OSError as exc:  # a folder that vanished or cannot be made, as it is made
                raise CommandError(
                    f"could not write the backup {target}: {exc.filename}: {exc.strerror}"
                ) from exc
        if options["verbosity"] > 0:
            self.stdout.write(str(target))

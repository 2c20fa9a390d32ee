"""``manage.py jsondb_backup [--output DIR]``: a consistent backup; prints its folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from ...conf import conf
from ..base import command_errors, existing_database, new_backup_folder, run


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
            target: Path = (options["output"] or new_backup_folder(conf.BACKUP_DIR)).absolute()
            run(lambda db: db.backup(target))
        if options["verbosity"] > 0:
            self.stdout.write(str(target))

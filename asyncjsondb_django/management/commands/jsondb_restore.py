"""``manage.py jsondb_restore DIR [--noinput]``: replace the database with a verified backup."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from asyncjsondb.names import validate_collection_name

from ...conf import conf, display
from ..base import command_errors, confirmed, format_table, restore_plan, run

HEADER = ("collection", "records now", "records after", "change")


class Command(BaseCommand):
    help = (
        "Replace every collection of the AsyncJSONDB database with those of a backup folder. "
        "The whole backup is verified first; a corrupt one is refused and nothing changes."
    )
    stealth_options = ("stdin",)

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "backup", nargs="?", type=Path, help="A backup folder made by jsondb_backup."
        )
        parser.add_argument(
            "--collection",
            help="Restore only this collection; the others are left as they are.",
        )
        parser.add_argument(
            "--noinput",
            "--no-input",
            action="store_false",
            dest="interactive",
            help="Do not ask for confirmation.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not options["backup"]:  # a CommandError (exit 1), as for every other problem
            raise CommandError(
                f"give the backup folder to restore, e.g. one in {conf.BACKUP_DIR} "
                "(jsondb_backup prints each one's path). Nothing was changed."
            )
        source = Path(options["backup"])  # a str from call_command(backup=...)
        only = options["collection"]
        with command_errors(". Nothing was changed."):
            if only is not None:
                validate_collection_name(only)
            rows = restore_plan(source, only)
            database = display(conf.PATH)
        replaced = "the whole database" if only is None else f"the collection {only!r}"
        if options["interactive"]:
            self.stdout.write(f"Restoring {source} into {database} replaces {replaced}:")
            self.stdout.write(format_table(HEADER, rows, "<>><"))
            stdin = options.get("stdin") or sys.stdin
            if not confirmed(self.stdout, stdin, "restore", "Nothing was changed."):
                self.stdout.write("Restore cancelled; nothing was changed.")
                return
        with command_errors():
            run(lambda db: db.restore(source, collection=only))
        if options["verbosity"] > 0:
            restored = sum(row[3] != "deleted" for row in rows)
            self.stdout.write(f"Restored {restored} collection(s) from {source} into {database}.")

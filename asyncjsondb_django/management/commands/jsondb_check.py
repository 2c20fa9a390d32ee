"""``manage.py jsondb_check [--repair]``: verify every file; exit code 1 on a problem (cron)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from asyncjsondb.check import check_database

from ..base import command_errors, database_folder, lock_timeout


class Command(BaseCommand):
    help = (
        "Verify every collection file and journal of the AsyncJSONDB database, as the engine "
        "would load them. Exits with code 1 when a problem remains."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--repair",
            action="store_true",
            help="Cut torn journal tails and remove temp files of interrupted writes (what the "
            "engine does itself on its next load); anything else is only reported.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        repair: bool = options["repair"]
        with command_errors():
            path = database_folder()
            report = check_database(path, repair=repair, lock_timeout=lock_timeout())
        for problem in report.problems:
            hint = " (repairable: run with --repair)" if problem.repairable and not repair else ""
            self.stdout.write(f"{problem}{hint}")
        for action in report.repaired:
            self.stdout.write(f"Repaired: {action}")
        if not report.ok:
            raise CommandError(f"{len(report.problems)} problem(s) found in {path}")
        if options["verbosity"] > 0:
            done = "Repaired; no problems left" if report.repaired else "No problems found"
            self.stdout.write(f"{done} in {path}.")

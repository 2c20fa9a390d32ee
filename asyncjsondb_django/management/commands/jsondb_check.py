"""``manage.py jsondb_check [--repair]``: verify every file; exit code 1 on a problem (cron).

On a PostgreSQL PATH there are no files to verify: the command says so and exits 0 once the
server has answered (exit code 1 if it cannot be reached), so the same cron line keeps working.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import CommandError, CommandParser

from asyncjsondb.check import check_database

from ...conf import display, is_url
from ..base import ReadingCommand, command_errors, existing_database, lock_timeout, run


class Command(ReadingCommand):
    help = (
        "Verify every collection file and journal of the AsyncJSONDB database, as the engine "
        "would load them. Exits with code 1 when a problem remains. On a PostgreSQL database "
        "there are no files to verify: it only checks that the server answers."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--repair",
            action="store_true",
            help="Cut torn journal tails and remove temp files of interrupted writes (what the "
            "engine does itself on its next load); anything else is only reported.",
        )

    def reads_only(self, options: dict[str, Any]) -> bool:
        return not options["repair"]

    def handle(self, *args: Any, **options: Any) -> None:
        with command_errors():
            location = existing_database()
        if is_url(location):
            self._reach_server(display(location), options["verbosity"])
        else:
            self._check_folder(Path(location), options["repair"], options["verbosity"])

    def _reach_server(self, url: str, verbosity: int) -> None:
        with command_errors():
            names = run(lambda db: db.list_collections())
        if verbosity > 0:
            self.stdout.write(
                f"Nothing to check: {url} is a PostgreSQL database, which keeps its own storage "
                "consistent; jsondb_check verifies JSON files. The server answered with "
                f"{len(names)} collection(s)."
            )

    def _check_folder(self, path: Path, repair: bool, verbosity: int) -> None:
        with command_errors():
            report = check_database(path, repair=repair, lock_timeout=lock_timeout())
        for problem in report.problems:
            hint = " (repairable: run with --repair)" if problem.repairable and not repair else ""
            self.stdout.write(f"{problem}{hint}")
        for action in report.repaired:
            self.stdout.write(f"Repaired: {action}")
        if not report.ok:
            raise CommandError(f"{len(report.problems)} problem(s) found in {path}")
        if verbosity > 0:
            done = "Repaired; no problems left" if report.repaired else "No problems found"
            self.stdout.write(f"{done} in {path}.")

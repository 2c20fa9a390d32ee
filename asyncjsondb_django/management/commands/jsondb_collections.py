"""``manage.py jsondb_collections``: each collection's record count, and its size on disk.

A folder is read by the checker (nothing is loaded into the engine); a PostgreSQL database is
asked through the API, and has no file sizes to show.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from asyncjsondb.check import collection_stats

from ...conf import display, is_url
from ..base import (
    ReadingCommand,
    command_errors,
    existing_database,
    format_table,
    lock_timeout,
    record_counts,
    run,
)

HEADER = ("collection", "records", "bytes")


class Command(ReadingCommand):
    help = (
        "List the AsyncJSONDB collections with their record counts (and file sizes, for a "
        "database folder)."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        rows: list[list[str | int]]
        with command_errors():
            location = existing_database()
            if is_url(location):
                rows = [[name, count] for name, count in run(record_counts).items()]
            else:
                stats = collection_stats(Path(location), lock_timeout=lock_timeout())
                rows = [[item.name, item.records, item.bytes] for item in stats]
        if not rows:
            self.stdout.write(f"No collections in {display(location)}.")
            return
        columns = len(rows[0])
        total = ["(total)", *(sum(int(row[i]) for row in rows) for i in range(1, columns))]
        self.stdout.write(format_table(HEADER[:columns], [*rows, total]))

"""``manage.py jsondb_collections``: each collection's record count and size on disk."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from asyncjsondb.check import collection_stats

from ..base import command_errors, database_folder, format_table, lock_timeout

HEADER = ("collection", "records", "bytes")


class Command(BaseCommand):
    help = "List the AsyncJSONDB collections with their record counts and file sizes."

    def handle(self, *args: Any, **options: Any) -> None:
        with command_errors():
            path = database_folder()
            stats = collection_stats(path, lock_timeout=lock_timeout())
        if not stats:
            self.stdout.write(f"No collections in {path}.")
            return
        rows: list[list[object]] = [[item.name, item.records, item.bytes] for item in stats]
        rows.append(
            ["(total)", sum(item.records for item in stats), sum(item.bytes for item in stats)]
        )
        self.stdout.write(format_table(HEADER, rows))

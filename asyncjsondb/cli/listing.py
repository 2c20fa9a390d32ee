"""``collections``: what a database holds, read without changing it.

A folder is read straight from its files (records and sizes on disk); a server through the API
(records only: its storage is its own).
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import click

from ..check import CollectionStats, collection_stats
from .common import Location, database_argument, is_url, record_counts, run, settings
from .output import echo_json, echo_table, human_size


@click.command("collections")
@database_argument()
@click.option("--json", "as_json", is_flag=True, help="A JSON list for machines.")
def collections_command(path: Location, as_json: bool) -> None:
    """List the collections of PATH with their record counts (and sizes, for a folder).

    PATH is a database folder or a postgresql:// URL.
    """
    if is_url(path):
        counts = run(path, record_counts)
        if as_json:  # the same objects as for a folder; a server has no size of its own to give
            echo_json([{"name": name, "records": n, "bytes": None} for name, n in counts.items()])
        else:
            echo_table(("NAME", "RECORDS"), [(n, str(c)) for n, c in counts.items()], right={1})
        return
    _folder_listing(collection_stats(Path(path), lock_timeout=settings().lock_timeout), as_json)


def _folder_listing(stats: list[CollectionStats], as_json: bool) -> None:
    if as_json:
        echo_json([asdict(entry) for entry in stats])
        return
    rows = [(entry.name, str(entry.records), human_size(entry.bytes)) for entry in stats]
    echo_table(("NAME", "RECORDS", "SIZE"), rows, right={1, 2})


COMMANDS = [collections_command]

"""``collections``: what a database holds, read straight from its files without changing them."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import click

from ..check import collection_stats
from .common import database_argument, settings
from .output import echo_json, echo_table, human_size


@click.command("collections")
@database_argument()
@click.option("--json", "as_json", is_flag=True, help="A JSON list for machines.")
def collections_command(path: Path, as_json: bool) -> None:
    """List the collections of PATH with their record counts and sizes on disk."""
    stats = collection_stats(path, lock_timeout=settings().lock_timeout)
    if as_json:
        echo_json([asdict(entry) for entry in stats])
        return
    rows = [(entry.name, str(entry.records), human_size(entry.bytes)) for entry in stats]
    echo_table(("NAME", "RECORDS", "SIZE"), rows, right={1, 2})


COMMANDS = [collections_command]

"""The ``asyncjsondb`` command group: global options, and core errors turned into exit codes."""

from __future__ import annotations

from typing import Any

import click

from .. import __version__
from ..errors import DatabaseError, InvalidNameError
from ..options import Options
from . import indexing, listing, maintenance, migration, records, transfer
from .common import Failure, Refusal, Settings


class _Group(click.Group):
    """Every ``DatabaseError`` becomes a one-line message and exit code 1 (2 for a bad name)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except InvalidNameError as exc:
            raise Refusal(str(exc)) from exc
        except DatabaseError as exc:
            raise Failure(str(exc)) from exc


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="asyncjsondb")
@click.option(
    "--lock-timeout",
    type=click.FloatRange(min=0),
    default=Options.lock_timeout,
    show_default=True,
    help="Seconds to wait for a collection an application is writing.",
)
@click.pass_context
def cli(ctx: click.Context, lock_timeout: float) -> None:
    """Inspect, back up, restore, check, migrate and move data in and out of AsyncJSONDB.

    A database is a folder or a postgresql:// URL (its query may carry schema, table_prefix
    and pool_size). Every command takes the same locks as the library, so it is safe while
    applications have the database open. Exit codes: 0 success, 1 failure or problems found,
    2 bad usage.
    """
    ctx.obj = Settings(lock_timeout=lock_timeout)


for module in (listing, records, indexing, transfer, maintenance, migration):
    for command in module.COMMANDS:
        cli.add_command(command)

"""The ``asyncjsondb`` operator command line, installed with the package (click is a dependency).

rich, optional (``pip install 'asyncjsondb[cli]'``), draws progress bars on a terminal. Both are
imported only when the command runs, never by ``import asyncjsondb``, so applications do not pay.
"""

from __future__ import annotations


def main(argv: list[str] | None = None) -> None:
    """Run the command line with ``argv`` (default ``sys.argv[1:]``); exits the process."""
    from .app import cli

    cli.main(args=argv, prog_name="asyncjsondb", auto_envvar_prefix="ASYNCJSONDB")


__all__ = ["main"]

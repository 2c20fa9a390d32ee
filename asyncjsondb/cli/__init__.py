"""The ``asyncjsondb`` operator command line (``pip install 'asyncjsondb[cli]'``).

Its libraries (click, rich) are imported only when the command runs, never by
``import asyncjsondb``, so applications do not pay for them.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> None:
    """Run the command line with ``argv`` (default ``sys.argv[1:]``); exits the process."""
    try:
        from .app import cli
    except ModuleNotFoundError as exc:
        if exc.name != "click":
            raise
        sys.exit("asyncjsondb: the command line needs click: pip install 'asyncjsondb[cli]'")
    cli.main(args=argv, prog_name="asyncjsondb", auto_envvar_prefix="ASYNCJSONDB")


__all__ = ["main"]

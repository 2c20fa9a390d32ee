"""How ``jsondb_migrate`` shows its progress: bars on a terminal (with rich), plain lines elsewhere.

A display is a context manager yielding the ``progress(collection, records_copied)`` callback
that ``asyncjsondb.migrate.migrate`` calls after every batch.
"""

from __future__ import annotations

import contextlib
import importlib.util
import sys
from collections.abc import Callable, Iterator

from django.core.management.base import OutputWrapper

Progress = Callable[[str, int], None]


def progress_display(
    stdout: OutputWrapper, totals: dict[str, int], verbosity: int
) -> contextlib.AbstractContextManager[Progress]:
    """Bars when ``stdout`` is a terminal and rich is installed; else plain lines."""
    if verbosity == 0:
        return contextlib.nullcontext(_silent)
    if stdout.isatty() and importlib.util.find_spec("rich") is not None:
        return _bars(stdout, totals)
    return contextlib.nullcontext(_lines(stdout, totals))


def _silent(name: str, copied: int) -> None:
    """Verbosity 0: nothing."""


def _lines(stdout: OutputWrapper, totals: dict[str, int]) -> Progress:
    """A line per tenth of each collection (for logs: a line per batch would flood them)."""
    printed: dict[str, int] = {}

    def progress(name: str, copied: int) -> None:
        total = totals.get(name)
        if not total:  # created after it was counted: no total to measure against
            stdout.write(f"{name}: {copied} records")
            return
        tenth = copied * 10 // total
        if printed.get(name) != tenth:
            printed[name] = tenth
            stdout.write(f"{name}: {copied}/{total} records ({copied * 100 // total}%)")

    return progress


@contextlib.contextmanager
def _bars(stdout: OutputWrapper, totals: dict[str, int]) -> Iterator[Progress]:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    # rich writes control codes to the real stream: OutputWrapper.write would add newlines.
    console = Console(file=getattr(stdout, "_out", sys.stdout))
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, TimeElapsedColumn(), console=console) as bars:
        # An empty collection gets no callback (and no bar): the final table shows it.
        tasks = {name: bars.add_task(name, total=total) for name, total in totals.items() if total}

        def progress(name: str, copied: int) -> None:
            if name not in tasks:  # created in the source after it was counted
                tasks[name] = bars.add_task(name, total=None)
            bars.update(tasks[name], completed=copied)

        yield progress

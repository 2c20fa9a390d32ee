"""Writing results: JSON for machines, aligned tables for people, a progress bar on terminals."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import click

from ..codec import encode

Advance = Callable[[int], None]
Reached = Callable[[str, int], None]  # (name, how many done so far)


def echo_json(value: Any) -> None:
    """One value as one line of compact JSON on stdout."""
    click.echo(encode(value).decode())


def write_chunks(chunks: Iterable[bytes]) -> None:
    stream = sys.stdout.buffer
    stream.writelines(chunks)
    stream.flush()


def echo_table(headers: Sequence[str], rows: Iterable[Sequence[str]], right: set[int]) -> None:
    """Columns padded to their widest cell; the indexes in ``right`` are right-aligned."""
    table = [list(headers), *[list(row) for row in rows]]
    widths = [max(len(row[i]) for row in table) for i in range(len(headers))]
    for row in table:
        cells = [
            cell.rjust(width) if i in right else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        click.echo("  ".join(cells).rstrip())


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def human_size(size: int) -> str:
    units = ("B", "KiB", "MiB", "GiB", "TiB")
    value, index = float(size), 0
    while value >= 1024 and index < len(units) - 1:
        value, index = value / 1024, index + 1
    return f"{size} B" if index == 0 else f"{value:.1f} {units[index]}"


@contextmanager
def progress(description: str, total: int) -> Iterator[Advance]:
    """A progress bar on stderr when it is a terminal (and rich is installed); else silent."""
    with _bars() as bars:
        if bars is None:
            yield _ignore
            return
        task = bars.add_task(description, total=total)
        yield lambda amount: bars.advance(task, amount)


@contextmanager
def progress_by_name(verb: str, totals: dict[str, int]) -> Iterator[Reached]:
    """A ``reached(name, done)`` callback: a bar per name on a terminal, else plain lines on stderr.

    The lines come at each tenth of a name's total, so a log gets a few, not one per batch.
    """
    with _bars() as bars:
        if bars is None:
            yield _lines(totals)
            return
        tasks = {name: bars.add_task(f"{verb} {name}", total=n) for name, n in totals.items() if n}

        def reached(name: str, done: int) -> None:
            if name not in tasks:  # appeared after the totals were counted
                tasks[name] = bars.add_task(f"{verb} {name}", total=None)
            bars.update(tasks[name], completed=done)

        yield reached


def _lines(totals: dict[str, int]) -> Reached:
    printed: dict[str, int] = {}

    def reached(name: str, done: int) -> None:
        total = totals.get(name)
        step = done * 10 // total if total else done
        if printed.get(name) != step:
            printed[name] = step
            share = f"/{total} records ({done * 100 // total}%)" if total else " records"
            click.echo(f"{name}: {done}{share}", err=True)

    return reached


@contextmanager
def _bars() -> Iterator[Any]:
    """A started ``rich.progress.Progress`` on stderr if it is a terminal and rich is installed."""
    if not sys.stderr.isatty():
        yield None
        return
    try:
        from rich.console import Console
        from rich.progress import Progress
    except ModuleNotFoundError:
        yield None
        return
    with Progress(console=Console(stderr=True), transient=True) as bars:
        yield bars


def _ignore(amount: int) -> None:
    pass

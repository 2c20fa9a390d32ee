"""Writing results: JSON for machines, aligned tables for people, a progress bar on terminals."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import click

from ..codec import encode

Advance = Callable[[int], None]


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
    if not sys.stderr.isatty():
        yield _ignore
        return
    try:
        from rich.console import Console
        from rich.progress import Progress
    except ModuleNotFoundError:
        yield _ignore
        return
    with Progress(console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(description, total=total)
        yield lambda amount: bar.advance(task, amount)


def _ignore(amount: int) -> None:
    pass

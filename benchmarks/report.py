"""Plain-text tables: the measurements grouped by workload, and the targets with their verdicts."""

from __future__ import annotations

import math
import os
import platform
import sys
from collections.abc import Sequence

from asyncjsondb.codec import JSON_LIBRARY

from .measure import Row
from .peers.postgres_peer import NAME as POSTGRES
from .targets import ASYNCJSONDB, Verdict, find

# The row each workload's "x" column is relative to (speed: its time per op / ours).
REFERENCES = {
    "set fsync": "append+fsync (limit)",
    "set flush": "append+flush (limit)",
    "1M set fsync": "append+fsync (limit)",
    "1M set flush": "append+flush (limit)",
    "concurrent sets": "append+fsync (limit)",
    "get random": "dict (limit)",
    "find age>50": "dict (limit)",
    "open + first get": "orjson.loads",
    "open after journal": "asyncjsondb compacted",
    "read after write, 2 procs": "aiosqlite FULL",
    "read after write, 2 objects": "aiosqlite FULL",
}
INCREMENTS_REFERENCE = "aiosqlite FULL"  # for "<n> procs x <m> incr"


def reference_for(workload: str) -> str | None:
    if workload.endswith(" incr"):
        return INCREMENTS_REFERENCE
    return REFERENCES.get(workload)


def environment(scale_name: str, folder: str) -> str:
    load = "?"
    if hasattr(os, "getloadavg"):
        load = " ".join(f"{value:.2f}" for value in os.getloadavg())
    return (
        f"AsyncJSONDB benchmarks ({scale_name}) - Python {sys.version.split()[0]} on "
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs, load {load}; "
        f"asyncjsondb uses {JSON_LIBRARY}; files in {folder}"
    )


def render_table(header: Sequence[str], lines: Sequence[Sequence[str]], right: set[int]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *lines, strict=True)]
    out = []
    for cells in [header, *lines]:
        padded = [
            cell.rjust(width) if index in right else cell.ljust(width)
            for index, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ]
        out.append("  ".join(padded).rstrip())
    out.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(out)


def render_number(value: float) -> str:
    if value != value:  # NaN
        return "-"
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def measurements(rows: list[Row]) -> str:
    """One table per workload, in the order the rows came."""
    sections = []
    for workload in dict.fromkeys(row.workload for row in rows):
        mine = [row for row in rows if row.workload == workload]
        reference_name = reference_for(workload)
        if mine[0].seconds == 0:  # the memory probe: bytes, not time
            lines = [
                [f"{row.size:,}", row.system, f"{(row.value or 0) / 1e6:.1f}", row.note]
                for row in mine
            ]
            table = render_table(["records", "system", "RSS added MB", "note"], lines, {0, 2})
            sections.append(f"{workload}\n{table}")
            continue
        if mine[0].spread is not None:
            sections.append(f"{workload}\n{spreads(mine)}")
            continue
        lines = []
        for row in mine:
            reference = find(rows, workload, reference_name, row.size) if reference_name else None
            ratio = row.rate / reference.rate if reference else float("nan")
            lines.append(
                [
                    f"{row.size:,}",
                    row.system,
                    f"{row.ops:,}",
                    f"{row.seconds:.4f}",
                    render_number(row.rate),
                    render_number(ratio),
                    row.note,
                ]
            )
        header = ["records", "system", "ops", "seconds", "per s", "x", "note"]
        title = workload
        if reference_name:
            title += f"   (x = speed relative to {reference_name})"
        sections.append(f"{title}\n{render_table(header, lines, {0, 2, 3, 4, 5})}")
    return "\n\n".join(sections)


def spreads(rows: list[Row]) -> str:
    """The p50 / p99 / max of single waits, in milliseconds, beside each row's total."""
    lines = []
    for row in rows:
        p50, p99, worst = row.spread or (math.nan, math.nan, math.nan)
        lines.append(
            [
                f"{row.size:,}",
                row.system,
                f"{row.ops:,}",
                f"{row.seconds:.4f}",
                *(render_number(seconds * 1000) for seconds in (p50, p99, worst)),
                row.note,
            ]
        )
    header = ["records", "system", "ops", "seconds", "p50 ms", "p99 ms", "max ms", "note"]
    return render_table(header, lines, {0, 2, 3, 4, 5, 6})


def backends(rows: list[Row]) -> str:
    """Each PostgreSQL row beside the file backend's row of the same workload and mode.

    ``asyncjsondb postgres <mode>`` pairs with ``asyncjsondb <mode>``; "" when there are none.
    """
    lines = []
    for row in rows:
        if not row.system.startswith(POSTGRES):
            continue
        files = find(rows, row.workload, ASYNCJSONDB + row.system[len(POSTGRES) :], row.size)
        if files is None:
            continue
        mode = row.system[len(POSTGRES) :].strip()
        lines.append(
            [
                row.workload,
                mode,
                f"{row.size:,}",
                render_number(files.rate),
                render_number(row.rate),
                render_number(row.rate / files.rate),
                row.note,
            ]
        )
    if not lines:
        return ""
    header = ["workload", "mode", "records", "files per s", "postgres per s", "pg/files", "note"]
    table = render_table(header, lines, {2, 3, 4, 5})
    return f"AsyncJSONDB on files and on PostgreSQL, side by side\n{table}"


def verdicts(results: list[Verdict]) -> str:
    def met(value: bool | None) -> str:
        return "-" if value is None else ("yes" if value else "NO")

    lines = [[v.check, v.target, v.measured, met(v.met)] for v in results]
    header = ["check", "target", "measured", "met"]
    return "targets of issues 3 and 12\n" + render_table(header, lines, set())

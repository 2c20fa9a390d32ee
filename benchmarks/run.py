"""Run the benchmarks: ``python -m benchmarks.run [--quick] [--million] [--only NAME,...]``.

Every workload runs in this process, except the multi-process ones (increments, the writer of
the stale reads) and the memory probes.
Data goes to a temporary folder (under ``--dir`` if given), removed at the end; AsyncJSONDB on
PostgreSQL, when a server answers, to fresh schemas dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

if not __package__:  # run as a script, python benchmarks/run.py: make the package importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import at_scale, report, targets  # noqa: E402
from benchmarks.measure import Row  # noqa: E402
from benchmarks.peers import postgres_peer  # noqa: E402
from benchmarks.settings import FULL, QUICK, Scale  # noqa: E402
from benchmarks.workloads import (  # noqa: E402
    compaction,
    footprint,
    freshness,
    memory,
    opening,
    processes,
    reads,
    stalls,
    writes,
)

Workload = Callable[[Scale, Path], Awaitable[list[Row]]]

WORKLOADS: dict[str, Workload] = {
    "set-fsync": writes.run_durable,
    "set-flush": writes.run_flush,
    "concurrent": writes.run_concurrent,
    "get": reads.run_get,
    "find": reads.run_find,
    "open": opening.run_open,
    "journal-open": opening.run_journal_open,
    "increments": processes.run,
    "memory": memory.run,
    "freshness": freshness.run,
    # only with --million or --only: the measurements at scale.large records (1M; 100k --quick)
    "million": writes.run_million,
    "compaction": compaction.run,
    "stalls": stalls.run,
    "footprint": footprint.run,
    "open-large": opening.run_open_large,
}
AT_SCALE = ("million", "compaction", "stalls", "footprint", "open-large")


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


async def collect(
    scale: Scale,
    names: Sequence[str],
    folder: Path,
    log: Callable[[str], None] = _log,
    postgres: str | None = None,
) -> list[Row]:
    """Run the named workloads one after another; return all their rows.

    With a ``postgres`` server URL, AsyncJSONDB on PostgreSQL joins the workloads where it
    compares with the files; every schema made for it is dropped, also when a workload fails.
    """
    rows: list[Row] = []
    postgres_peer.use(postgres)
    try:
        for name in names:
            started = time.perf_counter()
            log(f"{name} ...")
            rows += await WORKLOADS[name](scale, folder)
            log(f"{name} done in {time.perf_counter() - started:.1f} s")
    finally:
        postgres_peer.use(None)
        await postgres_peer.drop_leftovers()
    return rows


async def postgres_server(url: str | None) -> tuple[str | None, str]:
    """``url`` if a PostgreSQL server answers there (else None), and a line that says so."""
    if url is None:
        return None, "PostgreSQL rows left out (--no-postgres)"
    reason = await postgres_peer.unreachable(url)
    if reason is not None:
        return None, f"PostgreSQL rows skipped: {reason}"
    return url, f"PostgreSQL rows: {url}, a fresh schema bench_<uuid> per store, dropped after"


def _names(value: str) -> list[str]:
    names = [name.strip() for name in value.split(",") if name.strip()]
    unknown = sorted(set(names) - set(WORKLOADS))
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown workload {unknown[0]!r}; choose from {', '.join(WORKLOADS)}"
        )
    return names


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run of seconds")
    parser.add_argument(
        "--million",
        action="store_true",
        help="also the measurements at a million records (100k with --quick): the write rate at "
        "0 / 100k / 1M, write latency during compaction, event-loop stalls, memory, open "
        "(about 10 minutes more)",
    )
    parser.add_argument(
        "--only",
        type=_names,
        metavar="NAME,...",
        help=f"run only these workloads: {', '.join(WORKLOADS)}",
    )
    parser.add_argument(
        "--dir",
        type=Path,
        default=None,
        help="where to make the temporary folder (the disk under test)",
    )
    parser.add_argument(
        "--postgres-url",
        default=postgres_peer.DEFAULT_URL,
        metavar="URL",
        help="the PostgreSQL server for the 'asyncjsondb postgres' rows (default: %(default)s); "
        "they are skipped, with a note, when it does not answer",
    )
    parser.add_argument(
        "--no-postgres",
        action="store_true",
        help="leave out the PostgreSQL rows",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    scale, scale_name = (QUICK, "--quick") if arguments.quick else (FULL, "full")
    names = arguments.only or [name for name in WORKLOADS if name not in AT_SCALE]
    if arguments.million:
        names += [name for name in AT_SCALE if name not in names]
    started = time.perf_counter()
    wanted = None if arguments.no_postgres else arguments.postgres_url
    server, note = asyncio.run(postgres_server(wanted))
    _log(note)
    with tempfile.TemporaryDirectory(prefix="asyncjsondb-bench-", dir=arguments.dir) as folder:
        header = report.environment(scale_name, folder)
        rows = asyncio.run(collect(scale, names, Path(folder), postgres=server))
    print(header)
    print(note)
    print()
    print(report.measurements(rows))
    print()
    side_by_side = report.backends(rows)
    if side_by_side:
        print(side_by_side)
        print()
    print(report.verdicts(targets.evaluate(rows) + at_scale.evaluate(rows)))
    print(f"\ntotal {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

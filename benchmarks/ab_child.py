"""One measurement of ``benchmarks.ab``, in a process of its own; prints its rows as JSON.

``python benchmarks/ab_child.py WORKLOAD FOLDER [--quick]``, with ``PYTHONPATH`` naming the
source tree under test: ``asyncjsondb`` comes from there, ``benchmarks`` from this file's tree,
so both sides of an A/B run the same measuring code.
"""

from __future__ import annotations

import sys
from pathlib import Path

if not __package__:  # run as a script: bind 'benchmarks' to this tree, and only it
    sys.path[0] = str(Path(__file__).resolve().parents[1])
    import benchmarks  # noqa: F401

    del sys.path[0]  # this tree's asyncjsondb must not shadow the one under test

import asyncio  # noqa: E402
import dataclasses  # noqa: E402
import json  # noqa: E402
from collections.abc import Callable, Coroutine  # noqa: E402
from typing import Any  # noqa: E402

import asyncjsondb  # noqa: E402
from benchmarks.measure import Row  # noqa: E402
from benchmarks.settings import FULL, QUICK, Scale  # noqa: E402
from benchmarks.workloads import opening, reads, writes  # noqa: E402

Measurement = Callable[[Scale, Path], Coroutine[Any, Any, list[Row]]]

SIZE = {"full": 10_000, "quick": 2_000}  # records in the collection for the sequential sets
ROUNDS = {"full": 5, "quick": 1}  # in-process rounds, of which the median is kept


def _sets(workload: str, factory: writes.WriterFactory, flush: bool) -> Measurement:
    async def measure(scale: Scale, folder: Path) -> list[Row]:
        ops = scale.flush_ops if flush else scale.durable_ops
        return await writes.sequential(workload, [factory], scale.sizes, ops, scale, folder)

    return measure


MEASUREMENTS: dict[str, Measurement] = {
    "set-fsync": _sets("set fsync", writes.FSYNC, flush=False),
    "set-flush": _sets("set flush", writes.FLUSH, flush=True),
    "concurrent": lambda scale, folder: writes.run_concurrent(scale, folder, [writes.FSYNC]),
    "get": lambda scale, folder: reads.run_get(scale, folder, [reads.OURS]),
    "find": lambda scale, folder: reads.run_find(scale, folder, [reads.OURS]),
    "open": lambda scale, folder: opening.run_open(scale, folder, [opening.OURS]),
}


def main(argv: list[str]) -> None:
    workload, folder, *flags = argv
    scale_name = "quick" if "--quick" in flags else "full"
    base = FULL if scale_name == "full" else QUICK
    scale = dataclasses.replace(base, sizes=(SIZE[scale_name],), rounds=ROUNDS[scale_name])
    rows = asyncio.run(MEASUREMENTS[workload](scale, Path(folder)))
    package = str(Path(asyncjsondb.__file__).resolve().parent)
    print(json.dumps({"asyncjsondb": package, "rows": [dataclasses.asdict(row) for row in rows]}))


if __name__ == "__main__":
    main(sys.argv[1:])

"""A/B of the file backend's hot paths: this working tree's ``asyncjsondb`` against other trees.

``python -m benchmarks.ab OTHER_SRC [OTHER_SRC ...] [--rounds 5] [--only NAME,...]``. OTHER_SRC is
a folder holding an ``asyncjsondb/`` package (e.g. ``git archive`` or ``git worktree`` of an older
commit). Each source's package is copied first, so that a tree edited during the run (a commit
landing in the working tree) cannot mix versions. Every measurement runs in a fresh process with
``PYTHONPATH=<that copy>`` and the same measuring code (``benchmarks/ab_child.py``). The sources
take turns within each round, each round starting with the next one; per other source, the table
gives the median and the range of the per-round speed ratios to the base.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

if not __package__:  # run as a script, python benchmarks/ab.py: make the package importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.ab_child import MEASUREMENTS  # noqa: E402
from benchmarks.report import render_number, render_table  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CHILD = Path(__file__).resolve().parent / "ab_child.py"
_TIMEOUT = 900.0


@dataclass
class Source:
    label: str
    path: Path
    frozen: Path = Path()  # the copy of path/asyncjsondb the children import, made by freeze()
    rates: dict[tuple[str, int, str], list[float]] = field(default_factory=dict)

    def freeze(self, folder: Path) -> None:
        self.frozen = folder
        ignore = shutil.ignore_patterns("__pycache__")
        shutil.copytree(self.path / "asyncjsondb", folder / "asyncjsondb", ignore=ignore)


def measure(source: Source, workload: str, folder: Path, quick: bool) -> None:
    """Run one child on ``source``; append each row's rate to ``source.rates``."""
    environment = {**os.environ, "PYTHONPATH": str(source.frozen)}
    command = [sys.executable, str(CHILD), workload, str(folder), *(["--quick"] if quick else [])]
    completed = subprocess.run(
        command,
        cwd=folder,
        env=environment,
        capture_output=True,
        text=True,
        timeout=_TIMEOUT,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"{workload} on {source.path} failed:\n{completed.stderr}")
    result = json.loads(completed.stdout.splitlines()[-1])
    expected = source.frozen / "asyncjsondb"
    if Path(result["asyncjsondb"]) != expected:
        raise RuntimeError(f"the child imported {result['asyncjsondb']}, not {expected}")
    for row in result["rows"]:
        where = (row["workload"], row["size"], row["system"])
        source.rates.setdefault(where, []).append(row["ops"] / row["seconds"])


def run(
    sources: list[Source], workloads: Sequence[str], rounds: int, folder: Path, quick: bool
) -> None:
    for round_number in range(rounds):
        for workload in workloads:
            first = round_number % len(sources)
            for source in sources[first:] + sources[:first]:
                print(f"round {round_number + 1}: {workload} on {source.label}", file=sys.stderr)
                measure(source, workload, folder, quick)


def table(base: Source, other: Source) -> str:
    """Median rates, and ``base / other`` speed (> 1: the base is faster) as the median and range
    of the per-round ratios: the two sides of a ratio ran back to back, so a noisy moment of the
    machine moves both alike."""
    header = ["workload", "records", "system", f"{base.label} per s", f"{other.label} per s"]
    header += [f"{base.label} / {other.label}", "min..max"]
    lines = []
    for (workload, size, system), mine in base.rates.items():
        theirs = other.rates[workload, size, system]
        paired = [a / b for a, b in zip(mine, theirs, strict=True)]
        lines.append(
            [
                workload,
                f"{size:,}",
                system,
                render_number(statistics.median(mine)),
                render_number(statistics.median(theirs)),
                f"{statistics.median(paired):.3f}",
                f"{min(paired):.2f}..{max(paired):.2f}",
            ]
        )
    return render_table(header, lines, {1, 3, 4, 5, 6})


def _load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def _source(text: str) -> Path:
    path = Path(text).resolve()
    if not (path / "asyncjsondb" / "__init__.py").is_file():
        raise argparse.ArgumentTypeError(f"{path} holds no asyncjsondb/ package")
    return path


def _rounds(value: str) -> int:
    rounds = int(value)
    if rounds < 1:
        raise argparse.ArgumentTypeError("at least 1 round")
    return rounds


def _names(value: str) -> list[str]:
    names = [name.strip() for name in value.split(",") if name.strip()]
    unknown = sorted(set(names) - set(MEASUREMENTS))
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown workload {unknown[0]!r}; choose from {', '.join(MEASUREMENTS)}"
        )
    return names


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("others", nargs="+", type=_source, metavar="OTHER_SRC")
    parser.add_argument("--base", type=_source, default=ROOT, help="default: this working tree")
    parser.add_argument("--rounds", type=_rounds, default=5, help="default: %(default)s")
    parser.add_argument("--only", type=_names, metavar="NAME,...", help=", ".join(MEASUREMENTS))
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    parser.add_argument("--dir", type=Path, default=None, help="where the data goes")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    label = "working tree" if arguments.base == ROOT else arguments.base.name
    sources = [Source(label, arguments.base)]
    sources += [Source(path.name, path) for path in arguments.others]
    workloads = arguments.only or list(MEASUREMENTS)
    started, load_before = time.perf_counter(), _load()
    with tempfile.TemporaryDirectory(prefix="asyncjsondb-ab-", dir=arguments.dir) as folder:
        for number, source in enumerate(sources):
            source.freeze(Path(folder) / f"source-{number}")
        data = Path(folder) / "data"
        data.mkdir()
        run(sources, workloads, arguments.rounds, data, arguments.quick)
    print(
        f"A/B, {arguments.rounds} rounds of a fresh process per source and workload, sources "
        f"interleaved; median of the rounds (each the median of its own in-process rounds)\n"
        f"{os.cpu_count()} CPUs, load {load_before} before, {_load()} after; "
        f"{time.perf_counter() - started:.0f} s"
    )
    for source in sources:
        print(f"  {source.label}: {source.path}")
    for other in sources[1:]:
        print()
        print(table(sources[0], other))
    return 0


if __name__ == "__main__":
    sys.exit(main())

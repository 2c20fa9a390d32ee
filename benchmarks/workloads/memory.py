"""Resident memory of a loaded collection, measured in a fresh process for each system.

The probe (``python -m benchmarks.workloads.memory_probe SYSTEM FILE``) imports everything, takes
its RSS, loads the data, collects garbage and takes its RSS again; the row holds the difference.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from ..measure import Row
from ..peers import filled
from ..peers.asyncjsondb_peer import AsyncJSONDBStore, snapshot_path
from ..peers.tinydb_peer import TinyDBStore
from ..records import dataset
from ..settings import Scale

ROOT = Path(__file__).resolve().parents[2]


def child_output(module: str, *arguments: str) -> dict[str, Any]:
    """The JSON that ``python -m module arguments...`` prints, run in a new process."""
    environment = dict(os.environ)
    environment["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT), *filter(None, [environment.get("PYTHONPATH")])]
    )
    completed = subprocess.run(
        [sys.executable, "-m", module, *arguments],
        capture_output=True,
        text=True,
        env=environment,
        timeout=900,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"{module} {' '.join(arguments)} failed:\n{completed.stderr}")
    output: dict[str, Any] = json.loads(completed.stdout)
    return output


def probe(system: str, path: Path) -> int:
    """Bytes of resident memory that loading ``path`` with ``system`` added, in a new process."""
    return int(child_output("benchmarks.workloads.memory_probe", system, str(path))["added"])


async def run(scale: Scale, folder: Path) -> list[Row]:
    size = scale.big
    records = dataset(size)
    ours, theirs = folder / "memory-asyncjsondb", folder / "memory-tinydb"
    await filled(functools.partial(AsyncJSONDBStore, "asyncjsondb"), ours, records)
    await filled(functools.partial(TinyDBStore, cached=True), theirs, records)
    rows = []
    for system, path, data_file in (
        ("asyncjsondb", ours, snapshot_path(ours)),
        ("orjson.loads", snapshot_path(ours), snapshot_path(ours)),
        ("TinyDB+cache", theirs / "tinydb.json", theirs / "tinydb.json"),
    ):
        added = probe(system, path)
        file_size = data_file.stat().st_size
        note = f"{added / file_size:.1f}x its {file_size / 1e6:.1f} MB file"
        rows.append(Row("memory (RSS)", size, system, size, 0.0, value=added, note=note))
    shutil.rmtree(ours, ignore_errors=True)
    shutil.rmtree(theirs, ignore_errors=True)
    return rows

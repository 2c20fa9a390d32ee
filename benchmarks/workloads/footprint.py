"""Resident memory at scale: the peak of a bulk import, and a fresh process's RSS after open.

Each figure comes from a new process (``footprint_probe``): ``import_batches`` ``set_many``
calls of ``import_batch`` new records into an empty collection (aiosqlite FULL: as many
transactions of ``executemany``), then opening what they wrote and getting one record, against
parsing the same JSON file with ``orjson.loads`` and ``json.loads``. Bytes are those added over
the probe's own start (interpreter, imports, worker threads), and each ratio is to the size of
AsyncJSONDB's JSON file, the data's size.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from ..measure import Row
from ..peers.asyncjsondb_peer import snapshot_path
from ..settings import Scale
from .memory import child_output

PROBE = "benchmarks.workloads.footprint_probe"
IMPORT = "RSS peak during import"
OPEN = "RSS after open"
FILE = "JSON file (limit)"


def _row(workload: str, size: int, system: str, added: int, total: int, file_size: int) -> Row:
    note = (
        f"{added / file_size:.2f}x the {file_size / 1e6:.1f} MB file; process {total / 1e6:.0f} MB"
    )
    return Row(workload, size, system, size, 0.0, value=added, note=note)


async def run(scale: Scale, folder: Path) -> list[Row]:
    size = scale.import_batches * scale.import_batch
    batches = [str(scale.import_batches), str(scale.import_batch)]
    folders = {
        "asyncjsondb": folder / "footprint-asyncjsondb",
        "aiosqlite": folder / "footprint-aiosqlite",
    }
    try:
        imports = {
            system: child_output(PROBE, "import", system, str(where), *batches)
            for system, where in folders.items()
        }
        data_file = snapshot_path(folders["asyncjsondb"])
        file_size = data_file.stat().st_size
        rows = [
            Row(IMPORT, size, FILE, size, 0.0, value=file_size, note="the data's size"),
            *(
                _row(IMPORT, size, system, out["peak"] - out["before"], out["peak"], file_size)
                for system, out in imports.items()
            ),
            Row(OPEN, size, FILE, size, 0.0, value=file_size, note="the data's size"),
        ]
        for system, path in (
            ("asyncjsondb", folders["asyncjsondb"]),
            ("orjson.loads", data_file),
            ("json.loads", data_file),
            ("aiosqlite", folders["aiosqlite"]),
        ):
            out = child_output(PROBE, "open", system, str(path))
            rows.append(
                _row(OPEN, size, system, out["after"] - out["before"], out["after"], file_size)
            )
        return rows
    finally:
        for where in folders.values():
            shutil.rmtree(where, ignore_errors=True)

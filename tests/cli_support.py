"""Running ``python -m asyncjsondb`` as a real subprocess, on a pipe or on a pseudo-terminal."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Child processes fail on any warning too, like the tests themselves (filterwarnings = error).
ENV = {key: value for key, value in os.environ.items() if not key.startswith("ASYNCJSONDB_")}
ENV["PYTHONWARNINGS"] = "error"

# A second process that keeps writing a["n"] = i, then b["n"] = i, until the stop file appears.
WRITER = """
import asyncio, pathlib, sys
from asyncjsondb import create_database

async def main(path, stop):
    async with create_database(path, durability="flush") as db:
        a, b = await db.get_collection("a"), await db.get_collection("b")
        i = 0
        while not pathlib.Path(stop).exists():
            await a.set("n", i)
            await b.set("n", i)
            if i == 0:
                print("ready", flush=True)
            i += 1
    print(i, flush=True)

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str


def cli(*args: object, stdin: bytes = b"", cwd: Path | None = None) -> Result:
    """Run the command line to completion; its stdin is a pipe, never a terminal."""
    done = subprocess.run(
        [sys.executable, "-m", "asyncjsondb", *map(str, args)],
        input=stdin,
        capture_output=True,
        cwd=cwd,
        env=ENV,
        timeout=60,
        check=False,
    )
    return Result(done.returncode, done.stdout.decode(), done.stderr.decode())


def json_lines(output: str) -> list[Any]:
    return [json.loads(line) for line in output.splitlines() if line.strip()]


class Writer:
    """The WRITER script in its own process, started and stopped around a test's work."""

    def __init__(self, db_path: Path, stop: Path) -> None:
        self.stop_file = stop
        self.process = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(db_path), str(stop)],
            stdout=subprocess.PIPE,
            env=ENV,
        )
        assert self.process.stdout is not None
        assert self.process.stdout.readline() == b"ready\n"

    def stop(self) -> int:
        """Stop the writer; return how many pairs it wrote."""
        self.stop_file.touch()
        out, _ = self.process.communicate(timeout=60)
        assert self.process.returncode == 0
        return int(out)


def on_terminal(args: list[object], answer: bytes | None = None) -> tuple[int, str]:
    """Run the command line with a pseudo-terminal as stdin/stdout/stderr (POSIX only).

    ``answer`` is typed once a ``[y/N]`` prompt appears. Returns the exit code and all output.
    """
    import pty

    main, secondary = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "asyncjsondb", *map(str, args)],
        stdin=secondary,
        stdout=secondary,
        stderr=secondary,
        env=ENV,
    )
    os.close(secondary)
    output = b""
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        output += chunk
        if answer is not None and b"[y/N]" in output:
            os.write(main, answer)
            answer = None
    os.close(main)
    return process.wait(timeout=60), output.decode(errors="replace")

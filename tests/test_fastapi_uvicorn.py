"""A real ``uvicorn --workers 2`` run of the example app: concurrent increments answered by both
worker processes add up to the exact total, in the API and in the file after shutdown."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx2

from .fastapi_helpers import ROOT, free_port, read_collection

STARTUP_SECONDS = 30
BURST = 200
MAX_BURSTS = 5


@contextmanager
def uvicorn_workers(
    db_path: Path, port: int, log: Path, workers: int = 2
) -> Iterator[subprocess.Popen[bytes]]:
    """``uvicorn examples.fastapi_app:app --workers 2`` in its own session, always stopped."""
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "examples.fastapi_app:app",
        "--workers",
        str(workers),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]
    env = {**os.environ, "ASYNCJSONDB_PATH": str(db_path)}
    with log.open("wb") as output:
        server = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=output, stderr=output, start_new_session=True
        )
    try:
        yield server
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGINT)  # graceful: each worker runs its lifespan shutdown
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait(timeout=10)


async def wait_for_both_workers(
    client: httpx2.AsyncClient, server: subprocess.Popen[bytes], log: Path
) -> set[int]:
    """Poll over fresh connections until two different worker processes have answered."""
    deadline = time.monotonic() + STARTUP_SECONDS
    workers: set[int] = set()
    while len(workers) < 2:
        assert server.poll() is None, log.read_text()
        assert time.monotonic() < deadline, f"workers seen: {workers}\n{log.read_text()}"
        try:
            workers.add((await client.get("/counters/total")).json()["served_by"])
        except httpx2.TransportError:
            await asyncio.sleep(0.05)
    return workers


async def test_two_uvicorn_workers_count_every_increment(tmp_path: Path) -> None:
    db_path, log = tmp_path / "db", tmp_path / "uvicorn.log"
    limits = httpx2.Limits(max_connections=100, max_keepalive_connections=0)  # new connection each
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    served_by: Counter[int] = Counter()
    values: list[int] = []
    with uvicorn_workers(db_path, port, log) as server:
        async with httpx2.AsyncClient(base_url=base_url, limits=limits, timeout=30) as client:
            workers = await wait_for_both_workers(client, server, log)
            # A burst is answered by both workers in practice; more bursts make sure of it.
            while set(served_by) != workers and len(values) < BURST * MAX_BURSTS:
                responses = await asyncio.gather(
                    *(client.post("/counters/total/increment") for _ in range(BURST))
                )
                assert {r.status_code for r in responses} == {200}, log.read_text()
                bodies = [r.json() for r in responses]
                served_by.update(body["served_by"] for body in bodies)
                values.extend(body["value"] for body in bodies)
        while_running = await read_collection(db_path, "counters")
    assert server.returncode == 0, log.read_text()
    total = len(values)
    print(f"\n{total} increments over {len(workers)} workers: {dict(served_by)}; final {total}")
    assert set(served_by) == workers
    assert sorted(values) == list(range(1, total + 1))  # every one saw a distinct total
    assert while_running == {"total": {"value": total}}
    assert await read_collection(db_path, "counters") == {"total": {"value": total}}
    assert not (db_path / "counters.journal").exists()  # both workers closed the db at shutdown


READS = 20  # reads answered by the other worker, wanted at least (the kernel picks which)
ROUNDS = 2_000  # at most, so a kernel that sends nearly all to one worker still gets there


async def test_two_uvicorn_workers_read_every_acknowledged_write(tmp_path: Path) -> None:
    """Read-your-writes behind a load balancer: a read that follows an acknowledged increment,
    whichever worker answers it, returns that increment (the default ``cache_ttl`` is 1 s)."""
    db_path, log = tmp_path / "db", tmp_path / "uvicorn.log"
    limits = httpx2.Limits(max_connections=10, max_keepalive_connections=0)  # new connection each
    port = free_port()
    across: list[tuple[int, int]] = []  # (written, read) when another worker answered the read
    with uvicorn_workers(db_path, port, log) as server:
        async with httpx2.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", limits=limits, timeout=30
        ) as client:
            await wait_for_both_workers(client, server, log)
            rounds = 0
            while len(across) < READS and rounds < ROUNDS:
                rounds += 1
                written = (await client.post("/counters/total/increment")).json()
                read = (await client.get("/counters/total")).json()
                assert read["value"] == written["value"], log.read_text()
                if read["served_by"] != written["served_by"]:
                    across.append((written["value"], read["value"]))
    assert across, "no read landed on the other worker"
    print(f"\n{len(across)} of {rounds} reads answered by the other worker, none stale")

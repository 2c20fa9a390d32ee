"""Running ``python -m asyncjsondb`` as a real subprocess, on a pipe or on a pseudo-terminal.

``cli`` runs each command in a process of its own, with pipes for stdin, stdout and stderr and its
exit code as Python's exit gives it, but forked from a server process that has started Python and
imported what ``python -m asyncjsondb`` imports before ``main()`` (~0.2 s of ~0.25 s per command,
over ~200 commands): the command itself, any import it makes lazily, and the interpreter's exit
(atexit, flushing, threads joined) run in the child as in a fresh one. ``on_terminal`` and the
README's command tour (tests/test_readme.py) start fresh interpreters; so does ``cli`` with
ASYNCJSONDB_TEST_CLI_SPAWN=1.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
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


# The fork server (see the module's docstring). A request is a JSON {cwd, args} with four
# descriptors: a reply socket, the command's stdin, stdout and stderr. The server forks a
# supervisor, which forks the command and sends its pid, then its exit code, on the reply socket.
FORK_SERVER = """
import json, os, runpy, signal, socket, sys

import asyncjsondb.cli  # what `python -m asyncjsondb` imports before main(); not its __main__


def serve(control):
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # supervisors are reaped without a wait
    control.sendall(b"ready")
    while True:
        message, fds, _, _ = socket.recv_fds(control, 1 << 20, 4)
        if not message:
            return None
        if os.fork() == 0:
            control.close()
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            return supervise(json.loads(message), *fds)
        for fd in fds:
            os.close(fd)


def supervise(request, reply_fd, stdin, stdout, stderr):
    reply = socket.socket(fileno=reply_fd)
    pid = os.fork()
    if pid == 0:  # the command: returns to run it at the top level, as `python -m` would
        reply.close()
        for fd, target in ((stdin, 0), (stdout, 1), (stderr, 2)):
            os.dup2(fd, target)
            os.close(fd)
        os.chdir(request["cwd"])
        return request
    for fd in (stdin, stdout, stderr):
        os.close(fd)
    reply.sendall(str(pid).encode())
    _, status = os.waitpid(pid, 0)
    reply.sendall(str(os.waitstatus_to_exitcode(status)).encode())
    reply.close()
    os._exit(0)


request = serve(socket.socket(fileno=int(sys.argv[1])))
if request is not None:
    sys.argv = ["-m", *request["args"]]
    sys.path[0] = request["cwd"]  # as `python -m` puts the directory it starts in
    runpy.run_module("asyncjsondb", run_name="__main__", alter_sys=True)
"""


class _ForkServer:
    def __init__(self) -> None:
        self.owner = os.getpid()
        self.control, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        with theirs:
            self.process = subprocess.Popen(
                [sys.executable, "-c", FORK_SERVER, str(theirs.fileno())],
                pass_fds=[theirs.fileno()],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                env=ENV,
            )
        self.control.settimeout(60)
        try:
            ready = self.control.recv(16)
        except OSError:
            ready = b""
        if ready != b"ready":
            self.close()
            raise RuntimeError(f"the CLI fork server did not start: {self.stderr!r}")
        self.stderr = b""

    def close(self) -> None:
        self.control.close()
        try:
            self.process.wait(timeout=30)
        finally:
            assert self.process.stderr is not None
            self.stderr = self.process.stderr.read()
            self.process.stderr.close()

    def run(self, args: list[str], stdin: bytes, cwd: str, timeout: float) -> Result:
        reply, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        in_read, in_write = os.pipe()
        out_read, out_write = os.pipe()
        err_read, err_write = os.pipe()
        with reply:
            try:
                request = json.dumps({"cwd": cwd, "args": args}).encode()
                fds = [theirs.fileno(), in_read, out_write, err_write]
                socket.send_fds(self.control, [request], fds)
                reply.settimeout(timeout)
                pid = int(reply.recv(32))
            except BaseException as exc:
                for fd in (in_write, out_read, err_read):
                    os.close(fd)
                if isinstance(exc, TimeoutError):
                    raise subprocess.TimeoutExpired(["asyncjsondb", *args], timeout) from None
                raise
            finally:
                theirs.close()
                for fd in (in_read, out_write, err_write):
                    os.close(fd)
            deadline = time.monotonic() + timeout
            try:
                out, err = _communicate(in_write, stdin, out_read, err_read, deadline)
                reply.settimeout(max(deadline - time.monotonic(), 0.001))
                code = int(reply.recv(32))
            except BaseException as exc:  # as subprocess.run: the command does not outlive it
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                if isinstance(exc, (TimeoutError, subprocess.TimeoutExpired)):
                    raise subprocess.TimeoutExpired(["asyncjsondb", *args], timeout) from None
                raise
        return Result(code, out.decode(), err.decode())


def _communicate(
    stdin_fd: int, data: bytes, out_fd: int, err_fd: int, deadline: float
) -> tuple[bytes, bytes]:
    """Write ``data`` to the command's stdin and read its stdout and stderr to their ends, as
    ``subprocess.run(input=...)`` does; closes the three descriptors."""
    chunks: dict[int, list[bytes]] = {out_fd: [], err_fd: []}
    offset = 0
    with selectors.DefaultSelector() as selector:
        try:
            os.set_blocking(stdin_fd, False)
            selector.register(stdin_fd, selectors.EVENT_WRITE)
            for fd in chunks:
                selector.register(fd, selectors.EVENT_READ)
            while selector.get_map():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise subprocess.TimeoutExpired("asyncjsondb", 0)
                for key, _ in selector.select(remaining):
                    if key.fd == stdin_fd:
                        try:
                            offset += os.write(stdin_fd, data[offset : offset + 65536])
                        except BrokenPipeError:  # the command exited without reading it all
                            offset = len(data)
                        done = offset >= len(data)
                    else:
                        chunk = os.read(key.fd, 65536)
                        chunks[key.fd].append(chunk)
                        done = not chunk
                    if done:
                        selector.unregister(key.fd)
                        os.close(key.fd)
        finally:
            for fd in list(selector.get_map()):
                selector.unregister(fd)
                os.close(fd)
    return b"".join(chunks[out_fd]), b"".join(chunks[err_fd])


_server: _ForkServer | None = None
_server_lock = threading.Lock()


def _fork_server() -> _ForkServer | None:
    """The fork server of this process, started at the first command; None to spawn instead."""
    global _server
    if os.environ.get("ASYNCJSONDB_TEST_CLI_SPAWN", "") not in ("", "0"):
        return None
    with _server_lock:
        if _server is not None and (
            _server.owner != os.getpid() or _server.process.poll() is not None
        ):
            _server = None  # a forked test process, or a server that died: start another
        if _server is None:
            _server = _ForkServer()
            atexit.register(_server.close)
        return _server


def cli(*args: object, stdin: bytes = b"", cwd: Path | None = None) -> Result:
    """Run the command line to completion; its stdin is a pipe, never a terminal."""
    server = _fork_server()
    if server is not None:
        return server.run(
            [str(arg) for arg in args], stdin, os.path.abspath(cwd or os.getcwd()), 60
        )
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

"""The compaction's child process (``rewrite.main``) under test control, run by
``python -m tests.rewrite_child`` in place of ``asyncjsondb.backends.files.rewrite``.

Environment: ``REWRITE_CHILD_PID`` a file to write its pid to (or a folder to
create a file named by it in); ``REWRITE_CHILD_WAIT_FOR`` a file
to wait for before it starts; ``REWRITE_CHILD_KILL_AT`` the OS call (``faults``) at which it
SIGKILLs itself. It syncs every 256 bytes, so that a small collection has many steps.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from asyncjsondb.backends.files import rewrite
from tests.faults import SyscallFaults


def main() -> int:
    rewrite.SYNC_EVERY = 256
    if pid_file := os.environ.get("REWRITE_CHILD_PID"):
        target = Path(pid_file)
        (target / str(os.getpid()) if target.is_dir() else target).write_text(str(os.getpid()))
    if wait_for := os.environ.get("REWRITE_CHILD_WAIT_FOR"):
        while not Path(wait_for).exists():
            time.sleep(0.01)
    kill_at = os.environ.get("REWRITE_CHILD_KILL_AT")
    with SyscallFaults(int(kill_at) if kill_at else None, action="kill") as faults:
        code = rewrite.main(sys.argv[1:])
    if calls_file := os.environ.get("REWRITE_CHILD_CALLS"):
        Path(calls_file).write_text("\n".join(faults.calls))
    return code


if __name__ == "__main__":
    sys.exit(main())

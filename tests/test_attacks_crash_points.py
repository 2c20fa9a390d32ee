"""The crash-point loop: the process dies (SIGKILL) at every OS call of every mutating operation.

A forked child builds the folder, then runs the operation with its Nth call replaced by a
SIGKILL, and writes an acknowledgement only once the operation returned. Afterwards the checker
finds the folder clean or repairable, never damaged, and a process that never saw the folder reads
wholly the state before the operation or wholly the state after it, and the state after it
whenever the operation was acknowledged.
"""

from __future__ import annotations

import asyncio
import os
import signal
import traceback
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import pytest

from tests.attack_cases import cases
from tests.attack_scenarios import BEFORE, Attack, check_folder, read_view_afresh
from tests.faults import SyscallFaults

pytestmark = pytest.mark.timeout(60)

KNOWN: dict[tuple[str, str], str] = {}


@pytest.fixture(scope="module")
def fresh() -> Iterator[ProcessPoolExecutor]:
    with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
        yield pool


async def _attack_then_acknowledge(attack: Attack, n: int, path: Path) -> None:
    db = await attack.prepare(path)
    with SyscallFaults(n, action="kill"):
        await attack.run(db, path)
    (path.parent / "acknowledged").write_text("yes")


def _run_in_a_child(attack: Attack, n: int, path: Path) -> int:
    """Fork; return the child's wait status. The child never returns into pytest."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 3
        try:
            asyncio.run(_attack_then_acknowledge(attack, n, path))
            code = 0
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(code)
    return os.waitpid(pid, 0)[1]


@pytest.mark.parametrize(("attack", "n"), cases(KNOWN))
def test_a_crash_at_any_call_loses_no_acknowledged_write(
    attack: Attack, n: int, tmp_path: Path, fresh: ProcessPoolExecutor
) -> None:
    path = tmp_path / "db"
    status = _run_in_a_child(attack, n, path)
    acknowledged = (tmp_path / "acknowledged").exists()
    killed = os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    assert killed or (os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0), status
    assert acknowledged != killed
    damage = [
        text
        for text, repairable in fresh.submit(check_folder, str(path)).result()
        if not repairable
    ]
    assert not damage, f"damaged after a crash at call {n}: {damage}"
    afterwards = fresh.submit(read_view_afresh, str(path)).result()
    after = attack.expect(BEFORE)
    if acknowledged:
        assert afterwards == after
    else:
        assert afterwards in (BEFORE, after), f"half done after a crash at call {n}"

"""The I/O-error loop (as SQLite's): every OS call of every mutating operation fails in turn.

After each failure the operation raised a ``DatabaseError`` or succeeded; what the live object
reads equals what a process that never saw the folder reads; and that is wholly the state before
the operation or wholly the state after it. A single write (set ... clear) that raised must have
changed nothing at all: a caller retrying it must not apply it twice.
"""

from __future__ import annotations

import asyncio
import errno
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import pytest

from asyncjsondb import DatabaseError
from tests.attack_cases import cases
from tests.attack_scenarios import (
    BEFORE,
    Attack,
    backup_outcome,
    environment_long,
    read_view,
    read_view_afresh,
)
from tests.faults import SyscallFaults

SINGLE_WRITES = {"set", "set_many", "delete", "delete_many", "update", "increment", "clear"}

KNOWN: dict[tuple[str, str], str] = {}


@pytest.fixture(scope="module")
def fresh() -> Iterator[ProcessPoolExecutor]:
    """A process that has never opened the folders it reads."""
    with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
        yield pool


# Every call fails with EIO in CI; ASYNCJSONDB_ATTACK_LONG=1 also tries ENOSPC and EPERM
# (not EACCES: a lock refused with EACCES is one held elsewhere, and is waited for).
ERRORS = [errno.EIO] + ([errno.ENOSPC, errno.EPERM] if environment_long() else [])


@pytest.mark.parametrize("error_number", ERRORS, ids=errno.errorcode.get)
@pytest.mark.parametrize(("attack", "n"), cases(KNOWN))
async def test_a_failed_call_leaves_the_state_before_or_after(
    attack: Attack, n: int, error_number: int, tmp_path: Path, fresh: ProcessPoolExecutor
) -> None:
    path = tmp_path / "db"
    db = await attack.prepare(path)
    error: BaseException | None = None
    with SyscallFaults(n, error=error_number) as faults:
        try:
            await attack.run(db, path)
        except Exception as exc:  # judged below: only a DatabaseError may come out
            error = exc
    try:
        if error is not None:
            assert isinstance(error, DatabaseError), f"{faults.fired} failed: {error!r}"
        live: Any = None
        if not attack.closes:
            try:
                live = await read_view(db)
            except DatabaseError:
                live = None  # a collection may refuse use after a failed undo, until reopened
        afterwards = await asyncio.get_running_loop().run_in_executor(
            fresh, read_view_afresh, str(path)
        )
        after = attack.expect(BEFORE)
        if error is None:
            assert afterwards == after
        elif attack.name in SINGLE_WRITES:
            assert afterwards == BEFORE, f"a write that raised at {faults.fired} was kept"
        else:
            assert afterwards in (BEFORE, after), f"half done after {faults.fired}"
        if live is not None:
            assert live == afterwards, "this process reads other data than a fresh one"
        if attack.name == "backup":
            outcome = backup_outcome(path)
            assert outcome == ("absent" if error else "present"), outcome
    finally:
        await db.close()

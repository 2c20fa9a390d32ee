"""The (operation, injection point) cases of the I/O-error and crash-point loops.

Each operation is run once with the calls only counted; the cases are then ``1 .. count`` (the Nth
call fails or kills) plus ``count + 1``, the run in which nothing is injected and the operation
must complete. A case id names the call hit, e.g. ``set-2-os.pwrite``.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from tests.attack_scenarios import ATTACKS, Attack
from tests.faults import SyscallFaults


async def _count(attack: Attack, path: Path) -> list[str]:
    db = await attack.prepare(path)
    with SyscallFaults() as counter:
        await attack.run(db, path)
    await db.close()
    return counter.calls


def calls_of_every_attack() -> dict[str, list[str]]:
    found = {}
    for attack in ATTACKS:
        with tempfile.TemporaryDirectory() as scratch:
            found[attack.name] = asyncio.run(_count(attack, Path(scratch) / "db"))
    return found


def cases(known: Mapping[tuple[str, str], str]) -> list[Any]:
    """Every case, as pytest params; ``known[(operation, call)]`` marks a known defect.

    ``call`` is ``"<n>-<name>"`` for one case, ``"<name>"`` for every call of that name, and
    operation ``"*"`` stands for every operation."""
    params = []
    for attack in ATTACKS:
        calls = calls_of_every_attack_cached()[attack.name]
        for n, call in enumerate([*calls, "none"], start=1):
            reason = (
                known.get((attack.name, f"{n}-{call}"))
                or known.get((attack.name, call))
                or known.get(("*", call))
            )
            marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
            params.append(pytest.param(attack, n, id=f"{attack.name}-{n}-{call}", marks=marks))
    return params


_cache: dict[str, list[str]] = {}


def calls_of_every_attack_cached() -> dict[str, list[str]]:
    if not _cache:
        _cache.update(calls_of_every_attack())
    return _cache

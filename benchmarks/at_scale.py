"""The targets of issue 12 (fresh reads, no waits, no stalls, memory and open at a million
records), checked against figures measured in the same run."""

from __future__ import annotations

from collections.abc import Iterator

from .measure import Row
from .targets import ASYNCJSONDB, Verdict, find
from .workloads import compaction, footprint, freshness, opening, stalls

STALL_LIMIT = 0.010
WRITE_WAIT_LIMIT = 0.020


def evaluate(rows: list[Row]) -> list[Verdict]:
    checks = [_fresh, _compaction, _stalls, _memory, _open]
    return [verdict for check in checks for verdict in check(rows)]


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f} ms"


def _fresh(rows: list[Row]) -> Iterator[Verdict]:
    for workload in (freshness.ACROSS_PROCESSES, freshness.ACROSS_OBJECTS):
        ours = find(rows, workload, freshness.ASYNCJSONDB)
        sqlite = find(rows, workload, "aiosqlite FULL")
        if ours is None or ours.value is None:
            continue
        measured = f"{ours.value:.0f} stale of {ours.ops}"
        if sqlite is not None:
            measured += f"; round trips {ours.rate / sqlite.rate:.2f}x aiosqlite FULL's"
        yield Verdict(f"{workload}, defaults", "0 stale reads", measured, ours.value == 0)


def _compaction(rows: list[Row]) -> Iterator[Verdict]:
    ours = find(rows, compaction.WORKLOAD, compaction.OURS)
    raw = find(rows, compaction.WORKLOAD, "append+fsync (limit)")
    if ours is None or ours.spread is None:
        return
    _, p99, worst = ours.spread
    measured = f"max {_ms(worst)}, p99 {_ms(p99)} over {ours.ops} sets"
    quiet = find(rows, compaction.WORKLOAD, f"{compaction.OURS} quiet")
    if quiet is not None and quiet.spread is not None:  # the disk's own spikes, for reading it
        measured += f"; with no compaction max {_ms(quiet.spread[2])}"
    if raw is not None and raw.spread is not None:
        measured += f"; append+fsync max {_ms(raw.spread[2])}"
    check = f"worst set while {ours.size:,} compact"
    yield Verdict(check, f"<= {_ms(WRITE_WAIT_LIMIT)}", measured, worst <= WRITE_WAIT_LIMIT)


def _stalls(rows: list[Row]) -> Iterator[Verdict]:
    for ours in rows:
        if ours.workload != stalls.WORKLOAD or not ours.system.startswith(ASYNCJSONDB + " "):
            continue
        call = ours.system[len(ASYNCJSONDB) + 1 :]
        worst = ours.value or 0.0
        measured = _ms(worst)
        if ", step " in ours.note:  # the loop's own longest step, in CPU time
            measured += f", step {ours.note.rsplit(', step ', 1)[-1]}"
        sqlite = find(rows, stalls.WORKLOAD, f"aiosqlite {call}", ours.size)
        if sqlite is not None and sqlite.value is not None:
            measured += f" (aiosqlite {_ms(sqlite.value)})"
        check = f"loop stall of {call} at {ours.size:,}"
        yield Verdict(check, f"<= {_ms(STALL_LIMIT)}", measured, worst <= STALL_LIMIT)


def _memory(rows: list[Row]) -> Iterator[Verdict]:
    for workload, limit in ((footprint.OPEN, 2.0), (footprint.IMPORT, 3.0)):
        ours = find(rows, workload, ASYNCJSONDB)
        data = find(rows, workload, footprint.FILE)
        if ours is None or data is None or not ours.value or not data.value:
            continue
        ratio = ours.value / data.value
        measured = f"{ours.value / 1e6:,.0f} MB = {ratio:.2f}x the {data.value / 1e6:,.0f} MB file"
        check = f"{workload}, {ours.size:,}"
        yield Verdict(check, f"<= {limit:g}x the file", measured, ratio <= limit)


def _open(rows: list[Row]) -> Iterator[Verdict]:
    """Against ``json.loads`` with the collector paused (the floor: an engine may pause it),
    and, reported beside, as most applications call it."""
    workload = "open + first get"
    sizes = sorted({row.size for row in rows if row.workload == workload})
    if not sizes:
        return
    size = sizes[-1]
    ours = find(rows, workload, ASYNCJSONDB, size)
    floor = find(rows, workload, f"json.loads {opening.PAUSED}", size)
    plain = find(rows, workload, "json.loads", size)
    if ours is None or floor is None:
        return
    ratio = ours.seconds / floor.seconds
    measured = f"{ours.seconds:.3f} s = {ratio:.2f}x json.loads, gc paused ({floor.seconds:.3f} s)"
    if plain is not None:
        measured += f"; {ours.seconds / plain.seconds:.2f}x with gc ({plain.seconds:.3f} s)"
    check = f"open {size:,} + first get"
    yield Verdict(check, "<= 1.2x json.loads", measured, ratio <= 1.2)

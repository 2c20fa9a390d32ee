"""Fuzzed files: bytes flipped, cut off or appended in ``<name>.json`` and in the journal.

Opening the damaged folder gives the exact data, or a ``CorruptFileError`` that names the file and
the byte; data may go silently only with a torn final journal line (a cut makes the line it falls
in the torn final one). Every byte of ``<name>.json`` and of the journal's frames is flipped and cut
at in CI. The journal runs on past its frames in zeros written ahead (journal.py), here 8,085 of its
8,192 bytes, where a reader's answer depends only on where the run starts and ends: CI flips and
cuts the first and last ``EDGE`` of them, those around each page boundary and every ``STRIDE``-th
(262 instead of 8,085: a stretch that a reader mishandled would be hit if >= STRIDE bytes wide).
ASYNCJSONDB_ATTACK_LONG=1 flips and cuts every one of them, and adds seeded random damage.
"""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from asyncjsondb import AsyncJSONDB, CorruptFileError
from tests.attack_scenarios import environment_long

FOLDED: dict[str, Any] = {"a": 1, "b": {"x": [1, 2, "é"]}, "t": "text"}
Write = Callable[[Any], Any]
WRITES: list[tuple[str, Write, Callable[[dict[str, Any]], None]]] = [
    ("set d", lambda c: c.set("d", 4), lambda m: m.update(d=4)),
    ("delete a", lambda c: c.delete("a"), lambda m: m.pop("a")),
    ("set_many", lambda c: c.set_many({"e": 5, "f": [6]}), lambda m: m.update(e=5, f=[6])),
    ("set b", lambda c: c.set("b", {"x": 0}), lambda m: m.update(b={"x": 0})),
    ("increment", lambda c: c.increment("n"), lambda m: m.update(n={"value": 1})),
]


class Original:
    """The undamaged files, and the data after the first k journal lines, for every k."""

    def __init__(self, snapshot: bytes, journal: bytes) -> None:
        self.files = {"c.json": snapshot, "c.journal": journal}
        self.states = [dict(FOLDED)]
        for _, _, change in WRITES:
            state = dict(self.states[-1])
            change(state)
            self.states.append(state)
        starts = [0] + [i + 1 for i, byte in enumerate(journal) if byte == ord("\n")]
        self.line_starts = starts[:-1]
        assert len(self.line_starts) == len(WRITES)

    def lines_before(self, offset: int) -> int:
        """How many journal lines end before ``offset``."""
        return sum(1 for start in self.line_starts[1:] if start <= offset)


async def _build(path: Path) -> Original:
    db = AsyncJSONDB(path)
    c = await db.get_collection("c")
    await c.set_many(FOLDED)
    await db.compact()
    for _, write, _ in WRITES:
        await write(c)
    original = Original((path / "c.json").read_bytes(), (path / "c.journal").read_bytes())
    await db.close()
    return original


@pytest.fixture(scope="module")
def original(tmp_path_factory: pytest.TempPathFactory) -> Original:
    return asyncio.run(_build(tmp_path_factory.mktemp("original") / "db"))


Damage = tuple[str, int, bytes]  # (description, offset of the first damaged byte, new content)


EDGE = 64  # zeros written ahead flipped and cut one by one at each end of their run
STRIDE = 61  # and every STRIDE-th zero between (a prime: no alignment with pages or lines)
PAGE = 4096


def offsets(raw: bytes) -> list[int]:
    """Where flips and cuts fall: every byte, but in CI only a sample of the zeros written ahead
    past the last frame (see the module's docstring)."""
    frames_end = len(raw.rstrip(b"\0"))
    if environment_long() or len(raw) - frames_end <= 2 * EDGE:
        return list(range(len(raw)))
    chosen = set(range(frames_end + EDGE)) | set(range(len(raw) - EDGE, len(raw)))
    chosen.update(range(frames_end, len(raw), STRIDE))
    for boundary in range(PAGE, len(raw), PAGE):
        chosen.update(range(boundary - 2, boundary + 2))
    return sorted(chosen)


def flips(raw: bytes) -> Iterator[Damage]:
    for i in offsets(raw):
        yield f"byte {i} flipped", i, raw[:i] + bytes([raw[i] ^ 0xFF]) + raw[i + 1 :]
        if raw[i] == ord("\n"):
            yield f"newline {i} made a space", i, raw[:i] + b" " + raw[i + 1 :]


def cuts(raw: bytes) -> Iterator[Damage]:
    for i in offsets(raw):
        yield f"cut at {i}", i, raw[:i]


def appends(raw: bytes) -> Iterator[Damage]:
    for tail in (b"x", b"\n", b"\n\n", b" ", b"garbage\n", b"\x00" * 8, b"\xff\xfe", b"{}\n"):
        yield f"appended {tail!r}", len(raw), raw + tail


def random_damage(raw: bytes, seed: int) -> Iterator[Damage]:
    chooser = random.Random(seed)
    for _ in range(200):
        damaged = bytearray(raw)
        for _ in range(chooser.randint(1, 4)):
            damaged[chooser.randrange(len(raw))] = chooser.randrange(256)
        changed = [i for i, (old, new) in enumerate(zip(raw, damaged, strict=True)) if old != new]
        if changed:  # a byte set to its own value is no damage: the first changed one counts
            first = changed[0]
            yield f"random bytes from {first} (seed {seed})", first, bytes(damaged)


KINDS: dict[str, Callable[[bytes], Iterator[Damage]]] = {
    "flip": flips,
    "cut": cuts,
    "append": appends,
}
if environment_long():
    KINDS["random"] = lambda raw: itertools.chain(*(random_damage(raw, s) for s in range(20)))


async def _read(path: Path) -> dict[str, Any] | CorruptFileError:
    db = AsyncJSONDB(path)
    try:
        return dict(await (await db.get_collection("c")).items())
    except CorruptFileError as exc:
        return exc
    finally:
        await db.close()


def _verdict(
    original: Original, name: str, kind: str, offset: int, result: dict[str, Any] | CorruptFileError
) -> str | None:
    """None when the result is allowed; else what is wrong with it."""
    exact = original.states[-1]
    if isinstance(result, CorruptFileError):
        if Path(result.path).name != name:
            return f"CorruptFileError names {result.path}, not {name}"
        if result.position is None:
            return f"CorruptFileError on {name} names no byte: {result}"
        return None
    if result == exact:
        return None
    if name == "c.journal":
        torn_from = original.lines_before(offset)
        if result == original.states[torn_from] and (kind == "cut" or torn_from == len(WRITES) - 1):
            return (
                None  # the final line torn (a cut tears the line it falls in): never acknowledged
            )
    return f"data changed silently: {result}"


# Known limits, (file, kind) -> reason, each marked as a strict xfail.
KNOWN: dict[tuple[str, str], str] = {
    ("c.json", "random"): (
        "by design: <name>.json is plain JSON with no checksum, so a changed byte that leaves "
        "it valid JSON (a letter inside a string) changes the data undetectably"
    ),
}
# No longer among the seeded random cases since the journal's bytes changed, so held by a test of
# its own (``test_the_last_two_lines_merged_into_a_fragment``).
MERGED_FRAGMENT = (
    "left: damage to a newline and to the final newline makes the last two lines one "
    "unterminated fragment, read as a torn tail (a fragment cannot be verified)"
)


def _cases() -> list[Any]:
    params = []
    for name in ("c.json", "c.journal"):
        for kind in KINDS:
            reason = KNOWN.get((name, kind))
            marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
            params.append(pytest.param(name, kind, id=f"{name}-{kind}", marks=marks))
    return params


@pytest.mark.parametrize(("name", "kind"), _cases())
async def test_damage_reads_exactly_or_is_named(
    original: Original, name: str, kind: str, tmp_path: Path
) -> None:
    wrong = []
    for number, (what, offset, damaged) in enumerate(KINDS[kind](original.files[name])):
        folder = tmp_path / str(number)
        folder.mkdir()
        for file_name, raw in original.files.items():
            (folder / file_name).write_bytes(damaged if file_name == name else raw)
        verdict = _verdict(original, name, kind, offset, await _read(folder))
        if verdict is not None:
            wrong.append(f"{what}: {verdict}")
    assert not wrong, f"{len(wrong)} damaged {name} files misread, e.g. " + "; ".join(wrong[:3])


@pytest.mark.xfail(strict=True, raises=AssertionError, reason=MERGED_FRAGMENT)
async def test_the_last_two_lines_merged_into_a_fragment(
    original: Original, tmp_path: Path
) -> None:
    journal = bytearray(original.files["c.journal"])
    frames_end = original.line_starts[-1] + journal[original.line_starts[-1] :].index(b"\n")
    for newline in (original.line_starts[-1] - 1, frames_end):  # the last two lines' newlines
        journal[newline] = ord("x")
    for file_name, raw in original.files.items():
        (tmp_path / file_name).write_bytes(bytes(journal) if file_name == "c.journal" else raw)
    offset = original.line_starts[-1] - 1
    assert _verdict(original, "c.journal", "random", offset, await _read(tmp_path)) is None

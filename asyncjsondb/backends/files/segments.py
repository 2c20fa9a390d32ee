"""A collection past ``SEGMENT`` records, kept in memory as many small dicts instead of one.

A dict grows by moving every entry into a table twice the size, in one C call that holds the
GIL. Past 699,050 keys that call takes 12-86 ms (measured at a million records), and every event
loop of the process waits for it: at open, and whenever a collection grows past a power of two.
So no dict here holds more than ``SEGMENT`` keys, whose last growth (at 87,381 keys) takes ~3 ms:

- ``runs``: the records in insertion order, as consecutive dicts. A new key goes to the last
  run, and a full last run is followed by a new one; reading the runs in turn reads the
  collection in order.
- ``shards``: the same records by ``hash(key)``. A key's shard never changes, so a lookup is one
  C call on one dict, as on a plain dict (plus ~0.2 us: a Python call and the routing).

Every change goes to both in one pass of C code (``apply``; see ``batches`` for why that is
atomic), so a reader never sees one without the other. Collections up to ``SEGMENT`` records
stay a plain dict (``Records`` is either): they pay nothing for this.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from itertools import chain, islice, repeat

from ...bridge import sharing_the_gil

SEGMENT = 174_762  # the keys a dict of 2**18 slots holds; read at call time (tests lower it)
SHARDS = 64  # each shard stays under SEGMENT keys up to ~11M records
_MASK = SHARDS - 1
_route = _MASK.__and__  # hash -> shard number, in C
_POUR = 4096  # keys moved from run to run in one step of tidying: ~0.3 ms
_CHUNK = 4096  # keys copied in one C call when a dict becomes Segments: ~2 ms


class Segments:
    """An insertion-ordered ``str -> bytes`` mapping, with the dict methods this package uses."""

    __slots__ = ("runs", "shards")

    def __init__(self) -> None:
        self.runs: list[dict[str, bytes]] = [{}]
        self.shards: list[dict[str, bytes]] = [{} for _ in range(SHARDS)]

    # -- reading: each a single C call on the current dicts, so atomic for readers ------------

    def get(self, key: str, default: bytes | None = None) -> bytes | None:
        return self.shards[hash(key) & _MASK].get(key, default)

    def __contains__(self, key: object) -> bool:
        return key in self.shards[hash(key) & _MASK]

    def __len__(self) -> int:
        return sum(map(len, self.runs))

    def __iter__(self) -> Iterator[str]:
        return chain.from_iterable(self.runs)

    def keys(self) -> Iterator[str]:
        return chain.from_iterable(self.runs)

    def values(self) -> Iterator[bytes]:
        return chain.from_iterable(map(dict.values, self.runs))

    def items(self) -> Iterator[tuple[str, bytes]]:
        return chain.from_iterable(map(dict.items, self.runs))

    def lookup(self, keys: Iterable[str]) -> Iterator[bytes | None]:
        """``get`` for each key, lazily, in C (no bytecode runs while it is consumed)."""
        keys = list(keys)
        return map(dict.get, self._shards_of(keys), keys)

    def __repr__(self) -> str:
        return f"<Segments: {len(self)} records in {len(self.runs)} runs>"

    # -- writing: the caller holds the store's mutex (one writer at a time) --------------------

    def __setitem__(self, key: str, value: bytes) -> None:
        """One key: the common write, so it takes no ``apply`` (both dicts in one C call)."""
        shard = self.shards[hash(key) & _MASK]
        if key in shard:
            run = self._runs_of([key])[0]
        else:
            run = self.runs[-1]
            if len(run) >= SEGMENT:  # a new run is needed
                self.apply({}, {}, {key: value})
                return
        deque(map(dict.__setitem__, (run, shard), (key, key), (value, value)), maxlen=0)

    def pop(self, key: str, default: bytes | None = None) -> bytes | None:
        shard = self.shards[hash(key) & _MASK]
        found = shard.get(key)
        if found is None:
            return default
        run = self._runs_of([key])[0]
        deque(map(dict.pop, (run, shard), (key, key)), maxlen=0)
        self._tidy()
        return found

    def apply(
        self, removed: dict[str, None], updated: dict[str, bytes], added: dict[str, bytes]
    ) -> None:
        """Remove, update in place, then add at the end, in one pass of C code.

        ``removed`` and ``updated`` keys must be present and ``added`` ones absent (the net
        effect of a batch, as ``batches.Changes`` makes it)."""
        runs = self.runs
        changed_runs = self._runs_of(chain(removed, updated))
        removed_runs, updated_runs = changed_runs[: len(removed)], changed_runs[len(removed) :]
        targets, new_runs = self._places(len(added), removed_runs)
        deque(
            chain(
                map(dict.pop, removed_runs, removed, repeat(None)),
                map(dict.pop, self._shards_of(removed), removed, repeat(None)),
                map(dict.__setitem__, updated_runs, updated, updated.values()),
                map(dict.__setitem__, self._shards_of(updated), updated, updated.values()),
                map(runs.append, new_runs),
                map(dict.__setitem__, targets, added, added.values()),
                map(dict.__setitem__, self._shards_of(added), added, added.values()),
            ),
            maxlen=0,
        )
        if removed:
            self._tidy()

    def extend(self, keys: list[str], values: list[bytes]) -> None:
        """Add pairs read from a file, in order; a key seen before takes the later value in
        its first place (as in a JSON object). Nobody reads these segments yet."""
        if len(keys) != len(values):
            raise ValueError("as many keys as values")
        shards = list(self._shards_of(keys))
        if any(map(dict.__contains__, shards, keys)) or len(set(keys)) < len(keys):
            for key, value in zip(keys, values, strict=True):
                self[key] = value
            return
        targets, new_runs = self._places(len(keys), [])
        self.runs.extend(new_runs)
        deque(map(dict.__setitem__, targets, keys, values), maxlen=0)
        deque(map(dict.__setitem__, shards, keys, values), maxlen=0)

    def _shards_of(self, keys: Iterable[str]) -> Iterator[dict[str, bytes]]:
        return map(self.shards.__getitem__, map(_route, map(hash, keys)))

    def _runs_of(self, keys: Iterable[str]) -> list[dict[str, bytes]]:
        """The run holding each key: the newest runs first, as recent keys change most."""
        newest_first = self.runs[::-1]
        return [next(run for run in newest_first if key in run) for key in keys]

    def _places(
        self, count: int, emptied: list[dict[str, bytes]]
    ) -> tuple[list[dict[str, bytes]], list[dict[str, bytes]]]:
        """The run each of ``count`` new keys goes to, and the new runs to append first;
        ``emptied`` lists the run of each key removed in the same step."""
        last = self.runs[-1]
        room = SEGMENT - len(last) + sum(run is last for run in emptied)
        targets = [last] * min(room, count)
        new_runs: list[dict[str, bytes]] = []
        while len(targets) < count:
            new_runs.append({})
            targets.extend([new_runs[-1]] * min(SEGMENT, count - len(targets)))
        return targets, new_runs

    def _tidy(self) -> None:
        """Keep runs at least half full on average as keys go: drop emptied runs, then move up
        to ``_POUR`` keys from the front of a run to the end of a less than half full one before
        it (a short C call; order is kept). The last run stays, even empty: new keys go there."""
        runs = self.runs
        if not all(runs[:-1]):
            kept = [run for run in runs[:-1] if run]
            runs[:] = [*kept, runs[-1]]  # one C call: readers see all of them gone, or none
        for index in range(len(runs) - 1):
            first, second = runs[index], runs[index + 1]
            small = 2 * min(len(first), len(second)) < SEGMENT
            if small and len(first) + len(second) <= SEGMENT:
                moved = list(islice(second, _POUR))
                emptied = len(moved) == len(second) and index + 1 < len(runs) - 1
                deque(
                    chain(
                        map(first.update, [zip(moved, map(second.pop, moved), strict=True)]),
                        map(runs.pop, [index + 1] if emptied else []),
                    ),
                    maxlen=0,
                )
                return


Records = dict[str, bytes] | Segments


def outgrows(data: Records, extra: int) -> bool:
    """Whether ``extra`` more keys could take ``data``, a dict, past ``SEGMENT`` (so that
    ``grown`` copies it, work for the pool rather than an event loop)."""
    return isinstance(data, dict) and len(data) + extra > SEGMENT


def grown(data: Records, extra: int) -> Records:
    """``data``, or a copy as ``Segments`` when ``extra`` more keys could take a dict past
    ``SEGMENT``. The dict is copied, not wrapped: a reader still holding it sees it unchanged.
    A chunk per C call, letting event loops run between them (``sharing_the_gil``): it is
    ~100 ms of work."""
    if not outgrows(data, extra):
        return data
    segments = Segments()
    keys, values = iter(data), iter(data.values())  # nobody changes data meanwhile
    for _ in sharing_the_gil(range(0, len(data), _CHUNK)):
        segments.extend(list(islice(keys, _CHUNK)), list(islice(values, _CHUNK)))
    return segments


def added(data: Records, keys: list[str], values: list[bytes]) -> Records:
    """``data`` with pairs read from a file added (a later duplicate key keeps its first
    place); a new ``Segments`` when a dict would pass ``SEGMENT``."""
    data = grown(data, len(keys))
    if isinstance(data, Segments):
        for start in range(0, len(keys), _CHUNK):
            data.extend(keys[start : start + _CHUNK], values[start : start + _CHUNK])
    else:
        data.update(zip(keys, values, strict=True))
    return data


def lookup(data: Records, keys: Iterable[str]) -> Iterator[bytes | None]:
    """``data.get`` for each key, lazily and in C: consumed in one call, it is one moment."""
    return data.lookup(keys) if isinstance(data, Segments) else map(data.get, keys)

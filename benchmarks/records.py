"""The benchmark's records: ~200 bytes of JSON each (name, email, int age, tag list, bool).

Generated from a fixed seed, so every system stores the same data in every run. Records are
indexed by int (TinyDB's document ids are ints); ``key`` gives the string key of the others.
"""

from __future__ import annotations

import functools
import random
from typing import Any

Record = dict[str, Any]

# fmt: off
_FIRST = ["Alice", "Bruno", "Chiara", "Dmitri", "Elena", "Farid", "Grace", "Hiroshi", "Ines",
          "Jonas", "Keiko", "Liam", "Maya", "Nikolai", "Olga", "Pedro", "Quinn", "Rosa"]
_LAST = ["Anderson", "Bergstrom", "Castellano", "Dubois", "Eriksen", "Fernandez", "Gallagher",
         "Hoffmann", "Ivanova", "Jankowski", "Kowalczyk", "Lindqvist", "Moreau", "Nakamura"]
_TAGS = ["admin", "beta-tester", "customer", "developer", "early-adopter", "enterprise",
         "newsletter", "partner", "premium", "support", "trial", "verified", "wholesale"]
# fmt: on


def key(index: int) -> str:
    return f"user-{index:07d}"


def make_record(rng: random.Random, index: int) -> Record:
    first, last = rng.choice(_FIRST), rng.choice(_LAST)
    return {
        "name": f"{first} {last}",
        "email": f"{first}.{last}.{index}@example.com".lower(),
        "age": rng.randint(18, 90),
        "tags": rng.sample(_TAGS, rng.randint(6, 11)),
        "active": rng.random() < 0.5,
    }


@functools.lru_cache(maxsize=4)
def dataset(count: int, seed: int = 2024) -> dict[int, Record]:
    """``count`` records by index 0..count-1; shared between workloads, so never mutate it."""
    rng = random.Random(seed)
    return {index: make_record(rng, index) for index in range(count)}


def fresh(start: int, count: int, seed: int = 7) -> list[tuple[int, Record]]:
    """``count`` new records with indexes from ``start``: what a timed run writes."""
    rng = random.Random(seed + start)
    return [(index, make_record(rng, index)) for index in range(start, start + count)]

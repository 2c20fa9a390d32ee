"""The file naming is injective: no legal name creates, matches or removes another's files."""

from __future__ import annotations

import os
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from asyncjsondb.backends.files import atomic, layout
from asyncjsondb.names import MAX_NAME_LENGTH

# Legal names built from the pieces other collections' file names are made of.
PIECES = ["n", ".json", ".journal", ".lock", ".compacting", ".folded", ".restoring", ".dropped"]
PIECES += [".next"]
PIECES += [".tmp-", "0123456789ab", "-", "_", "1"]
names = (
    st.lists(st.sampled_from(PIECES), min_size=1, max_size=6)
    .map("".join)
    .filter(lambda name: not name.startswith(".") and len(name) <= MAX_NAME_LENGTH)
)


def files_of(directory: Path, name: str) -> list[Path]:
    """Every file the collection can have, with a temp file of each file written atomically."""
    paths = layout.CollectionFiles(directory, name)
    temps = [atomic.temp_path_for(path) for path in paths.written_atomically()]
    return [paths.snapshot, paths.journal, paths.lock, *paths.leftovers(), *temps]


@given(names, names)
def test_two_names_never_share_a_file(first: str, second: str) -> None:
    if first != second:
        assert not {p.name for p in files_of(Path(), first)} & {
            p.name for p in files_of(Path(), second)
        }


@given(names)
def test_every_file_but_the_lock_names_its_collection(name: str) -> None:
    lock = layout.CollectionFiles(Path(), name).lock
    for path in files_of(Path(), name):
        assert layout.owner_of(path.name) == (None if path == lock else name)


@settings(max_examples=30, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(names, names)
def test_settling_a_collection_leaves_every_other_file(
    tmp_path: Path, first: str, second: str
) -> None:
    if first == second:
        return
    folder = tmp_path / f"{len(os.listdir(tmp_path))}"
    folder.mkdir()
    for path in files_of(folder, second):
        path.write_bytes(b"{}\n")
    before = sorted(os.listdir(folder))
    paths = layout.CollectionFiles(folder, first)
    assert layout.find_leftovers(paths) == []
    assert layout.settle_leftovers(paths) == []
    assert sorted(os.listdir(folder)) == before
    assert layout.names_with_files(folder) == [second]

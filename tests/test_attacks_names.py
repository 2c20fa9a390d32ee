"""Legal names must never create, match or remove another collection's files."""

from __future__ import annotations

from pathlib import Path

from asyncjsondb import AsyncJSONDB
from tests.attack_scenarios import check_folder

TRICKY = "n.json.tmp-1"  # a legal name whose files look like the auxiliary files of ``n``


async def test_loading_a_collection_leaves_the_lock_of_another(tmp_path: Path) -> None:
    async with AsyncJSONDB(tmp_path) as db:
        await (await db.get_collection(TRICKY)).set("k", 1)
        before = {p.name for p in tmp_path.iterdir()}
        await db.get_collection("n")
        assert before <= {p.name for p in tmp_path.iterdir()}


async def test_an_interrupted_compaction_survives_loading_a_similar_name(tmp_path: Path) -> None:
    async with AsyncJSONDB(tmp_path) as db:
        c = await db.get_collection(TRICKY)
        await c.set("folded", 1)
        await db.compact()
        await c.set("journaled", 2)
        old_snapshot = (tmp_path / f"{TRICKY}.json").read_bytes()
        journal = (tmp_path / f"{TRICKY}.journal").read_bytes()
    # the folder as a crash between the compaction's two renames leaves it
    (tmp_path / f".{TRICKY}.json.compacting").write_bytes(
        (tmp_path / f"{TRICKY}.json").read_bytes()
    )
    (tmp_path / f"{TRICKY}.json").write_bytes(old_snapshot)
    (tmp_path / f".{TRICKY}.journal.folded").write_bytes(journal)
    async with AsyncJSONDB(tmp_path) as db:
        await db.get_collection("n")
        assert await (await db.get_collection(TRICKY)).get("journaled") == 2


async def test_check_finds_nothing_wrong_with_a_sound_folder_of_similar_names(
    tmp_path: Path,
) -> None:
    async with AsyncJSONDB(tmp_path) as db:
        for name in ("n", TRICKY, "n.journal", "n.lock"):
            await (await db.get_collection(name)).set("k", name)
    assert check_folder(str(tmp_path)) == []

"""``asyncjsondb export`` and ``import``, in subprocesses, on real files."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.cli_support import cli, json_lines, on_terminal

SMALL = {"a": {"n": 1, "tags": ["x"]}, "b": "ünïcode", "c": None, "d": 2**63, "e": [1.5, True]}


def jsonl(records: dict[str, Any]) -> bytes:
    return b"".join(
        json.dumps({"key": key, "value": value}).encode() + b"\n" for key, value in records.items()
    )


def test_a_round_trip_of_40k_records(tmp_path: Path) -> None:
    source = {
        f"user:{i}": {"id": i, "name": f"Ünïcode {i}", "score": i / 7, "tags": ["a", i % 3 == 0]}
        for i in range(40_000)
    }
    (tmp_path / "in.jsonl").write_bytes(jsonl(source))

    imported = cli("import", tmp_path / "db", "users", tmp_path / "in.jsonl", "--create")
    assert (imported.code, imported.err) == (0, "imported 40000 records into users\n")
    exported = cli("export", tmp_path / "db", "users", "--format", "json")
    assert exported.code == 0, exported.err
    assert list(json.loads(exported.out).items()) == list(source.items())


def test_jsonl_export_to_a_file_and_json_import_from_stdin(tmp_path: Path) -> None:
    db = tmp_path / "db"
    assert cli("import", db, "small", "-", "--create", stdin=json.dumps(SMALL).encode()).code == 0

    exported = cli("export", db, "small", "--output", tmp_path / "out.jsonl")
    assert exported.code == 0 and exported.out == ""
    assert exported.err == f"exported 5 records of small to {tmp_path / 'out.jsonl'}\n"
    lines = json_lines((tmp_path / "out.jsonl").read_text())
    assert lines == [{"key": key, "value": value} for key, value in SMALL.items()]

    assert cli("import", db, "copy", tmp_path / "out.jsonl").code == 0  # format from the suffix
    assert json.loads(cli("export", db, "copy").out) == SMALL
    assert json_lines(cli("export", db, "copy", "--format", "jsonl").out) == lines


@pytest.mark.parametrize(
    ("bad_line", "message"),
    [
        (b'{"key": "x", "value": [1, 2}\n', "not valid JSON"),
        (b'{"key": "x", "value": NaN}\n', "NaN is not standard JSON"),
        (b'{"key": 7, "value": 1}\n', 'expected {"key": "...", "value": ...}'),
        (b'["x", 1]\n', 'expected {"key": "...", "value": ...}'),
        (b'{"key": "x", "value": 18446744073709551616}\n', "exceeds 64 bits"),
    ],
)
def test_a_bad_line_aborts_the_import_and_stores_nothing(
    tmp_path: Path, bad_line: bytes, message: str
) -> None:
    db = tmp_path / "db"
    db.mkdir()
    (db / "users.json").write_bytes(b'{\n"keep":1\n}\n')
    before = {p.name: p.read_bytes() for p in db.iterdir()}
    good = jsonl({f"k{i}": {"i": i} for i in range(1000)})
    (tmp_path / "in.jsonl").write_bytes(good + b"\n" + bad_line + good)

    for collection in ("users", "fresh"):
        result = cli("import", db, collection, tmp_path / "in.jsonl")
        assert result.code == 1
        assert f"Error: {tmp_path / 'in.jsonl'}:1002: " in result.err and message in result.err
        assert result.err.endswith("nothing imported\n")
    assert {p.name: p.read_bytes() for p in db.iterdir()} == before  # "fresh" was not created


def test_an_unwritable_export_target_is_named(tmp_path: Path) -> None:
    assert cli("set", tmp_path / "db", "c", "k", "1", "--create").code == 0
    target = Path("/proc/nope/x.json")
    result = cli("export", tmp_path / "db", "c", "-o", target)
    assert result.code == 1
    assert result.err == f"Error: could not write {target}: No such file or directory\n"


def test_import_refuses_a_missing_folder_unless_create(tmp_path: Path) -> None:
    (tmp_path / "in.json").write_text('{"a": 1}')
    refused = cli("import", tmp_path / "dtb", "c", tmp_path / "in.json")
    assert refused.code == 2 and "pass --create to start a new database there" in refused.err
    assert not (tmp_path / "dtb").exists()


def test_a_json_import_must_be_an_object(tmp_path: Path) -> None:
    (tmp_path / "list.json").write_text('[{"key": "a", "value": 1}]')
    result = cli("import", tmp_path / "db", "c", tmp_path / "list.json", "--create")
    assert result.code == 1 and "holds a JSON list, not an object" in result.err
    (tmp_path / "broken.json").write_text('{\n"a": 1,\n"b": }\n')
    result = cli("import", tmp_path / "db", "c", tmp_path / "broken.json", "--create")
    assert result.code == 1 and f"{tmp_path / 'broken.json'}:3: not valid JSON" in result.err
    assert cli("import", tmp_path / "db", "c", tmp_path / "missing.json", "--create").code == 2
    assert not (tmp_path / "db" / "c.json").exists()


@pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals are POSIX")
def test_a_progress_bar_only_on_a_terminal(tmp_path: Path) -> None:
    (tmp_path / "in.jsonl").write_bytes(jsonl({f"k{i}": i for i in range(5000)}))
    code, output = on_terminal(["import", tmp_path / "db", "c", tmp_path / "in.jsonl", "--create"])
    assert code == 0
    assert "reading" in output and "imported 5000 records into c" in output
    piped = cli("import", tmp_path / "db", "d", tmp_path / "in.jsonl")
    assert piped.err == "imported 5000 records into d\n"

"""``export`` and ``import``: a collection to and from JSON or JSON lines.

Formats: ``json`` is one object of key -> value (the layout of ``<name>.json`` itself); ``jsonl``
is one ``{"key": ..., "value": ...}`` object per line. An import is all or nothing: the whole input
is parsed and validated first, then stored by one ``set_many``, which the engine journals as one
record (on PostgreSQL, as one statement), so even a crash mid-import leaves none of it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from ..backends.files import atomic, snapshot
from ..codec import encode
from ..database import AsyncJSONDB
from ..errors import InvalidValueError, StorageError
from .common import (
    Failure,
    Location,
    collection_argument,
    database_argument,
    existing_collection,
    load_json,
    run,
)
from .output import Advance, progress, write_chunks

FORMATS = ("json", "jsonl")
_LINES_PER_TICK = 1000

format_option = click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    help="json (one object) or jsonl (one {key, value} per line); default: from the "
    "file's suffix (.jsonl/.ndjson), else json.",
)


@click.command("export")
@database_argument()
@collection_argument()
@format_option
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write to this file (replaced atomically) instead of stdout.",
)
def export_command(path: Location, collection: str, fmt: str | None, output: Path | None) -> None:
    """Write every record of COLLECTION as JSON or JSON lines."""

    async def work(db: AsyncJSONDB) -> list[tuple[str, Any]]:
        return await (await existing_collection(db, collection)).items()

    items = run(path, work)
    chunks = _render(items, fmt or _format_of(output))
    if output is None:
        write_chunks(chunks)
        return
    try:
        os.close(atomic.write_atomically(output, chunks))
    except StorageError as exc:  # it names the temp file beside the target: name the target
        raise Failure(f"could not write {output}: {exc.cause.strerror or exc.cause}") from exc
    click.echo(f"exported {len(items)} records of {collection} to {output}", err=True)


@click.command("import")
@database_argument(writes=True)
@collection_argument()
@click.argument(
    "file", type=click.Path(exists=True, dir_okay=False, allow_dash=True, path_type=Path)
)
@format_option
def import_command(path: Location, collection: str, file: Path, fmt: str | None) -> None:
    """Store every record of FILE (- for stdin) in COLLECTION: all of them, or none.

    A bad line aborts the import, naming its line number, before anything is stored.
    Existing keys are overwritten; other records of COLLECTION are kept.
    """
    from_stdin = str(file) == "-"
    raw = sys.stdin.buffer.read() if from_stdin else file.read_bytes()
    where = "<stdin>" if from_stdin else str(file)
    kind = fmt or _format_of(None if from_stdin else file)
    with progress(f"reading {where}", len(raw)) as advance:
        if kind == "jsonl":
            records = _parse_lines(raw, where, advance)
        else:
            records = _parse_object(raw, where)

    async def work(db: AsyncJSONDB) -> int:
        return await (await db.get_collection(collection)).set_many(records)

    count = run(path, work)
    click.echo(f"imported {count} records into {collection}", err=True)


def _format_of(file: Path | None) -> str:
    return "jsonl" if file is not None and file.suffix in (".jsonl", ".ndjson") else "json"


def _render(items: list[tuple[str, Any]], fmt: str) -> Iterator[bytes]:
    if fmt == "json":
        return snapshot.render({key: encode(value) for key, value in items})
    return (b'{"key":%b,"value":%b}\n' % (encode(key), encode(value)) for key, value in items)


def _parse_lines(raw: bytes, where: str, advance: Advance) -> dict[str, Any]:
    records: dict[str, Any] = {}
    done = 0
    for number, line in enumerate(raw.splitlines(), start=1):
        done += len(line) + 1
        if number % _LINES_PER_TICK == 0:
            advance(done)
            done = 0
        if not line.strip():
            continue
        try:
            entry = load_json(line)
        except ValueError as exc:
            raise Failure(f"{where}:{number}: not valid JSON ({exc}); nothing imported") from exc
        if not (isinstance(entry, dict) and isinstance(entry.get("key"), str) and "value" in entry):
            raise Failure(
                f'{where}:{number}: expected {{"key": "...", "value": ...}}; nothing imported'
            )
        _check_value(entry["value"], f"{where}:{number}")
        records[entry["key"]] = entry["value"]
    return records


def _parse_object(raw: bytes, where: str) -> dict[str, Any]:
    try:
        document = load_json(raw)
    except ValueError as exc:
        line = getattr(exc, "lineno", "?")
        hint = " (JSON lines? pass --format jsonl)" if line != 1 else ""
        raise Failure(f"{where}:{line}: not valid JSON ({exc}){hint}; nothing imported") from exc
    if not isinstance(document, dict):
        raise Failure(
            f"{where}: holds a JSON {type(document).__name__}, not an object of "
            "key -> value (use --format jsonl for JSON lines); nothing imported"
        )
    for key, value in document.items():
        _check_value(value, f"{where}: key {key!r}")
    return document


def _check_value(value: Any, where: str) -> None:
    """Fail now, before anything is stored, on what ``set_many`` would refuse."""
    try:
        encode(value)
    except InvalidValueError as exc:
        raise Failure(f"{where}: {exc.reason}; nothing imported") from exc


COMMANDS = [export_command, import_command]

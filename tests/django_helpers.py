"""Helpers of the Django tests (the fixtures are in ``tests.django_support``)."""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.core.management import call_command

from asyncjsondb_django import get_db

REPO = Path(__file__).resolve().parent.parent
EXAMPLE_PROJECT = REPO / "examples" / "django_project"


@dataclass(frozen=True)
class Folders:
    path: Path
    backup_dir: Path


@dataclass(frozen=True)
class Server:
    """The settings' database on the PostgreSQL server, in a schema of the test's own."""

    url: str
    schema: str
    backup_dir: Path


def command(name: str, *args: str, **options: Any) -> str:
    """Run a management command; return what it wrote to stdout."""
    out = io.StringIO()
    call_command(name, *args, stdout=out, stderr=io.StringIO(), **options)
    return out.getvalue()


async def fill(data: dict[str, dict[str, Any]]) -> None:
    """Write ``data`` through the app's own database, which stays open as in a running site."""
    db = get_db()
    for name in await db.list_collections():
        await db.drop_collection(name)
    for name, items in data.items():
        await (await db.get_collection(name)).set_many(items)


async def contents() -> dict[str, dict[str, Any]]:
    """What the app's database holds now."""
    db = get_db()
    return {
        name: dict(await (await db.get_collection(name)).items())
        for name in await db.list_collections()
    }


def example_env(database: Path) -> dict[str, str]:
    """The environment of a ``manage.py`` subprocess of the example, on the folder ``database``."""
    env = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env["ASYNCJSONDB_PATH"] = str(database)
    return env

"""The fixture of the Django tests; a test module uses it with
``pytest_plugins = ["tests.django_support"]``."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.test import override_settings

from asyncjsondb_django import close_databases


@dataclass(frozen=True)
class Folders:
    path: Path
    backup_dir: Path


@pytest.fixture
def jsondb_folders(tmp_path: Path) -> Iterator[Folders]:
    """Point ASYNCJSONDB at a fresh folder; close what ``get_db()`` opened afterwards."""
    folders = Folders(tmp_path / "jsondb", tmp_path / "backups")
    with override_settings(ASYNCJSONDB={"PATH": folders.path, "BACKUP_DIR": folders.backup_dir}):
        try:
            yield folders
        finally:
            asyncio.run(close_databases())

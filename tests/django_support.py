"""The fixtures of the Django tests; a test module uses them with
``pytest_plugins = ["tests.django_support"]`` (helpers are in ``tests.django_helpers``)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.test import override_settings

from asyncjsondb_django import close_databases
from tests.conftest import POSTGRES_URL
from tests.django_helpers import Folders, Server


@pytest.fixture
def jsondb_folders(tmp_path: Path) -> Iterator[Folders]:
    """Point ASYNCJSONDB at a fresh folder; close what ``get_db()`` opened afterwards."""
    folders = Folders(tmp_path / "jsondb", tmp_path / "backups")
    with override_settings(ASYNCJSONDB={"PATH": folders.path, "BACKUP_DIR": folders.backup_dir}):
        try:
            yield folders
        finally:
            asyncio.run(close_databases())


@pytest.fixture
def jsondb_server(postgres_schema: str, tmp_path: Path) -> Iterator[Server]:
    """Point ASYNCJSONDB at PostgreSQL (the schema passed in OPTIONS); close the pools
    afterwards, before ``postgres_schema`` drops the schema."""
    server = Server(POSTGRES_URL, postgres_schema, tmp_path / "backups")
    setting = {
        "PATH": server.url,
        "BACKUP_DIR": server.backup_dir,
        "OPTIONS": {"schema": server.schema},
    }
    with override_settings(ASYNCJSONDB=setting):
        try:
            yield server
        finally:
            asyncio.run(close_databases())

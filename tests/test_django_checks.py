"""System checks: each misconfiguration by its exact id, the lazy settings, and registration."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pytest
from django.core.checks import registry
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from asyncjsondb_django.checks import check_settings
from asyncjsondb_django.conf import conf


def ids_for(setting: Any, **other_settings: Any) -> list[str]:
    with override_settings(ASYNCJSONDB=setting, **other_settings):
        return [message.id or "" for message in check_settings()]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "jsondb"
    path.mkdir()
    return path


def test_checks_are_registered_by_the_app() -> None:
    assert check_settings in registry.registry.get_checks()
    assert "asyncjsondb" in registry.registry.tags_available()


def test_a_sound_setting_passes(folder: Path, tmp_path: Path) -> None:
    assert ids_for({"PATH": folder, "BACKUP_DIR": tmp_path / "new" / "backups"}) == []
    assert ids_for({"PATH": str(folder), "OPTIONS": {"durability": "flush"}}) == []


@pytest.mark.parametrize(
    "setting",
    [
        "a/path",
        {"PATHS": "/srv/db"},
        {"PATH": 42},
        {"PATH": ""},
        {"PATH": "mysql://localhost/site"},  # only postgresql:// URLs are databases
        {"PATH": Path("postgresql://localhost/site")},  # Path() made it postgresql:/localhost
        {"PATH": "postgres:/localhost/site"},
        {"PATH": "postgresql://localhost/site"},  # a URL has no folder to put backups beside
        {"PATH": "/srv/db", "BACKUP_DIR": ["/srv"]},
        {"PATH": "/srv/db", "OPTIONS": [("durability", "flush")]},
        {},  # no PATH, and these settings have no BASE_DIR to default to
    ],
)
def test_a_malformed_setting_is_e001(setting: Any) -> None:
    assert ids_for(setting) == ["asyncjsondb.E001"]


def test_path_that_is_a_file_is_e002(tmp_path: Path) -> None:
    a_file = tmp_path / "file"
    a_file.write_text("")
    assert ids_for({"PATH": a_file}) == ["asyncjsondb.E002"]
    # Beneath a file, neither PATH nor the default BACKUP_DIR beside it can be created.
    assert ids_for({"PATH": a_file / "jsondb"}) == ["asyncjsondb.E002", "asyncjsondb.E003"]


def test_path_that_is_not_writable_is_e002(
    folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder.chmod(0o555)
    if os.geteuid() == 0:  # permission bits do not bind root: inject what others would get
        real_access = os.access
        monkeypatch.setattr(
            os, "access", lambda path, mode: Path(path) != folder and real_access(path, mode)
        )
    backup_dir = tmp_path / "backups"
    try:
        assert ids_for({"PATH": folder, "BACKUP_DIR": backup_dir}) == ["asyncjsondb.E002"]
        assert ids_for({"PATH": folder / "sub", "BACKUP_DIR": backup_dir}) == ["asyncjsondb.E002"]
    finally:
        folder.chmod(0o755)


def test_backup_dir_that_cannot_be_a_folder_is_e003(folder: Path, tmp_path: Path) -> None:
    a_file = tmp_path / "file"
    a_file.write_text("")
    assert ids_for({"PATH": folder, "BACKUP_DIR": a_file}) == ["asyncjsondb.E003"]
    assert ids_for({"PATH": folder, "BACKUP_DIR": a_file / "backups"}) == ["asyncjsondb.E003"]


def test_unknown_options_are_e004(folder: Path) -> None:
    with override_settings(ASYNCJSONDB={"PATH": folder, "OPTIONS": {"cache_tll": 1, "x": 2}}):
        [message] = check_settings()
    assert message.id == "asyncjsondb.E004"
    assert "'cache_tll', 'x'" in message.msg
    assert "cache_ttl" in (message.hint or "")


def test_an_option_typo_gets_a_did_you_mean(folder: Path) -> None:
    with override_settings(ASYNCJSONDB={"PATH": folder, "OPTIONS": {"durabilty": "fsync"}}):
        [message] = check_settings()
    assert message.id == "asyncjsondb.E004"
    assert (message.hint or "").startswith("'durabilty': did you mean 'durability'? The options")


def test_an_option_out_of_range_is_e005(folder: Path) -> None:
    assert ids_for({"PATH": folder, "OPTIONS": {"durability": "sometimes"}}) == ["asyncjsondb.E005"]
    assert ids_for({"PATH": folder, "OPTIONS": {"cache_ttl": -1}}) == ["asyncjsondb.E005"]


def test_a_missing_path_is_w001(tmp_path: Path) -> None:
    assert ids_for({"PATH": tmp_path / "not" / "yet"}) == ["asyncjsondb.W001"]


def test_a_relative_path_is_w002(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(folder.parent)
    assert ids_for({"PATH": "jsondb"}) == ["asyncjsondb.W002"]
    assert ids_for({"PATH": "elsewhere"}) == ["asyncjsondb.W001", "asyncjsondb.W002"]


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    a_file = tmp_path / "file"
    a_file.write_text("")
    setting = {"PATH": a_file, "BACKUP_DIR": a_file, "OPTIONS": {"nope": 1}}
    assert ids_for(setting) == ["asyncjsondb.E002", "asyncjsondb.E003", "asyncjsondb.E004"]


def test_settings_are_read_lazily_with_documented_defaults(tmp_path: Path) -> None:
    with override_settings(ASYNCJSONDB={"PATH": tmp_path / "db"}):
        path, backup_dir = conf.PATH, conf.BACKUP_DIR
        assert (path, backup_dir) == (tmp_path / "db", tmp_path / "db-backups")
        assert conf.OPTIONS == {}
    with override_settings(BASE_DIR=tmp_path):
        path, backup_dir = conf.PATH, conf.BACKUP_DIR
        assert (path, backup_dir) == (tmp_path / "jsondb", tmp_path / "jsondb-backups")
    with pytest.raises(ImproperlyConfigured, match="there is no BASE_DIR"):
        _ = conf.PATH


# -- a PostgreSQL URL as PATH (no server is reached by the checks) -------------------------

URL = "postgresql://app:secret@db.example:5432/site"


def test_a_url_skips_the_folder_checks(tmp_path: Path) -> None:
    assert ids_for({"PATH": URL, "BACKUP_DIR": tmp_path / "backups"}) == []
    options = {"schema": "site", "table_prefix": "t_", "pool_size": 5, "durability": "flush"}
    assert ids_for({"PATH": URL, "BACKUP_DIR": tmp_path, "OPTIONS": options}) == []


def test_a_url_backs_up_beside_the_project_by_default(tmp_path: Path) -> None:
    with override_settings(ASYNCJSONDB={"PATH": URL}, BASE_DIR=tmp_path):
        path, backup_dir = conf.PATH, conf.BACKUP_DIR
        assert (path, backup_dir) == (URL, tmp_path / "jsondb-backups")
        assert check_settings() == []
    with override_settings(ASYNCJSONDB={"PATH": URL}):
        [message] = check_settings()
    assert message.id == "asyncjsondb.E001"
    assert (
        message.msg == "set settings.ASYNCJSONDB['BACKUP_DIR'] (there is no BASE_DIR to default to)"
    )


def test_a_url_still_checks_backup_dir_and_options(tmp_path: Path) -> None:
    a_file = tmp_path / "file"
    a_file.write_text("")
    setting = {"PATH": URL, "BACKUP_DIR": a_file, "OPTIONS": {"pool_size": 0}}
    assert ids_for(setting) == ["asyncjsondb.E003", "asyncjsondb.E005"]


def test_a_url_without_its_driver_is_e006(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "asyncpg", None)  # what Python does when it is not installed
    with override_settings(ASYNCJSONDB={"PATH": URL, "BACKUP_DIR": tmp_path}):
        [message] = check_settings()
    assert message.id == "asyncjsondb.E006"
    assert "asyncpg is not installed" in message.msg
    assert message.hint == "pip install 'asyncjsondb[postgres]'"
    assert "secret" not in message.msg
    assert ids_for({"PATH": tmp_path, "BACKUP_DIR": tmp_path}) == []  # a folder needs no driver


def test_server_options_on_a_folder_are_e005(folder: Path) -> None:
    with override_settings(ASYNCJSONDB={"PATH": folder, "OPTIONS": {"schema": "site"}}):
        [message] = check_settings()
    assert message.id == "asyncjsondb.E005"
    assert "'schema' applies only to a postgresql:// PATH" in message.msg


def test_the_url_message_of_a_mangled_path_says_how_to_fix_it() -> None:
    with override_settings(ASYNCJSONDB={"PATH": Path("postgresql://localhost/site")}):
        [message] = check_settings()
    assert "give the URL as a str" in message.msg

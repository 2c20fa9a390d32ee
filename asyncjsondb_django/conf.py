"""The ``ASYNCJSONDB`` setting, read on every access so that ``override_settings`` works.

    ASYNCJSONDB = {
        "PATH": "/srv/site/jsondb",  # a folder, or "postgresql://user@host/db"; default below
        "BACKUP_DIR": "/backups/jsondb",  # for jsondb_backup; default: "<PATH>-backups"
        "OPTIONS": {"durability": "fsync"},  # keyword options of AsyncJSONDB; default: {}
    }

PATH defaults to ``BASE_DIR / "jsondb"``. BACKUP_DIR defaults to ``<PATH>-backups`` beside a
folder, and to ``BASE_DIR / "jsondb-backups"`` for a URL (a server has no folder to sit beside).
A malformed setting raises ``ImproperlyConfigured``; the system checks report it as
``asyncjsondb.E001``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeAlias

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from asyncjsondb.backends import URL_SCHEMES

SETTING_NAME = "ASYNCJSONDB"
KEYS = ("PATH", "BACKUP_DIR", "OPTIONS")
DEFAULT_FOLDER_NAME = "jsondb"
BACKUP_SUFFIX = "-backups"

Location: TypeAlias = Path | str
"""A database folder (``Path``) or a ``postgresql://`` URL (``str``)."""

# What Path("postgresql://...") makes of a URL: it collapses "//" into "/".
_COLLAPSED_URL = re.compile(rf"^({'|'.join(URL_SCHEMES)}):/(?!/)")


class AsyncJSONDBSettings:
    """Typed, validated views of ``settings.ASYNCJSONDB``."""

    @property
    def raw(self) -> Mapping[str, Any]:
        value = getattr(settings, SETTING_NAME, {})
        if not isinstance(value, Mapping):
            raise ImproperlyConfigured(
                f"settings.{SETTING_NAME} must be a dict, not {type(value).__name__}"
            )
        unknown = sorted(set(value) - set(KEYS))
        if unknown:
            raise ImproperlyConfigured(
                f"settings.{SETTING_NAME} has unknown key {unknown[0]!r}; "
                f"the keys are {', '.join(KEYS)}"
            )
        return value

    @property
    def PATH(self) -> Location:
        """The database folder or ``postgresql://`` URL; defaults to ``BASE_DIR / "jsondb"``."""
        value = self.raw.get("PATH")
        if value is None:
            return _base_dir("PATH") / DEFAULT_FOLDER_NAME
        if isinstance(value, str) and "://" in value:
            return _as_url(value)
        if isinstance(value, (str, os.PathLike)) and _COLLAPSED_URL.match(os.fspath(value)):
            raise ImproperlyConfigured(
                f"settings.{SETTING_NAME}['PATH'] {os.fspath(value)!r} looks like a database URL "
                "that Path() turned into a folder name ('//' became '/'); give the URL as a str"
            )
        return _as_path("PATH", value)

    @property
    def BACKUP_DIR(self) -> Path:
        """Where ``jsondb_backup`` puts backups (see the module docstring for the defaults)."""
        value = self.raw.get("BACKUP_DIR")
        if value is not None:
            return _as_path("BACKUP_DIR", value)
        path = self.PATH
        if is_url(path):
            return _base_dir("BACKUP_DIR") / (DEFAULT_FOLDER_NAME + BACKUP_SUFFIX)
        path = Path(os.path.abspath(path))
        return path.with_name(path.name + BACKUP_SUFFIX)

    @property
    def OPTIONS(self) -> dict[str, Any]:
        """Keyword options of ``AsyncJSONDB``, checked by the core (``asyncjsondb.options``)."""
        value = self.raw.get("OPTIONS", {})
        if not isinstance(value, Mapping):
            raise ImproperlyConfigured(
                f"settings.{SETTING_NAME}['OPTIONS'] must be a dict, not {type(value).__name__}"
            )
        return dict(value)


def is_url(location: Location) -> bool:
    """True for a database server's URL, False for a folder."""
    return isinstance(location, str)


def display(location: Location) -> str:
    """``location`` for messages: a URL without its password."""
    if is_url(location):
        from asyncjsondb.backends.postgres.backend import redact

        return redact(str(location))
    return str(location)


def _as_url(value: str) -> str:
    scheme = value.split("://", 1)[0]
    if scheme not in URL_SCHEMES:
        raise ImproperlyConfigured(
            f"settings.{SETTING_NAME}['PATH'] must be a folder or a postgresql:// URL; "
            f"{scheme}:// is not supported"
        )
    return value


def _base_dir(key: str) -> Path:
    base_dir = getattr(settings, "BASE_DIR", None)
    if base_dir is None:
        raise ImproperlyConfigured(
            f"set settings.{SETTING_NAME}['{key}'] (there is no BASE_DIR to default to)"
        )
    return _as_path(key, base_dir)


def _as_path(key: str, value: object) -> Path:
    if isinstance(value, (str, os.PathLike)) and str(value):
        return Path(value)
    raise ImproperlyConfigured(
        f"settings.{SETTING_NAME}['{key}'] must be a non-empty path, not {value!r}"
    )


conf = AsyncJSONDBSettings()

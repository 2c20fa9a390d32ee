"""The ``ASYNCJSONDB`` setting, read on every access so that ``override_settings`` works.

    ASYNCJSONDB = {
        "PATH": "/srv/site/jsondb",  # the database folder; default: BASE_DIR / "jsondb"
        "BACKUP_DIR": "/backups/jsondb",  # for jsondb_backup; default: "<PATH>-backups"
        "OPTIONS": {"durability": "fsync"},  # keyword options of AsyncJSONDB; default: {}
    }

A malformed setting raises ``ImproperlyConfigured``; the system checks report it as
``asyncjsondb.E001``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

SETTING_NAME = "ASYNCJSONDB"
KEYS = ("PATH", "BACKUP_DIR", "OPTIONS")
DEFAULT_FOLDER_NAME = "jsondb"
BACKUP_SUFFIX = "-backups"


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
    def PATH(self) -> Path:
        """The database folder; defaults to ``BASE_DIR / "jsondb"``."""
        value = self.raw.get("PATH")
        if value is not None:
            if "://" in str(value):
                raise ImproperlyConfigured(
                    f"settings.{SETTING_NAME}['PATH'] must be a folder: asyncjsondb_django does "
                    f"not serve database URLs such as {str(value).split('://')[0]}://"
                )
            return _as_path("PATH", value)
        base_dir = getattr(settings, "BASE_DIR", None)
        if base_dir is None:
            raise ImproperlyConfigured(
                f"set settings.{SETTING_NAME}['PATH'] (there is no BASE_DIR to default to)"
            )
        return _as_path("PATH", base_dir) / DEFAULT_FOLDER_NAME

    @property
    def BACKUP_DIR(self) -> Path:
        """Where ``jsondb_backup`` puts backups; defaults to ``<PATH>-backups`` beside PATH."""
        value = self.raw.get("BACKUP_DIR")
        if value is not None:
            return _as_path("BACKUP_DIR", value)
        path = Path(os.path.abspath(self.PATH))
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


def _as_path(key: str, value: object) -> Path:
    if isinstance(value, (str, os.PathLike)) and str(value):
        return Path(value)
    raise ImproperlyConfigured(
        f"settings.{SETTING_NAME}['{key}'] must be a non-empty path, not {value!r}"
    )


conf = AsyncJSONDBSettings()

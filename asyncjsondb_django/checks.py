"""System checks (``manage.py check``), so a misconfiguration shows before the first request.

asyncjsondb.E001  the ASYNCJSONDB setting is malformed
asyncjsondb.E002  PATH is not a writable folder and cannot be made one
asyncjsondb.E003  BACKUP_DIR is not a writable folder and cannot be made one
asyncjsondb.E004  OPTIONS has keys that are not options of AsyncJSONDB
asyncjsondb.E005  an OPTIONS value is out of range, or a server's option is given for a folder
asyncjsondb.E006  PATH is a postgresql:// URL but its driver (asyncpg) is not installed
asyncjsondb.W001  PATH does not exist yet: a typo there would start an empty database
asyncjsondb.W002  PATH is relative: it depends on the working directory (cron, systemd)

E002 and E003 ask for folders one can write; commands that only read (``jsondb_collections``,
``jsondb_check`` without ``--repair``) run their checks under ``reading_only()``, which leaves them
out, so an operator who may only read the database can still inspect it.

E002, W001 and W002 concern folders only; a URL is checked by E006 (the server is reached at the
first use, not at ``manage.py check``). E006 is an error, not a warning, for the reason Django makes
an ImageField without Pillow one (fields.E210): without the driver no request can succeed.
"""

from __future__ import annotations

import contextlib
import difflib
import importlib.util
import os
from collections.abc import Iterator, Sequence
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from django.apps import AppConfig
from django.core import checks
from django.core.checks import CheckMessage
from django.core.exceptions import ImproperlyConfigured

from asyncjsondb import ConfigurationError
from asyncjsondb.options import OPTION_NAMES, Options

from .conf import SETTING_NAME, Location, conf, is_url

_reading_only: ContextVar[bool] = ContextVar("asyncjsondb_reading_only", default=False)


@contextlib.contextmanager
def reading_only() -> Iterator[None]:
    """Within, the checks do not ask PATH and BACKUP_DIR to be writable (E002, E003)."""
    token = _reading_only.set(True)
    try:
        yield
    finally:
        _reading_only.reset(token)


def check_settings(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """Every problem of the ASYNCJSONDB setting (registered by the app's ``ready()``)."""
    try:
        path, backup_dir, options = conf.PATH, conf.BACKUP_DIR, conf.OPTIONS
    except ImproperlyConfigured as exc:
        return [checks.Error(str(exc), id="asyncjsondb.E001")]
    location = _check_driver() if is_url(path) else _check_folder(Path(path))
    backups = [] if _reading_only.get() else _check_backup_dir(backup_dir)
    return location + backups + _check_options(path, options)


def _check_driver() -> list[CheckMessage]:
    if importlib.util.find_spec("asyncpg") is not None:
        return []
    return [
        checks.Error(
            f"{SETTING_NAME}['PATH'] is a PostgreSQL URL, but its driver asyncpg is not installed",
            hint="pip install 'asyncjsondb[postgres]'",
            id="asyncjsondb.E006",
        )
    ]


def _check_folder(path: Path) -> list[CheckMessage]:
    messages: list[CheckMessage] = []
    problem = None if _reading_only.get() else folder_problem(path)
    if problem:
        messages.append(
            checks.Error(
                f"{SETTING_NAME}['PATH'] {path} {problem}",
                hint="Point PATH at a folder the server's user can write to.",
                id="asyncjsondb.E002",
            )
        )
    elif not os.path.isdir(path):
        messages.append(
            checks.Warning(
                f"{SETTING_NAME}['PATH'] {path} does not exist; it will be created, empty, "
                "on first use",
                hint="If the database should already be there, check PATH for a typo.",
                id="asyncjsondb.W001",
            )
        )
    if not path.is_absolute():
        messages.append(
            checks.Warning(
                f"{SETTING_NAME}['PATH'] {path} is relative to the working directory, "
                f"now {os.getcwd()}",
                hint="Use an absolute path, e.g. BASE_DIR / 'jsondb', so that cron jobs and "
                "servers started elsewhere find the same database.",
                id="asyncjsondb.W002",
            )
        )
    return messages


def _check_backup_dir(backup_dir: Path) -> list[CheckMessage]:
    problem = folder_problem(backup_dir)
    if not problem:
        return []
    return [
        checks.Error(
            f"{SETTING_NAME}['BACKUP_DIR'] {backup_dir} {problem}",
            hint="Point BACKUP_DIR at a folder the user running jsondb_backup can write to.",
            id="asyncjsondb.E003",
        )
    ]


def _check_options(path: Location, options: dict[str, Any]) -> list[CheckMessage]:
    unknown = sorted(set(options) - set(OPTION_NAMES))
    if unknown:
        guesses = [_did_you_mean(name) for name in unknown]
        return [
            checks.Error(
                f"{SETTING_NAME}['OPTIONS'] has unknown option(s) {', '.join(map(repr, unknown))}",
                hint="".join(guess for guess in guesses if guess)
                + f"The options are {', '.join(OPTION_NAMES)}.",
                id="asyncjsondb.E004",
            )
        ]
    try:
        parsed = Options.from_kwargs(options)
    except ConfigurationError as exc:
        return [checks.Error(f"{SETTING_NAME}['OPTIONS']: {exc}", id="asyncjsondb.E005")]
    server_only = [] if is_url(path) else parsed.server_only()
    if server_only:
        return [
            checks.Error(
                f"{SETTING_NAME}['OPTIONS'] {', '.join(map(repr, server_only))} applies only to "
                "a postgresql:// PATH, and PATH is a folder",
                hint="Remove it, or point PATH at the PostgreSQL database.",
                id="asyncjsondb.E005",
            )
        ]
    return []


def _did_you_mean(name: object) -> str:
    close = difflib.get_close_matches(str(name), OPTION_NAMES, n=1)
    return f"{name!r}: did you mean {close[0]!r}? " if close else ""


def folder_problem(path: Path) -> str | None:
    """Why ``path`` is not, and cannot become, a writable folder; None when it is fine."""
    if os.path.lexists(path):
        if not os.path.isdir(path):
            return "is not a folder"
        return None if _writable(path) else "is not writable"
    parents = Path(os.path.abspath(path)).parents
    ancestor = next(parent for parent in parents if os.path.lexists(parent))
    if not os.path.isdir(ancestor):
        return f"cannot be created: {ancestor} is not a folder"
    return None if _writable(ancestor) else f"cannot be created: {ancestor} is not writable"


def _writable(folder: Path) -> bool:
    return os.access(folder, os.W_OK | os.X_OK)

"""Validation of collection names and keys, before any file is touched."""

from __future__ import annotations

import re

from .errors import InvalidKeyError, InvalidNameError

MAX_NAME_LENGTH = 128
_NAME_PATTERN = re.compile(r"[A-Za-z0-9_.\-]+")


def validate_collection_name(name: object) -> str:
    """Return ``name`` if it is a safe file stem, else raise InvalidNameError.

    Only letters, digits, ``_``, ``-`` and ``.`` are allowed and no leading dot, so a name can never
    leave the database folder, hide itself, or mean something else on another operating system.
    """
    if not isinstance(name, str):
        raise InvalidNameError(name, "must be a str")
    if not name:
        raise InvalidNameError(name, "must not be empty")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidNameError(name, f"longer than {MAX_NAME_LENGTH} characters")
    if name.startswith("."):
        raise InvalidNameError(name, "must not start with a dot")
    if not _NAME_PATTERN.fullmatch(name):
        raise InvalidNameError(name, "only letters, digits, '_', '-' and '.' are allowed")
    return name


def validate_key(key: object) -> str:
    """Return ``key`` if it is a str (JSON object keys are strings), else raise InvalidKeyError."""
    if type(key) is str:
        return key
    if isinstance(key, str):
        return str.__str__(key)  # the text itself, not an Enum's "Colour.RED"
    raise InvalidKeyError(key)

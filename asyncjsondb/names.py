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
    """Return ``key`` as a plain str, else raise InvalidKeyError.

    JSON object keys are strings; NUL is refused because PostgreSQL's text cannot hold it, and a
    lone surrogate because UTF-8 cannot: a key must mean the same on every backend.
    """
    if type(key) is not str:
        if not isinstance(key, str):
            raise InvalidKeyError(key)
        key = str.__str__(key)  # the text itself, not an Enum's "Colour.RED"
    if "\0" in key:
        raise InvalidKeyError(key, "keys must not contain NUL (\\0)")
    if not key.isascii():
        try:
            key.encode()
        except UnicodeEncodeError:
            raise InvalidKeyError(key, "keys must not hold a lone surrogate (not UTF-8)") from None
    return key

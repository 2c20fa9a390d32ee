"""Stored records judged by the router's model: what the data holds need not match the code.

A record written by the command line, an older version of the model or another application may
not validate. The router never answers 500 for it, and never writes and then fails:

- ``GET`` or ``PATCH`` of such a record answers 409 naming the record and its problems; a PATCH
  writes nothing (a ``PUT`` replaces the record, so it is the way to repair one);
- a page lists it in ``invalid`` (key and problems) instead of ``items``.
"""

from __future__ import annotations

from typing import Any, NoReturn

from fastapi import HTTPException
from pydantic import BaseModel, ValidationError


def validation_errors(model: type[BaseModel] | None, value: Any) -> list[dict[str, Any]]:
    """Pydantic's errors for ``value`` as ``model``: empty when it validates, or without a model."""
    if model is None:
        return []
    try:
        model.model_validate(value)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False, include_context=False)
        return [dict(error) for error in errors]
    return []


def problems(model: type[BaseModel] | None, value: Any) -> list[str]:
    """Why ``value`` does not validate as ``model``, one line per error."""
    return [_describe(error) for error in validation_errors(model, value)]


def require_valid(model: type[BaseModel] | None, collection: str, key: str, value: Any) -> None:
    """409 when the stored ``value`` does not match ``model``."""
    found = problems(model, value)
    if found:
        mismatch(model, collection, key, found)


def mismatch(
    model: type[BaseModel] | None, collection: str, key: str, found: list[str]
) -> NoReturn:
    name = model.__name__ if model is not None else "the model"
    raise HTTPException(
        409,
        f"the stored record {key!r} in {collection!r} does not match {name}: "
        f"{'; '.join(found)} (a PUT replaces it)",
    )


def _describe(error: Any) -> str:
    where = ".".join(str(part) for part in error["loc"])
    return f"{where}: {error['msg']}" if where else str(error["msg"])

"""``collection_router``: list, get, put, patch and delete for one collection, as an APIRouter.

No ``from __future__ import annotations`` here, on purpose: FastAPI reads endpoint annotations
at runtime from the module's globals, and these endpoints are annotated with the types chosen per
call (the model, its PATCH shape), which only exist in the factory's scope.
"""

from collections.abc import Awaitable, Sequence
from enum import Enum
from typing import Annotated, Any, NoReturn, TypeVar

from fastapi import APIRouter, Body, Depends, HTTPException, Path, Query, Request, Response, params
from pydantic import BaseModel

from asyncjsondb import Collection
from asyncjsondb.errors import InvalidOperationError, InvalidValueError
from asyncjsondb.names import validate_collection_name

from .dependencies import get_collection
from .errors import describe_error
from .filters import matches, parse_filters
from .schemas import Page, partial_model

PAGE_PARAMETERS = ("limit", "offset")

T = TypeVar("T")


def collection_router(
    name: str,
    model: type[BaseModel] | None = None,
    *,
    prefix: str | None = None,
    tags: list[str | Enum] | None = None,
    dependencies: Sequence[params.Depends] | None = None,
    max_limit: int = 100,
) -> APIRouter:
    """CRUD endpoints for the collection ``name`` under ``prefix`` (default ``/<name>``).

    ``GET /`` pages through the records (``limit`` up to ``max_limit``, ``offset``), any other
    query parameter filtering by equality (see ``filters``); ``GET|PUT|PATCH|DELETE /{key}`` act
    on one record, PATCH merging fields with the core's ``update``. With ``model``, bodies are
    validated by it, stored as its JSON (by alias) and responses typed with it in OpenAPI.
    The collection comes from ``get_collection(name)``, so dependency overrides apply.
    """
    validate_collection_name(name)
    if isinstance(max_limit, bool) or not isinstance(max_limit, int) or max_limit < 1:
        raise ValueError(f"max_limit must be a positive int, not {max_limit!r}")
    value_type: Any = model if model is not None else Any
    patch_type: Any = partial_model(model) if model is not None else dict[str, Any]
    CollectionDep = Annotated[Collection, Depends(get_collection(name))]
    Key = Annotated[str, Path(description=f"The key of the record in {name!r}.")]
    router = APIRouter(
        prefix=f"/{name}" if prefix is None else prefix,
        tags=[name] if tags is None else tags,
        dependencies=dependencies,
    )

    def not_found(key: str) -> NoReturn:
        raise HTTPException(404, f"no record {key!r} in {name!r}")

    @router.get("", response_model=Page[value_type], name=f"{name}:list")
    async def list_records(
        request: Request,
        collection: CollectionDep,
        limit: Annotated[int, Query(ge=0, le=max_limit)] = max_limit,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> Any:
        """Records in insertion order; other query parameters filter by field equality."""
        filters = parse_filters(request.query_params.multi_items(), PAGE_PARAMETERS)
        found = [(k, v) for k, v in await collection.items() if matches(v, filters)]
        chosen = found[offset : offset + limit]
        items = [{"key": key, "value": value} for key, value in chosen]
        return {"items": items, "total": len(found), "limit": limit, "offset": offset}

    @router.get("/{key}", response_model=value_type, name=f"{name}:get")
    async def get_record(key: Key, collection: CollectionDep) -> Any:
        missing = object()
        value = await collection.get(key, missing)
        if value is missing:
            not_found(key)
        return value

    @router.put("/{key}", response_model=value_type, name=f"{name}:put")
    async def put_record(
        key: Key, body: Annotated[value_type, Body()], collection: CollectionDep
    ) -> Any:
        """Store the body under ``key``, replacing any record there."""
        value = _dump(body)
        await _translate(collection.set(key, value))
        return value

    @router.patch("/{key}", response_model=value_type, name=f"{name}:patch")
    async def patch_record(
        key: Key, body: Annotated[patch_type, Body()], collection: CollectionDep
    ) -> Any:
        """Merge the body's fields into the record; 404 when there is none."""
        if not await _translate(collection.update(key, _dump(body, partial=True))):
            not_found(key)
        return await get_record(key, collection)

    @router.delete("/{key}", status_code=204, response_class=Response, name=f"{name}:delete")
    async def delete_record(key: Key, collection: CollectionDep) -> Response:
        if not await collection.delete(key):
            not_found(key)
        return Response(status_code=204)

    return router


def _dump(body: Any, *, partial: bool = False) -> Any:
    """The JSON to store for a request body: a model as its JSON by alias (so that it validates
    back), only the fields sent when ``partial``; anything else is already JSON."""
    if isinstance(body, BaseModel):
        return body.model_dump(mode="json", by_alias=True, exclude_unset=partial)
    return body


async def _translate(write: Awaitable[T]) -> T:
    """Await a write; the client's own mistakes (a value JSON cannot hold, a PATCH of a record
    that is not an object) become 422/409 here, without the opt-in exception handlers."""
    try:
        return await write
    except (InvalidValueError, InvalidOperationError) as exc:
        status, detail = describe_error(exc)
        raise HTTPException(status, detail) from exc

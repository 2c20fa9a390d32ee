"""``collection_router``: list, get, put, patch and delete for one collection, as an APIRouter.

No ``from __future__ import annotations`` here, on purpose: FastAPI reads endpoint annotations
at runtime from the module's globals, and these endpoints are annotated with the types chosen per
call (the model, its PATCH shape), which only exist in the factory's scope.
"""

from collections.abc import Awaitable, Sequence
from enum import Enum
from typing import Annotated, Any, NoReturn, TypeVar

from fastapi import APIRouter, Body, Depends, HTTPException, Path, Query, Request, Response, params
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel

from asyncjsondb import Collection
from asyncjsondb.errors import (
    DuplicateKeyError,
    InvalidKeyError,
    InvalidOperationError,
    InvalidQueryError,
    InvalidValueError,
)
from asyncjsondb.names import validate_collection_name

from .dependencies import get_collection
from .errors import describe_error
from .filters import build_where, parse_fields, parse_sort
from .schemas import ErrorMessage, Page, partial_model
from .stored import problems, require_valid, validation_errors

PAGE_PARAMETERS = ("limit", "offset", "skip", "where", "sort", "fields")

T = TypeVar("T")

WHERE_HELP = (
    'A filter as JSON, MongoDB\'s language: {"age": {"$gte": 18}, "address.city": "Oslo"}; '
    "operators $eq $ne $gt $gte $lt $lte $in $nin $exists $and $or $nor $not; at most 4 KB."
)
SORT_HELP = "Fields to sort by, comma-separated; a leading '-' sorts descending: -age,name"
FIELDS_HELP = "Dotted paths to keep in each record, comma-separated: name,address.city"


Responses = dict[int | str, dict[str, Any]]


def _answer(description: str) -> dict[str, Any]:
    return {"model": ErrorMessage, "description": description}


BAD_KEY: Responses = {400: _answer("The key holds a NUL character (or the body is not JSON).")}
NOT_FOUND: Responses = {404: _answer("There is no record under this key.")}
MISMATCH: Responses = {409: _answer("The stored record does not match the model; nothing written.")}
NOT_AN_OBJECT: Responses = {409: _answer("The stored record is not a JSON object: no fields.")}
BAD_QUERY: Responses = {400: _answer("The query (where, sort, fields) is not valid: it says why.")}
DUPLICATE: Responses = {409: _answer("A unique index already holds this value for another key.")}


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

    Answers, each in the OpenAPI schema: 404 for a missing key; 400 for a key that cannot be one
    (a NUL character); 422 in FastAPI's ``HTTPValidationError`` shape for a body or a query that
    is not valid (also a value JSON cannot hold, a number beyond 64 bits); 409 when the stored
    record does not fit the request (not an object, for a PATCH). A stored record that does not
    match ``model`` (written by another program or an older model) never gives a 500: GET and
    PATCH answer 409 naming it and its problems, without writing; a page lists it under
    ``invalid`` rather than ``items``; a PUT replaces it (see ``stored``).
    """
    validate_collection_name(name)
    if isinstance(max_limit, bool) or not isinstance(max_limit, int) or max_limit < 1:
        raise ValueError(f"max_limit must be a positive int, not {max_limit!r}")
    value_type: Any = model if model is not None else Any
    patch_type: Any = partial_model(model) if model is not None else dict[str, Any]
    CollectionDep = Annotated[Collection, Depends(get_collection(name))]
    Key = Annotated[
        str, Path(description=f"The key of the record in {name!r}: any text without NUL.")
    ]
    router = APIRouter(
        prefix=f"/{name}" if prefix is None else prefix,
        tags=[name] if tags is None else tags,
        dependencies=dependencies,
    )
    mismatch: Responses = MISMATCH if model is not None else {}

    def not_found(key: str) -> NoReturn:
        raise HTTPException(404, f"no record {key!r} in {name!r}")

    async def stored_record(key: str, collection: Collection) -> Any:
        missing = object()
        value = await _translate(collection.get(key, missing))
        if value is missing:
            not_found(key)
        require_valid(model, name, key, value)
        return value

    listed: Any = value_type if model is None else value_type | dict[str, Any]  # with ?fields=

    @router.get("", response_model=Page[listed], name=f"{name}:list", responses=BAD_QUERY)
    async def list_records(
        request: Request,
        collection: CollectionDep,
        limit: Annotated[int, Query(ge=0, le=max_limit)] = max_limit,
        offset: Annotated[int, Query(ge=0)] = 0,
        skip: Annotated[int, Query(ge=0, description="Added to offset.")] = 0,
        where: Annotated[str | None, Query(description=WHERE_HELP)] = None,
        sort: Annotated[str | None, Query(description=SORT_HELP)] = None,
        fields: Annotated[str | None, Query(description=FIELDS_HELP)] = None,
    ) -> Any:
        """Records matching ``where`` and every other query parameter (``field=value``, by
        equality), in insertion order or by ``sort``; only the page is read and decoded.

        A record that does not match the model is listed under ``invalid``, not ``items``;
        with ``fields`` the items are partial records, not checked against the model."""
        start = offset + skip
        try:
            pairs = request.query_params.multi_items()
            query = build_where(where, pairs, PAGE_PARAMETERS)
            paths = parse_fields(fields)
            found = await collection.find_items(
                where=query, sort=parse_sort(sort), skip=start, limit=limit, fields=paths
            )
            total = await collection.count(query or None)
        except InvalidQueryError as exc:
            raise HTTPException(400, str(exc)) from exc
        items, invalid = [], []
        for key, value in found:
            wrong = [] if paths else problems(model, value)
            if wrong:
                invalid.append({"key": key, "errors": wrong})
            else:
                items.append({"key": key, "value": value})
        page = {"items": items, "total": total, "limit": limit, "offset": start}
        return {**page, "invalid": invalid}

    @router.get(
        "/{key}",
        response_model=value_type,
        name=f"{name}:get",
        responses={**BAD_KEY, **NOT_FOUND, **mismatch},
    )
    async def get_record(key: Key, collection: CollectionDep) -> Any:
        return await stored_record(key, collection)

    @router.put(
        "/{key}",
        response_model=value_type,
        name=f"{name}:put",
        responses={**BAD_KEY, **DUPLICATE},
    )
    async def put_record(
        key: Key, body: Annotated[value_type, Body()], collection: CollectionDep
    ) -> Any:
        """Store the body under ``key``, replacing any record there."""
        value = _dump(body)
        await _translate(collection.set(key, value))
        return value

    @router.patch(
        "/{key}",
        response_model=value_type,
        name=f"{name}:patch",
        responses={**BAD_KEY, **NOT_FOUND, **_or_duplicate(mismatch or NOT_AN_OBJECT)},
    )
    async def patch_record(
        key: Key, body: Annotated[patch_type, Body()], collection: CollectionDep
    ) -> Any:
        """Merge the body's fields into the record; 404 when there is none.

        The merged record is validated by the model before anything is written."""
        changes = _dump(body, partial=True)
        stored = await stored_record(key, collection)
        merged = {**stored, **changes} if isinstance(stored, dict) else stored
        wrong = validation_errors(model, merged)
        if wrong:  # the fields sent break a rule of the whole model
            raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in wrong])
        if not await _translate(collection.update(key, changes)):
            not_found(key)
        return merged

    @router.delete(
        "/{key}",
        status_code=204,
        response_class=Response,
        name=f"{name}:delete",
        responses={**BAD_KEY, **NOT_FOUND},
    )
    async def delete_record(key: Key, collection: CollectionDep) -> Response:
        if not await _translate(collection.delete(key)):
            not_found(key)
        return Response(status_code=204)

    return router


def _or_duplicate(conflict: Responses) -> Responses:
    """A 409 answer that may also come from a unique index."""
    described = f"{conflict[409]['description']} Or: {DUPLICATE[409]['description']}"
    return {409: _answer(described)}


def _dump(body: Any, *, partial: bool = False) -> Any:
    """The JSON to store for a request body: a model as its JSON by alias (so that it validates
    back), only the fields sent when ``partial``; anything else is already JSON."""
    if isinstance(body, BaseModel):
        return body.model_dump(mode="json", by_alias=True, exclude_unset=partial)
    return body


async def _translate(call: Awaitable[T]) -> T:
    """Await the core; the client's own mistakes become 4xx here, without the opt-in exception
    handlers: a value JSON cannot hold a 422 in FastAPI's validation shape, a key that cannot be
    one a 400, an operation the stored record does not allow a 409."""
    try:
        return await call
    except InvalidValueError as exc:
        error = {"type": "value_error", "loc": ("body",), "msg": f"invalid value: {exc.reason}"}
        raise RequestValidationError([error]) from exc
    except (InvalidKeyError, InvalidOperationError, DuplicateKeyError) as exc:
        status, detail = describe_error(exc)
        raise HTTPException(status, detail) from exc

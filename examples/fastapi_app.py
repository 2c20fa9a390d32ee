"""A small FastAPI app on AsyncJSONDB: the reference's user management, a CRUD router, a counter.

Run it from the repository root (the database folder is ``$ASYNCJSONDB_PATH``, else ``./data``)::

    uvicorn examples.fastapi_app:app --workers 2

Then ``POST /users`` creates a user, ``GET /users?active=true`` lists the active ones,
``PUT /users/{id}/role`` changes a role, ``GET /stats`` counts, ``POST /counters/{name}/increment``
counts atomically across workers; ``/docs`` shows the typed OpenAPI schema.
"""

from __future__ import annotations

import os
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Query
from pydantic import BaseModel, ConfigDict, Field

from asyncjsondb import Collection, Document, create_unique_id
from asyncjsondb.errors import InvalidOperationError, InvalidValueError
from asyncjsondb_fastapi import (
    DatabaseDep,
    ErrorMessage,
    collection_router,
    get_collection,
    install_exception_handlers,
    jsondb_lifespan,
    require_valid,
)

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


class User(BaseModel):
    model_config = ConfigDict(strict=True)  # JSON's types as the schema says: 0 is not false

    name: str = Field(min_length=1)
    email: str = Field(pattern=r"^[^@ \t\r\n]+@[^@ \t\r\n]+$")  # the same in every regex dialect
    role: str = "user"
    active: bool = True


class CreatedUser(User):
    id: str


class RoleChange(BaseModel):
    model_config = ConfigDict(strict=True)

    role: str = Field(min_length=1)


class Counter(BaseModel):
    name: str
    value: int
    served_by: int = Field(description="The process id of the worker that answered.")


class StoredCounter(BaseModel):
    value: int


def answer(description: str) -> dict[str, object]:
    return {"model": ErrorMessage, "description": description}


BAD_KEY = {400: answer("The id or name holds a NUL character (or the body is not JSON).")}


UsersDep = Annotated[Collection, Depends(get_collection("users"))]
CountersDep = Annotated[Collection, Depends(get_collection("counters"))]

app = FastAPI(title="AsyncJSONDB example", lifespan=jsondb_lifespan())
install_exception_handlers(app)


@app.post(
    "/users",
    status_code=201,
    responses={
        201: {  # an OpenAPI link: clients and test tools learn where the new id goes next
            "links": {
                "ChangeRole": {
                    "operationId": "change_role",
                    "parameters": {"user_id": "$response.body#/id"},
                }
            }
        },
        400: answer("The body is not JSON."),
    },
)
async def create_user(user: User, users: UsersDep) -> CreatedUser:
    """Create a user under a new id; ``Document`` adds ``_id`` and ``_updated``."""
    user_id = await create_unique_id()
    await Document(users, user_id).save(user.model_dump())
    return CreatedUser(id=user_id, **user.model_dump())


@app.put(
    "/users/{user_id}/role",
    operation_id="change_role",
    responses={
        **BAD_KEY,
        404: answer("No user has this id."),
        409: answer("The stored user does not match User; nothing was written."),
    },
)
async def change_role(user_id: str, change: RoleChange, users: UsersDep) -> User:
    """The changed user is validated before it is written: never write, then fail."""
    document = Document(users, user_id)
    stored = await document.load()
    if stored is None:
        raise HTTPException(404, f"no user {user_id!r}")
    changed = {**stored, "role": change.role}
    require_valid(User, "users", user_id, changed)
    if not await document.update_fields({"role": change.role}):
        raise HTTPException(404, f"no user {user_id!r}")
    return User.model_validate(changed)


@app.get("/stats")
async def stats(db: DatabaseDep, users: UsersDep) -> dict[str, int | list[str]]:
    active = await users.find(lambda user: isinstance(user, dict) and user.get("active") is True)
    return {
        "collections": await db.list_collections(),
        "users": await users.count(),
        "active_users": len(active),
    }


NOT_A_COUNTER = "The stored counter is not {'value': <integer>}."


@app.post(
    "/counters/{name}/increment",
    responses={**BAD_KEY, 409: answer(f"The sum would leave 64 bits. {NOT_A_COUNTER}")},
)
async def increment(
    name: str,
    counters: CountersDep,
    amount: Annotated[int, Query(ge=INT64_MIN, le=INT64_MAX)] = 1,
) -> Counter:
    """Atomic across requests, workers and processes: no increment is ever lost."""
    try:
        value = await counters.increment(name, amount=amount)
    except (InvalidValueError, InvalidOperationError) as exc:
        raise HTTPException(409, f"cannot add {amount} to the counter {name!r}: {exc}") from exc
    return Counter(name=name, value=int(value), served_by=os.getpid())


@app.get("/counters/{name}", responses={**BAD_KEY, 409: answer(NOT_A_COUNTER)})
async def read_counter(name: str, counters: CountersDep) -> Counter:
    stored = await counters.get(name, {"value": 0})
    require_valid(StoredCounter, "counters", name, stored)
    return Counter(name=name, value=stored["value"], served_by=os.getpid())


# GET /users (?active=true, limit, offset), GET|PUT|PATCH|DELETE /users/{key}, validated by User.
app.include_router(collection_router("users", User))

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

from fastapi import Depends, FastAPI, HTTPException
from pydantic import BaseModel, Field

from asyncjsondb import Collection, Document, create_unique_id
from asyncjsondb_fastapi import (
    DatabaseDep,
    collection_router,
    get_collection,
    install_exception_handlers,
    jsondb_lifespan,
)


class User(BaseModel):
    name: str = Field(min_length=1)
    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+$")
    role: str = "user"
    active: bool = True


class CreatedUser(User):
    id: str


class RoleChange(BaseModel):
    role: str = Field(min_length=1)


class Counter(BaseModel):
    name: str
    value: int
    served_by: int = Field(description="The process id of the worker that answered.")


UsersDep = Annotated[Collection, Depends(get_collection("users"))]
CountersDep = Annotated[Collection, Depends(get_collection("counters"))]

app = FastAPI(title="AsyncJSONDB example", lifespan=jsondb_lifespan())
install_exception_handlers(app)


@app.post("/users", status_code=201)
async def create_user(user: User, users: UsersDep) -> CreatedUser:
    """Create a user under a new id; ``Document`` adds ``_id`` and ``_updated``."""
    user_id = await create_unique_id()
    await Document(users, user_id).save(user.model_dump())
    return CreatedUser(id=user_id, **user.model_dump())


@app.put("/users/{user_id}/role")
async def change_role(user_id: str, change: RoleChange, users: UsersDep) -> User:
    document = Document(users, user_id)
    if not await document.update_fields({"role": change.role}):
        raise HTTPException(404, f"no user {user_id!r}")
    return User.model_validate(await document.load())


@app.get("/stats")
async def stats(db: DatabaseDep, users: UsersDep) -> dict[str, int | list[str]]:
    active = await users.find(lambda user: user.get("active", False))
    return {
        "collections": await db.list_collections(),
        "users": await users.count(),
        "active_users": len(active),
    }


@app.post("/counters/{name}/increment")
async def increment(name: str, counters: CountersDep, amount: int = 1) -> Counter:
    """Atomic across requests, workers and processes: no increment is ever lost."""
    value = await counters.increment(name, amount=amount)
    return Counter(name=name, value=int(value), served_by=os.getpid())


@app.get("/counters/{name}")
async def read_counter(name: str, counters: CountersDep) -> Counter:
    stored = await counters.get(name, {"value": 0})
    return Counter(name=name, value=stored["value"], served_by=os.getpid())


# GET /users (?active=true, limit, offset), GET|PUT|PATCH|DELETE /users/{key}, validated by User.
app.include_router(collection_router("users", User))

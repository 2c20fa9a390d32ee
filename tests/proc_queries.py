"""Work for another process in the query tests: importable, so that 'spawn' can find it."""

from __future__ import annotations

import asyncio
from typing import Any

from asyncjsondb import AsyncJSONDB, DatabaseError


def set_and_report(path: str, key: str, value: Any) -> str:
    """Set one record in ``people``; return the error's class name, or "ok"."""

    async def run() -> str:
        async with AsyncJSONDB(path) as db:
            people = await db.get_collection("people")
            try:
                await people.set(key, value)
            except DatabaseError as exc:
                return type(exc).__name__
            return "ok"

    return asyncio.run(run())


def indexes_and_answer(path: str, where: dict[str, Any]) -> tuple[list[Any], Any, list[Any]]:
    """What another process sees: the indexes, the plan and the keys a query finds."""

    async def run() -> tuple[list[Any], Any, list[Any]]:
        async with AsyncJSONDB(path) as db:
            people = await db.get_collection("people")
            plan = await people.explain(where)
            found = [key for key, _ in await people.find_items(where=where)]
            return await people.list_indexes(), plan["index"], found

    return asyncio.run(run())

"""The reference's quick start and user-management example, printing what they do.

Run: python examples/quickstart.py  (writes ./my_data and ./user_data in the current folder)
"""

from __future__ import annotations

import asyncio

from asyncjsondb import Document, create_database, create_unique_id


async def quick_start() -> None:
    db = create_database("./my_data")
    users = await db.get_collection("users")
    await users.set("user1", {"name": "John", "email": "john@example.com"})
    user = await users.get("user1")
    print("quick start, users['user1'] =", user)
    await db.close()


async def user_management() -> None:
    async with create_database("./user_data") as db:
        users = await db.get_collection("users")
        user_id = await create_unique_id()
        user_doc = Document(users, user_id)
        await user_doc.save(
            {"name": "Alice Johnson", "email": "alice@example.com", "role": "admin", "active": True}
        )
        print("saved user", user_id)
        active = await users.find(lambda user: user.get("active", False), limit=50)
        print("active users:", [u["name"] for u in active])
        await user_doc.update_fields({"role": "moderator"})
        print("role is now", (await user_doc.load() or {})["role"])
        print("total users:", await users.count())
        stats = await db.get_collection("stats")
        runs = await stats.increment("runs")
        print("this example has run", runs, "time(s) in this folder")


if __name__ == "__main__":
    asyncio.run(quick_start())
    asyncio.run(user_management())

"""Async views, as in the reference's Django example (get a user), plus create, list and count.

``get_db()`` is the process-wide database: never closed by a view, valid on whatever event loop
Django runs the view (ASGI, or a new loop per request under runserver and WSGI servers).
"""

from __future__ import annotations

import json

from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, JsonResponse

from asyncjsondb import InvalidValueError, create_timestamp, create_unique_id
from asyncjsondb_django import get_db


async def users(request: HttpRequest) -> HttpResponse:
    """GET: every user; POST ``{"name": ..., "email": ...}``: create one (201)."""
    if request.method == "GET":
        collection = await get_db().get_collection("users")
        return JsonResponse({"users": await collection.values()})
    if request.method == "POST":
        return await _create_user(request)
    return HttpResponseNotAllowed(["GET", "POST"])


async def _create_user(request: HttpRequest) -> HttpResponse:
    try:
        fields = json.loads(request.body)
    except ValueError:
        return JsonResponse({"error": "the body is not JSON"}, status=400)
    if not isinstance(fields, dict) or not isinstance(fields.get("name"), str):
        return JsonResponse({"error": 'send an object with a "name" string'}, status=400)
    user_id = await create_unique_id()
    user = {**fields, "id": user_id, "created": await create_timestamp()}
    collection = await get_db().get_collection("users")
    try:
        await collection.set(user_id, user)
    except InvalidValueError as exc:  # e.g. 1e400, which JSON cannot hold
        return JsonResponse({"error": str(exc)}, status=400)
    return JsonResponse(user, status=201)


async def user_detail(request: HttpRequest, user_id: str) -> HttpResponse:
    """GET: one user, or 404 (the reference's ``async_user_view``)."""
    if request.method != "GET":
        return HttpResponseNotAllowed(["GET"])
    collection = await get_db().get_collection("users")
    user = await collection.get(user_id)
    if user is None:
        return JsonResponse({"error": "User not found"}, status=404)
    return JsonResponse(user)


async def user_visits(request: HttpRequest, user_id: str) -> HttpResponse:
    """POST: count one visit of the user; the increment is atomic across threads and processes."""
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    db = get_db()
    if not await (await db.get_collection("users")).exists(user_id):
        return JsonResponse({"error": "User not found"}, status=404)
    visits = await (await db.get_collection("visits")).increment(user_id)
    return JsonResponse({"id": user_id, "visits": visits})

"""The example project's routes, plus a probe that tells which event loop served a request."""

from __future__ import annotations

import asyncio

from django.http import HttpRequest, JsonResponse
from django.urls import path
from mysite.urls import urlpatterns as example_urlpatterns

from asyncjsondb_django import get_db

# Strong references, so that no loop's id() is reused by a later loop.
loops_seen: list[asyncio.AbstractEventLoop] = []


async def probe(request: HttpRequest) -> JsonResponse:
    loop = asyncio.get_running_loop()
    if loop not in loops_seen:
        loops_seen.append(loop)
    hits = await (await get_db().get_collection("probe")).increment("hits")
    return JsonResponse({"loop": loops_seen.index(loop), "hits": hits})


urlpatterns = [*example_urlpatterns, path("probe/", probe)]

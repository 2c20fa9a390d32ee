"""Every Python example of the reference documentation runs against asyncjsondb.

The examples come from ``reference_examples.md`` beside this file: the reference's Python blocks
in order, with ``from db import`` changed to ``from asyncjsondb import`` and nothing else. The copy
is the project's own, so a clone anywhere runs them (nothing outside the repository is read).
"""

from __future__ import annotations

import ast
import asyncio
import re
import warnings
from pathlib import Path
from typing import Any

import pytest

EXAMPLES = Path(__file__).with_name("reference_examples.md")
BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)


def _blocks() -> list[str]:
    return BLOCK.findall(EXAMPLES.read_text(encoding="utf-8"))


def _compiles(source: str) -> bool:
    try:
        compile(source, "<example>", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    except SyntaxError:
        return False
    return True


def _kind(source: str) -> str:
    if not _compiles(source):
        return "signature"
    if "FastAPI(" in source:
        return "fastapi"
    if "django" in source:
        return "django"
    if "asyncio.run(" in source:
        return "program"
    if re.search(r"^async def \w+\(\):", source, re.MULTILINE):
        return "coroutine"
    return "snippet"


def test_the_reference_has_the_examples_we_expect() -> None:
    kinds = [_kind(block) for block in _blocks()]
    # Only the two constructor signatures are not code; everything else runs below.
    assert kinds.count("signature") == 2
    assert kinds.count("program") == 2
    assert kinds.count("coroutine") == 2
    assert kinds.count("fastapi") == 1 and kinds.count("django") == 1
    assert kinds.count("snippet") >= 20


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _run_program(source: str) -> dict[str, Any]:
    namespace: dict[str, Any] = {"__name__": "__example__"}
    exec(compile(source, "<example>", "exec"), namespace)
    return namespace


@pytest.mark.parametrize("index", [i for i, b in enumerate(_blocks()) if _kind(b) == "program"])
def test_program_examples_run(
    index: int, workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _run_program(_blocks()[index])
    out = capsys.readouterr().out
    assert out  # both programs print what they did
    assert "{'name': 'John', 'email': 'john@example.com'}" in out or "Total users: 1" in out


def test_coroutine_examples_run(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from asyncjsondb import AsyncJSONDB

    sources = [b for b in _blocks() if _kind(b) == "coroutine"]
    for source in sources:
        namespace: dict[str, Any] = {}
        exec(
            compile("from asyncjsondb import create_database\n" + source, "<ex>", "exec"), namespace
        )
        coroutine = next(v for k, v in namespace.items() if k.endswith("_example"))
        asyncio.run(coroutine())
    assert "Debug mode: False" in capsys.readouterr().out

    async def check() -> None:
        async with AsyncJSONDB("./shop_data") as shop:
            carts = await shop.get_collection("shopping_carts")
            cart = await carts.get("user123")
            assert cart["total"] == 29.99 and len(cart["items"]) == 1
            assert await carts.get("visit_counter") == {"visits": 1}
        async with AsyncJSONDB("./config") as config:
            settings = await config.get_collection("app_settings")
            stored = await settings.get("app_config")
            assert stored["features"] == {"caching": True, "logging": True, "metrics": True}

    asyncio.run(check())


async def test_snippets_run_in_order(workdir: Path) -> None:
    import asyncjsondb
    from asyncjsondb import Document, create_database

    snippets = [b for b in _blocks() if _kind(b) == "snippet"]
    for source in snippets:
        db = create_database("./data")
        collection = await db.get_collection("users")
        namespace: dict[str, Any] = {  # snippets show no imports: give them the package's names
            **{name: getattr(asyncjsondb, name) for name in asyncjsondb.__all__},
            "db": db,
            "collection": collection,
            "doc": Document(collection, "user123"),
        }
        code = compile(source, "<snippet>", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
        result = eval(code, namespace)
        if result is not None:
            await result
        await db.close()
    assert (workdir / "backup/2023-12-01/users.json").exists()
    assert list((workdir / "backups").iterdir())


def test_fastapi_example_runs(workdir: Path) -> None:
    from fastapi.testclient import TestClient

    source = next(b for b in _blocks() if _kind(b) == "fastapi")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the reference uses @app.on_event
        namespace = _run_program(source)
        with TestClient(namespace["app"]) as client:
            assert client.get("/users/nobody").json() == {"error": "User not found"}


def test_django_example_runs(workdir: Path) -> None:
    from django.conf import settings
    from django.test import RequestFactory

    if not settings.configured:
        settings.configure(DEBUG=True, ALLOWED_HOSTS=["*"])
    source = next(b for b in _blocks() if _kind(b) == "django")
    namespace = _run_program(source)

    async def seed() -> None:
        from asyncjsondb import create_database

        async with create_database("./django_data") as db:
            await (await db.get_collection("users")).set("ada", {"name": "Ada"})

    asyncio.run(seed())
    view = namespace["async_user_view"]
    response = asyncio.run(view(RequestFactory().get("/users/ada"), "ada"))
    assert response.status_code == 200 and response.content == b'{"name": "Ada"}'
    missing = asyncio.run(view(RequestFactory().get("/users/x"), "x"))
    assert missing.content == b'{"error": "User not found"}'

"""The README and docs/*.md are true: every Python snippet runs as it is written, the command-line
blocks do what their comments say, and every link leads somewhere."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from asyncjsondb import create_database
from tests.conftest import POSTGRES_URL, require_postgres

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]
FENCED = re.compile(r"^```.*?^```", re.DOTALL | re.MULTILINE)

# Pages the README links to that other work adds; remove a name once its page has landed.
COMING = {}


def _snippets() -> list[tuple[str, str]]:
    """(an id naming the page, the code) for every ```python block of every page."""
    found = []
    for page in PAGES:
        blocks = re.findall(r"```python\n(.*?)```", page.read_text(encoding="utf-8"), re.DOTALL)
        found += [(f"{page.relative_to(ROOT)}#{i}", block) for i, block in enumerate(blocks)]
    return found


SNIPPETS = _snippets()


def test_the_pages_have_snippets() -> None:
    assert sum(name.startswith("README.md") for name, _ in SNIPPETS) >= 2
    assert any(name.startswith("docs/") for name, _ in SNIPPETS)


@pytest.mark.parametrize(("name", "code"), SNIPPETS, ids=[name for name, _ in SNIPPETS])
async def test_snippet_runs(name: str, code: str, tmp_path: Path) -> None:
    script = tmp_path / "snippet.py"
    script.write_text(code, encoding="utf-8")
    environment = dict(os.environ)
    if "postgresql://" not in code:
        _run_snippet(script, environment)
        return
    require_postgres()
    async with _throwaway_database() as url:
        _run_snippet(script, {**environment, "ASYNCJSONDB_TEST_POSTGRES_URL": url})


def _run_snippet(script: Path, environment: dict[str, str]) -> None:
    done = subprocess.run(
        [sys.executable, "-W", "error", str(script)],
        cwd=script.parent, env=environment, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


async def _admin(statement: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(POSTGRES_URL)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@contextlib.asynccontextmanager
async def _throwaway_database() -> AsyncIterator[str]:
    """The URL of a database of its own on the test server: whatever a snippet creates there
    (its ``readme_<hex>`` schemas, tables, functions) goes with it, and nothing else is touched."""
    name = f"readme_{uuid.uuid4().hex[:12]}"
    await _admin(f'CREATE DATABASE "{name}"')
    try:
        yield urlunsplit(urlsplit(POSTGRES_URL)._replace(path=f"/{name}"))
    finally:
        await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# -- the README's command blocks ------------------------------------------------------------------

VENV = "python3 -m venv .venv && . .venv/bin/activate && "


def _bash_blocks(text: str) -> list[str]:
    return [block.strip() for block in re.findall(r"```bash\n(.*?)```", text, re.DOTALL)]


def _section(title: str) -> str:
    return README.read_text(encoding="utf-8").split(f"\n## {title}\n", 1)[1].split("\n## ")[0]


def _two_commands() -> list[str]:
    return _bash_blocks(_section("Two commands"))


def test_the_two_commands_install_into_a_virtual_environment() -> None:
    """A distribution's Python refuses ``pip install`` outside a venv (PEP 668): both commands
    make and activate one first, then use its ``pip`` and ``python``, never the system's."""
    commands = _two_commands()
    assert len(commands) == 2
    for command in commands:
        assert command.startswith(VENV), command
        steps = command.removeprefix(VENV).split(" && ")
        assert all(step.split()[0] in ("pip", "python") for step in steps), steps
        assert steps[0].startswith("pip install -e ")
    assert commands[1].endswith('pip install -e ".[test,bench]" && python -m pytest')


def test_the_first_command_runs_its_demo(tmp_path: Path) -> None:
    *_, demo = _two_commands()[0].split(" && ")
    program, script = demo.split()
    assert program == "python"
    done = subprocess.run(
        [sys.executable, "-W", "error", str(README.parent / script)],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "role is now moderator" in done.stdout


def test_the_quickstart_example_runs(tmp_path: Path) -> None:
    example = README.parent / "examples" / "quickstart.py"
    first = subprocess.run(
        [sys.executable, "-W", "error", str(example)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert first.returncode == 0, first.stderr
    assert (
        "quick start, users['user1'] = {'name': 'John', 'email': 'john@example.com'}"
        in first.stdout
    )
    assert "role is now moderator" in first.stdout and "run 1 time(s)" in first.stdout
    second = subprocess.run(
        [sys.executable, str(example)], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert "run 2 time(s)" in second.stdout and "total users: 2" in second.stdout


def _bash(block: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    return subprocess.run(
        ["bash", "-e", "-c", block],
        cwd=cwd, env=environment, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_the_command_line_tour_runs(tmp_path: Path) -> None:
    blocks = _bash_blocks(README.read_text(encoding="utf-8"))
    tour = next(block for block in blocks if block.startswith("asyncjsondb set ./data"))
    done = _bash(tour, tmp_path)
    assert done.returncode == 0, done.stderr
    assert '{"name":"Alice","age":30}' in done.stdout
    assert "\n1\n" in done.stdout  # the first increment of alice's stats.logins
    assert (tmp_path / "backups/manual/users.json").exists()


async def test_the_folder_is_as_described_and_read_while_the_app_runs(tmp_path: Path) -> None:
    """On a running site the newest writes sit in the journal, not in users.json; the commands
    the README gives read the current state, and compact puts it all in users.json."""
    (block,) = _bash_blocks(_section("What is in the folder"))
    async with create_database(tmp_path / "data") as db:  # the running app
        users = await db.get_collection("users")
        await users.set("ann", {"name": "Ann"})
        await db.compact()
        await users.set("bob", {"name": "Bob"})
        folder = sorted(path.name for path in (tmp_path / "data").iterdir())
        assert folder == sorted(_pictured_folder())
        assert json.loads((tmp_path / "data/users.json").read_bytes()) == {"ann": {"name": "Ann"}}
        assert b'"bob"{"name":"Bob"}' in (tmp_path / "data/users.journal").read_bytes()

        done = await asyncio.to_thread(_bash, block, tmp_path)
        assert done.returncode == 0, done.stderr
        current = {"ann": {"name": "Ann"}, "bob": {"name": "Bob"}}
        assert json.loads(done.stdout.split("\n}\n")[0] + "}") == current
        lines = (tmp_path / "users.jsonl").read_text().splitlines()
        assert [json.loads(line) for line in lines] == [
            {"key": key, "value": value} for key, value in current.items()
        ]
        assert json.loads((tmp_path / "data/users.json").read_bytes()) == current
        assert await users.get("bob") == {"name": "Bob"}


def _pictured_folder() -> list[str]:
    """The file names of the folder drawn at the top of the README."""
    picture = re.findall(r"```text\n(.*?)```", README.read_text(encoding="utf-8"), re.DOTALL)[0]
    return re.findall(r"^[├└]── (\S+)", picture, re.MULTILINE)


# -- links ----------------------------------------------------------------------------------------

LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def _anchors(page: Path) -> set[str]:
    """The anchors GitHub gives the headings of ``page`` (a repeated one gets -1, -2, ...)."""
    anchors: set[str] = set()
    for heading in re.findall(r"^#+ (.+)$", FENCED.sub("", page.read_text(encoding="utf-8")), re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        repeated = slug
        for count in range(1, 100):
            if repeated not in anchors:
                break
            repeated = f"{slug}-{count}"
        anchors.add(repeated)
    return anchors


@pytest.mark.parametrize("page", PAGES, ids=[str(page.relative_to(ROOT)) for page in PAGES])
def test_every_link_leads_somewhere(page: Path) -> None:
    text = FENCED.sub("", page.read_text(encoding="utf-8"))
    broken = []
    for target in LINK.findall(text):
        if re.match(r"[a-z]+:", target):
            continue  # https:, mailto:
        file, _, anchor = target.partition("#")
        linked = (page.parent / file).resolve() if file else page
        if str(linked.relative_to(ROOT)) in COMING:
            continue
        if not linked.exists() or (anchor and anchor not in _anchors(linked)):
            broken.append(target)
    assert broken == []

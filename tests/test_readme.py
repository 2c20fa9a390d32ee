"""Every Python snippet of README.md runs as it is written."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import POSTGRES_URL, drop_schema, require_postgres

README = Path(__file__).resolve().parents[1] / "README.md"
SNIPPETS = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.DOTALL)


def test_the_readme_has_snippets() -> None:
    assert len(SNIPPETS) >= 2


@pytest.mark.parametrize("index", range(len(SNIPPETS)))
async def test_snippet_runs(index: int, tmp_path: Path) -> None:
    if "postgresql://" in SNIPPETS[index]:
        require_postgres()
    script = tmp_path / f"snippet_{index}.py"
    script.write_text(SNIPPETS[index], encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-W", "error", str(script)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    if "postgresql://" in SNIPPETS[index]:
        await _drop_readme_schemas()


async def _drop_readme_schemas() -> None:
    import asyncpg

    connection = await asyncpg.connect(POSTGRES_URL)
    try:
        query = "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'readme\\_%'"
        names = [row[0] for row in await connection.fetch(query)]
    finally:
        await connection.close()
    for name in names:
        await drop_schema(name)


VENV = "python3 -m venv .venv && . .venv/bin/activate && "


def _two_commands() -> list[str]:
    section = README.read_text(encoding="utf-8").split("## Two commands", 1)[1].split("\n## ")[0]
    return [block.strip() for block in re.findall(r"```bash\n(.*?)```", section, re.DOTALL)]


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
    assert commands[1].endswith('pip install -e ".[test]" && python -m pytest')


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


def test_the_command_line_tour_runs(tmp_path: Path) -> None:
    blocks = re.findall(r"```bash\n(.*?)```", README.read_text(encoding="utf-8"), re.DOTALL)
    tour = next(block for block in blocks if block.startswith("asyncjsondb set ./data"))
    environment = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    done = subprocess.run(
        ["bash", "-e", "-c", tour],
        cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert '{"name":"Alice","age":30}' in done.stdout
    assert (tmp_path / "backups/manual/users.json").exists()

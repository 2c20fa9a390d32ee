"""What ``pip install`` gives a user: the build's requirements, the extras, the license, and the
command line on a bare install (the package and its declared dependencies, nothing else)."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import subprocess
import venv
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

tomllib = pytest.importorskip("tomllib")  # Python 3.11+; the checks read pyproject.toml

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT: dict[str, Any] = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
PROJECT: dict[str, Any] = PYPROJECT["project"]
EXTRAS: dict[str, list[str]] = PROJECT["optional-dependencies"]
BENCH_PEERS = {"tinydb", "aiosqlite", "diskcache", "psutil"}


def names(requirements: list[str]) -> set[str]:
    return {Requirement(text).name for text in requirements}


def test_the_build_needs_a_setuptools_that_reads_an_spdx_license() -> None:
    (setuptools,) = [
        Requirement(text)
        for text in PYPROJECT["build-system"]["requires"]
        if Requirement(text).name == "setuptools"
    ]
    assert isinstance(PROJECT["license"], str)  # PEP 639: needs setuptools 77 or later
    assert not setuptools.specifier.contains(Version("76.1"))
    assert setuptools.specifier.contains(Version("77.0.3"))


def test_the_license_file_is_mit_and_shipped() -> None:
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License\n")
    assert "Copyright (c) 2026 AsyncJSONDB contributors" in text
    assert PROJECT["license"] == "MIT" and PROJECT["license-files"] == ["LICENSE"]


def test_extras_bring_only_what_their_users_need() -> None:
    assert names(PROJECT["dependencies"]) == {"filelock", "click", "sortedcontainers"}
    assert names(EXTRAS["fastapi"]) == {"fastapi"}  # uvicorn is the user's choice of server
    assert names(EXTRAS["django"]) == {"django"}  # Django brings asgiref; rich is optional
    assert names(EXTRAS["cli"]) == {"rich"}
    test = names(EXTRAS["test"])
    assert not test & (BENCH_PEERS | {"httpx"})  # one HTTP client: the one TestClient wants
    assert names(EXTRAS["bench"]) >= BENCH_PEERS
    assert {"uvicorn", "schemathesis", "httpx2"} <= test


def test_the_command_line_runs_on_a_bare_install(tmp_path: Path) -> None:
    """A fresh venv that sees only this repository's packages and the declared dependencies.

    Rather than ``pip install`` (an index, a build: seconds and a network), the venv's
    ``site-packages`` gets a ``.pth`` naming a folder that links exactly the dependencies'
    top-level modules, and the repository root. rich, fastapi, django and the test tools are
    out of reach, as after ``pip install asyncjsondb``.
    """
    fresh = tmp_path / "venv"
    venv.create(fresh, with_pip=False)
    python = fresh / "bin" / "python"
    site = Path(
        subprocess.run(
            [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()
    )  # fmt: skip
    linked = tmp_path / "dependencies"
    linked.mkdir()
    for requirement in names(PROJECT["dependencies"]):
        for module in _top_level_modules(requirement):
            origin = Path(importlib.util.find_spec(module).origin)  # type: ignore[arg-type, union-attr]
            source = origin.parent if origin.name == "__init__.py" else origin
            (linked / source.name).symlink_to(source)
    (site / "asyncjsondb.pth").write_text(f"{linked}\n{ROOT}\n", encoding="utf-8")
    module, function = PROJECT["scripts"]["asyncjsondb"].split(":")
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL"))}
    done = subprocess.run(
        [python, "-c", f"import sys; from {module} import {function}; sys.exit({function}())",
         "--help"],
        capture_output=True, text=True, cwd=tmp_path, env=environment, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Usage: asyncjsondb [OPTIONS] COMMAND" in done.stdout
    unreachable = subprocess.run(
        [python, "-c", "import rich"], capture_output=True, cwd=tmp_path, env=environment
    )
    assert unreachable.returncode == 1  # the probe is faithful: the optional libraries are absent


def _top_level_modules(distribution: str) -> list[str]:
    found = [
        module
        for module, owners in importlib.metadata.packages_distributions().items()
        if distribution in (owner.lower() for owner in owners)
    ]
    assert found, f"{distribution} is not installed"
    return found

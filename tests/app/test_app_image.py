"""The image's contract, checked without a Docker engine: a complete dependency list and the Dockerfile's promises."""

import os
import re
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import httpx
import pytest

APP = Path(__file__).resolve().parents[2] / "app"
PIN = re.compile(r"^([A-Za-z0-9._-]+)==([A-Za-z0-9.+!-]+)$")


def requirements() -> list[str]:
    return [line for line in (APP / "requirements.txt").read_text().splitlines() if line and not line.startswith("#")]


def dockerfile_instructions(name: str) -> list[str]:
    lines = (APP / "Dockerfile").read_text().splitlines()
    return [line.split(None, 1)[1] for line in lines if line.startswith(name + " ")]


def test_every_requirement_is_pinned_to_the_version_of_the_development_environment():
    pins = [PIN.match(line) for line in requirements()]

    assert all(pins), [line for line, pin in zip(requirements(), pins) if not pin]
    assert {name: pinned for name, pinned in (p.groups() for p in pins)} == {
        name: version(name) for name, _ in (p.groups() for p in pins)
    }


@pytest.fixture(scope="module")
def fresh_venv(tmp_path_factory) -> str:
    """A new virtual environment with exactly app/requirements.txt, nothing pulled in on the side."""
    venv = tmp_path_factory.mktemp("image") / "venv"
    # The test environment's pip installs into it (`--python`), which saves bootstrapping another pip.
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    pip = [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "--disable-pip-version-check", "-q"]
    env = os.environ | {"PIP_NO_INPUT": "1"}
    # --no-deps, then `pip check`: fails if requirements.txt misses any dependency.
    for command in (["install", "--no-deps", "-r", str(APP / "requirements.txt")], ["check"]):
        result = subprocess.run(pip + command, env=env, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, f"pip {command[0]} failed (is PyPI reachable?):\n{result.stdout}{result.stderr}"
    return str(venv / "bin" / "python")


def test_requirements_alone_are_enough_to_migrate(fresh_venv, new_db, run_app):
    db = new_db()

    result = run_app("migrate", db.env(), python=fresh_venv)

    assert result.returncode == 0, result.stdout + result.stderr
    assert db.revision() == ["0001"]


def test_requirements_alone_are_enough_to_serve_notes(fresh_venv, migrated_db, start_server):
    server = start_server(migrated_db.env(), python=fresh_venv)

    created = httpx.post(f"{server.url}/notes", json={"title": "from the image's dependencies"})

    assert created.status_code == 201
    assert httpx.get(f"{server.url}/ready").status_code == 200


def test_the_image_runs_as_a_numeric_non_root_user():
    [user] = dockerfile_instructions("USER")

    assert re.fullmatch(r"[1-9]\d*(:\d+)?", user)


def test_the_image_enters_python_directly_in_exec_form_and_serves_by_default():
    assert dockerfile_instructions("ENTRYPOINT") == ['["python", "-m", "app"]']
    assert dockerfile_instructions("CMD") == ['["serve"]']
    assert dockerfile_instructions("EXPOSE") == ["8000"]


def test_the_image_is_multi_stage_on_slim_python_3_11():
    stages = dockerfile_instructions("FROM")

    assert len(stages) >= 2
    assert all(stage.startswith("python:3.11-slim") for stage in stages)


def test_the_image_writes_no_bytecode_and_keeps_home_in_tmp_for_a_read_only_root():
    dockerfile = (APP / "Dockerfile").read_text()

    assert "PYTHONDONTWRITEBYTECODE=1" in dockerfile
    assert "HOME=/tmp" in dockerfile

"""The app's image as buildah builds it and the local registry serves it: what runs inside, what the
registry answers, and the errors a person gets for bad input."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from image.build import ImageError, ImageSettings, build, hashed_requirements, push, require
from image.registry import Registry, RegistryError, RegistrySettings

ROOT = Path(__file__).resolve().parents[2]
# What the task definition asks of a container (readonlyRootFilesystem, a /tmp volume), with the
# explicit ulimits runc needs here.
RUN_FLAGS = ["--network", "host", "--ulimit", "nofile=20000:20000", "--ulimit", "nproc=4096:4096",
             "--read-only", "--tmpfs", "/tmp"]
PROBE_WRITES = """
import os
for folder in ("/", "/srv/app", "/opt/venv", "/tmp"):
    try:
        with open(os.path.join(folder, "probe"), "w") as f:
            f.write("x")
        print(folder, "writable")
    except OSError:
        print(folder, "read-only")
print("uid", os.getuid(), "gid", os.getgid())
"""


@pytest.fixture(scope="module")
def pulled(app_image, podman) -> str:
    """The pushed image pulled back by digest, as ECS pulls it."""
    result = subprocess.run(podman + ["pull", "--quiet", "--tls-verify=false", app_image.pinned],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return app_image.pinned


def run_in_image(podman: list[str], image: str, *argv: str, entrypoint: str = "python") -> subprocess.CompletedProcess:
    return subprocess.run(podman + ["run", "--rm", *RUN_FLAGS, "--entrypoint", entrypoint, image, *argv],
                          capture_output=True, text=True, timeout=120)


def test_the_image_runs_as_uid_10001_and_can_write_only_to_tmp(podman, pulled):
    result = run_in_image(podman, pulled, "-c", PROBE_WRITES)

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "/ read-only", "/srv/app read-only", "/opt/venv read-only", "/tmp writable", "uid 10001 gid 10001"]


def test_pip_check_is_clean_inside_the_image(podman, pulled):
    result = run_in_image(podman, pulled, "check", entrypoint="pip")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "No broken requirements found" in result.stdout


def test_the_app_is_compiled_to_bytecode_in_the_image(podman, pulled):
    script = "import importlib.util, os, app.api as m; print(os.path.exists(importlib.util.cache_from_source(m.__file__)))"

    result = run_in_image(podman, pulled, "-c", script)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True"


def test_the_default_command_serves_the_app_and_fails_fast_naming_missing_settings(podman, pulled):
    result = subprocess.run(podman + ["run", "--rm", *RUN_FLAGS, pulled], capture_output=True, text=True, timeout=120)

    assert result.returncode != 0
    assert "invalid configuration" in result.stderr + result.stdout


def test_the_pushed_image_enters_python_in_exec_form_as_uid_10001(app_image):
    result = subprocess.run(["skopeo", "inspect", "--config", "--tls-verify=false", f"docker://{app_image.pinned}"],
                            capture_output=True, text=True, timeout=60)

    assert result.returncode == 0, result.stderr
    config = json.loads(result.stdout)["config"]
    assert (config["User"], config["Entrypoint"], config["Cmd"]) == ("10001:10001", ["python", "-m", "app"], ["serve"])
    assert "PYTHONDONTWRITEBYTECODE=1" in config["Env"] and "HOME=/tmp" in config["Env"]


def test_the_build_reports_the_image_size(built_image):
    assert re.fullmatch(r"\d+(\.\d+)? [kMG]B", built_image.size), built_image.size


def test_the_recorded_digest_is_the_one_the_registry_serves(app_image, registry):
    result = subprocess.run(["skopeo", "inspect", "--tls-verify=false", f"docker://{app_image.reference}"],
                            capture_output=True, text=True, timeout=60)
    recorded = json.loads((registry.settings.workdir / "image.json").read_text())

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["Digest"] == app_image.digest == recorded["digest"]
    assert registry.digest(app_image.repository, app_image.tag) == app_image.digest


def test_rebuilding_an_unchanged_app_reuses_its_layers_and_gives_the_same_digest(image_settings, built_image, registry):
    again = push(build(image_settings), registry, image_settings)

    assert again.digest == registry.digest(built_image.repository, built_image.tag)
    assert again.tag == built_image.tag


def test_a_changed_app_gets_a_new_digest(tmp_path, app_image, registry, image_settings):
    changed = tmp_path / "app"
    shutil.copytree(image_settings.context, changed, ignore=shutil.ignore_patterns("__pycache__"))
    with (changed / "__init__.py").open("a") as f:
        f.write("\n# a change that must reach the image\n")

    # (Its tag is the tree's, image/tag.py: this copy is outside the tree, so it is named here.)
    pushed = push(build(ImageSettings(context=changed, tag=f"{app_image.tag}-changed")), registry, image_settings)

    assert pushed.digest != app_image.digest
    assert registry.digest(pushed.repository, pushed.tag) == pushed.digest


def test_an_unknown_tag_fails_naming_it_and_how_to_push(registry):
    with pytest.raises(RegistryError, match=r"has no image notes-app:no-such-tag: build and push it"):
        registry.digest("notes-app", "no-such-tag")


def test_pushing_to_a_registry_that_is_not_running_fails_saying_how_to_start_it(tmp_path, built_image, image_settings):
    stopped = Registry(RegistrySettings(workdir=tmp_path))

    with pytest.raises(RegistryError, match=r"is not running: start it with `python -m image.registry start`"):
        push(built_image, stopped, image_settings)


def test_starting_and_stopping_the_registry_is_safe_to_repeat_and_leaves_no_process(tmp_path):
    registry = Registry(RegistrySettings(workdir=tmp_path))

    first, second = registry.start(), registry.start()
    pid = int(registry.pidfile.read_text())
    registry.stop()
    registry.stop()

    assert first == second
    assert first.startswith("127.0.0.1:")
    assert not Path(f"/proc/{pid}").exists()
    assert not registry.running() and not registry.pidfile.exists()


def test_the_registry_refuses_a_port_in_use_and_leaves_nothing_running(tmp_path, registry):
    port = int(registry.address.rsplit(":", 1)[1])
    second = Registry(RegistrySettings(workdir=tmp_path, port=port, start_timeout=5))

    with pytest.raises(RegistryError, match=rf"port {port} on 127.0.0.1 is already in use: choose another port"):
        second.start()
    assert not second.running() and not second.pidfile.exists()


def test_the_command_line_builds_pushes_and_prints_the_digest(tmp_path):
    workdir = tmp_path / "work"
    command = [sys.executable, "-m", "image", "push", "--allow-dirty", "--workdir", str(workdir)]
    try:
        result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900)
        recorded = json.loads((workdir / "image.json").read_text()) if result.returncode == 0 else {}
    finally:
        Registry(RegistrySettings(workdir=workdir)).stop()

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == recorded["digest"]
    assert "==> pushing localhost/notes-app:" in result.stderr
    assert "==> push: done in" in result.stderr


def test_a_pin_that_the_lockfile_does_not_have_fails_naming_it(tmp_path):
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("fastapi==0.0.1\n")

    with pytest.raises(ImageError, match=r"pins 'fastapi==0.0.1' but Pipfile.lock has ==[\d.]+ for it"):
        hashed_requirements(requirements, ROOT / "Pipfile.lock")


def test_every_pin_gets_the_hashes_of_the_lockfile():
    hashed = hashed_requirements(ROOT / "app" / "requirements.txt", ROOT / "Pipfile.lock").splitlines()
    pins = [line for line in (ROOT / "app" / "requirements.txt").read_text().splitlines()
            if line and not line.startswith("#")]

    assert [line.split(" ", 1)[0] for line in hashed] == pins
    assert all(" --hash=sha256:" in line for line in hashed)


def test_a_missing_tool_names_the_debian_package_to_install(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")

    with pytest.raises(ImageError, match=r"buildah is not installed: apt-get install buildah"):
        require("buildah")


@pytest.mark.parametrize("cache, says", [
    ("/tmp/" + "/".join(["c" * 250] * 15), "the image cache would be"),
    ("/tmp/a:b/cache", "has a ':', which ends the wheelhouse's path in buildah's --volume"),
])
def test_an_image_cache_buildah_cannot_use_is_refused_before_anything_is_built(cache, says):
    from image.build import Buildah

    with pytest.raises(ImageError, match=re.escape(says)):
        Buildah(ImageSettings(cache=Path(cache)))
    assert not Path(cache).exists()

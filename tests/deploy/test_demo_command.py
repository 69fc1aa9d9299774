"""`make demo` (demo/) stops early, saying what to install, when a tool is missing; it refuses
anything that could reach beyond the emulator on this machine."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from local import EMULATOR_KEY
from tools import terraform as tf

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def _bin_dir(tmp_path: Path, **programs: str | None) -> Path:
    """A PATH folder holding the named programs: a path links to it, a str starting with '#!' is a script."""
    folder = tmp_path / "bin"
    folder.mkdir()
    for name, target in programs.items():
        if target is None:
            continue
        if target.startswith("#!"):
            (folder / name).write_text(target)
            (folder / name).chmod(0o755)
        else:
            (folder / name).symlink_to(target)
    return folder


def _up(tmp_path: Path, path: str, *extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": path}
    return subprocess.run([sys.executable, "-m", "demo", "up", "--workdir",
                           str(tmp_path / "work"), *extra], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)


def test_without_terraform_up_stops_saying_to_install_terraform(tmp_path):
    result = _up(tmp_path, str(_bin_dir(tmp_path, node=shutil.which("node"))))
    assert (result.returncode, "terraform is missing: install Terraform >= 1.10" in result.stderr) == (2, True), \
        result.stderr


def test_without_node_up_stops_saying_to_install_node(tmp_path):
    result = _up(tmp_path, str(_bin_dir(tmp_path, terraform=shutil.which("terraform"))))
    assert (result.returncode, "node is missing: install Node.js 20" in result.stderr) == (2, True), result.stderr


def test_with_a_terraform_older_than_1_10_up_stops_naming_the_version_needed(tmp_path):
    old = '#!/bin/sh\necho \'{"terraform_version": "1.9.8"}\'\n'
    result = _up(tmp_path, str(_bin_dir(tmp_path, terraform=old, node=shutil.which("node"))))
    assert (result.returncode, "terraform 1.9.8 is too old: install Terraform >= 1.10" in result.stderr) == (2, True), \
        result.stderr


def test_a_missing_tool_stops_up_before_any_emulator_starts(tmp_path):
    _up(tmp_path, str(_bin_dir(tmp_path, node=shutil.which("node"))))
    assert not (tmp_path / "work" / "emulator.pid").exists()


@pytest.fixture(scope="module")
def offline_up(tmp_path_factory) -> tuple[subprocess.CompletedProcess, Path]:
    """`up` with no provider mirror and a CLI configuration whose only provider source is a closed local
    port: what Terraform meets on a machine that cannot reach registry.terraform.io."""
    where = tmp_path_factory.mktemp("offline")
    config = where / "offline.tfrc"
    config.write_text('provider_installation {\n  network_mirror {\n    url = "https://127.0.0.1:9/"\n  }\n}\n')
    env = {**os.environ, "TF_CLI_CONFIG_FILE": str(config), "TF_PROVIDER_MIRROR": "none"}
    result = subprocess.run([sys.executable, "-m", "demo", "up", "--workdir", str(where / "work")],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    return result, where / "work"


def test_without_the_provider_mirror_or_registry_access_up_says_how_to_get_the_provider(offline_up):
    result, _ = offline_up
    assert result.returncode == 2 and "could not get the hashicorp/aws 5.100.0 provider" in result.stderr \
        and "filesystem mirror" in result.stderr, result.stdout[-2000:] + result.stderr[-3000:]


def test_when_up_fails_before_deploying_it_stops_the_emulator_it_started(offline_up):
    result, work = offline_up
    assert ((work / "emulator.pid").exists(), "the emulator started for this run was stopped again" in result.stdout) \
        == (False, True), result.stdout[-2000:] + result.stderr[-2000:]


@pytest.mark.parametrize("endpoint", ["https://ec2.us-east-1.amazonaws.com", "http://10.0.0.5:4566",
                                      "http://0.0.0.0:4566", "127.0.0.1:4566"])
def test_up_refuses_an_endpoint_that_is_not_an_emulator_on_this_machine(tmp_path, endpoint):
    result = _up(tmp_path, os.environ["PATH"], "--endpoint", endpoint)
    assert (result.returncode, "refusing endpoint" in result.stderr) == (1, True), result.stderr


def test_terraform_never_runs_on_a_stack_whose_provider_does_not_point_at_the_emulator(tmp_path):
    deployment = tf.LocalDeployment("http://127.0.0.1:4566", tmp_path, "any")
    stack = deployment.stack_dir("any")
    stack.mkdir(parents=True)
    (stack / "cdk.tf.json").write_text(json.dumps({"provider": {"aws": [{"region": "us-east-1"}]}}))
    with pytest.raises(tf.DeployError, match="refusing to run Terraform"):
        deployment.check_targets_emulator("any")


def test_every_run_gets_fake_credentials_and_never_the_users_aws_settings(tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_PROFILE", "production")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "real-token")
    env = tf.LocalDeployment("http://127.0.0.1:4566", tmp_path, "any").env()
    assert ({k: env.get(k) for k in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ACCESS_KEY_ID", "AWS_ENDPOINT_URL")}
            == {"AWS_PROFILE": None, "AWS_SESSION_TOKEN": None, "AWS_ACCESS_KEY_ID": EMULATOR_KEY,
                "AWS_ENDPOINT_URL": "http://127.0.0.1:4566"})


def test_up_refuses_a_stack_that_is_not_a_configured_environment_naming_the_known_ones(tmp_path):
    from infra.environments import ENVIRONMENTS

    result = _up(tmp_path, os.environ["PATH"], "--stack", "nosuchenv")
    assert result.returncode == 2
    assert (f"--stack 'nosuchenv' (`make demo ENV=...`) is not an environment in infra/environments.py; known: "
            f"{', '.join(ENVIRONMENTS)}") in result.stderr
    assert not (tmp_path / "work").exists()


def test_up_refuses_a_work_folder_too_deep_for_path_max_before_any_emulator_starts(tmp_path):
    from local import paths

    workdir = tmp_path / "a folder with spaces" / "/".join(["d" * 250] * 15)
    result = subprocess.run([sys.executable, "-m", "demo", "up", "--workdir", str(workdir)], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stdout[-2000:] + result.stderr[-2000:]
    assert f"over the limit of {paths.PATH_MAX - paths.DEEPEST}" in result.stderr
    assert not workdir.exists() and not (tmp_path / "a folder with spaces").exists()

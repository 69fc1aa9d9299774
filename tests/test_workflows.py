"""The GitHub Actions workflows: each passes actionlint, pins every action by commit, grants an OIDC token
only to jobs that assume an AWS role, takes its environments from infra/environments.py (never a literal
name), plans without writing a lock, and releases only a plan that the deploy role may apply."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
LINTER = ROOT / "tools" / "actionlint.cjs"
PINNED = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40}$")
# Every matrix over the environments reads the names the `environments` job prints (tools/environments.py).
FROM_ENVIRONMENTS_JOB = "${{ fromJSON(needs.environments.outputs.names) }}"


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


def _strings(node):
    """Every key and string value of a parsed workflow (comments are not part of it)."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield str(key)
            yield from _strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value)
    elif isinstance(node, str):
        yield node


def _environment_names() -> list[str]:
    from infra.environments import ENVIRONMENTS

    return list(ENVIRONMENTS)


def literal_environments(text: str) -> list[str]:
    """The configured environments' names a workflow's text spells out (as a word, not inside a path or name)."""
    found = []
    for string in _strings(yaml.safe_load(text)):
        found += [name for name in _environment_names()
                  if re.search(rf"(?<![\w./-]){re.escape(name)}(?![\w./-])", string)]
    return found


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_no_workflow_names_an_environment_literally(workflow):
    assert literal_environments(workflow.read_text()) == []


def test_a_workflow_with_a_literal_environment_list_is_caught():
    name = _environment_names()[0]
    text = f"jobs:\n  a:\n    strategy:\n      matrix:\n        environment: [{name}]\n"
    assert literal_environments(text) == [name]


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_every_environment_matrix_comes_from_the_environments_job(workflow):
    for name, job, _ in _steps(workflow):
        matrix = job.get("strategy", {}).get("matrix", {})
        if "environment" in matrix:
            assert (matrix["environment"], "environments" in job.get("needs", [])) == (FROM_ENVIRONMENTS_JOB, True), name


def test_the_environments_job_prints_the_configured_names_in_their_order():
    result = subprocess.run([sys.executable, "-m", "tools.environments"], cwd=ROOT, capture_output=True, text=True,
                            timeout=120)
    assert (result.returncode, json.loads(result.stdout)) == (0, _environment_names())


def test_a_broken_environments_file_is_one_error_line_and_exit_2(monkeypatch, capsys):
    import tools.environments
    from infra.config import ConfigError

    def broken() -> list[str]:
        raise ConfigError("web.region: 'mars-1' is not an AWS region botocore knows")

    monkeypatch.setattr(tools.environments, "names", broken)
    assert tools.environments.main() == 2
    assert capsys.readouterr().err == "error: infra/environments.py: web.region: 'mars-1' is not an AWS region botocore knows\n"


def test_the_release_deploys_each_environment_in_its_own_github_environment_one_at_a_time():
    job = yaml.safe_load((ROOT / ".github" / "workflows" / "release.yml").read_text())["jobs"]["release"]
    assert (job["environment"], job["strategy"]["max-parallel"], job["strategy"]["fail-fast"]) == (
        "${{ matrix.environment }}", 1, True)


def test_every_workflow_sets_up_one_terraform_version_the_repository_supports():
    from tools.terraform import MIN_TERRAFORM

    versions = {step["with"]["terraform_version"] for workflow in WORKFLOWS for _, _, steps in _steps(workflow)
                for step in steps if step.get("uses", "").startswith("hashicorp/setup-terraform@")}
    (version,) = versions
    assert tuple(int(part) for part in version.split(".")) >= MIN_TERRAFORM


def _runs(workflow: str, job: str) -> list[str]:
    config = yaml.safe_load((ROOT / ".github" / "workflows" / workflow).read_text())
    return [step.get("run", "") for step in config["jobs"][job]["steps"]]


def test_pull_request_plans_never_write_a_state_lock():
    plans = [line for run in _runs("pull-request.yml", "plan") for line in run.splitlines()
             if re.match(r"\s*terraform .*\bplan\b", line)]
    assert plans and all("-lock=false" in line for line in plans)


def test_the_release_checks_the_plans_scope_before_it_changes_anything():
    runs = _runs("release.yml", "release")
    check = next(i for i, run in enumerate(runs) if "-m tools.plan_scope" in run)
    release = next(i for i, run in enumerate(runs) if "-m release " in run)
    assert check < release


def _steps_of(workflow: str, job: str) -> list[dict]:
    return yaml.safe_load((ROOT / ".github" / "workflows" / workflow).read_text())["jobs"][job]["steps"]


def _credentials(step: dict) -> bool:
    return step.get("uses", "").startswith("aws-actions/configure-aws-credentials@")


def test_the_release_assumes_its_role_after_the_install_right_before_the_first_aws_call_for_the_whole_session():
    """The session outlives the release's waits (30 minutes for the migration, 30 for the rollout, a rollback)."""
    from infra.environments import BOOTSTRAP

    steps = _steps_of("release.yml", "release")
    (credentials,) = [i for i, step in enumerate(steps) if _credentials(step)]
    install = next(i for i, step in enumerate(steps) if "make setup" in step.get("run", ""))
    first_aws = next(i for i, step in enumerate(steps) if re.search(r"terraform .*\binit\b|-m release ", step.get("run", "")))
    assert install < credentials == first_aws - 1
    assert steps[credentials]["with"]["role-duration-seconds"] == BOOTSTRAP.ci.session_hours * 3600 >= 7200
    assert steps[credentials]["with"]["role-to-assume"] == "${{ vars.AWS_DEPLOY_ROLE_ARN }}"


def test_releases_queue_per_environment_whatever_the_ref():
    config = yaml.safe_load((ROOT / ".github" / "workflows" / "release.yml").read_text())
    job = config["jobs"]["release"]
    assert "concurrency" not in config or "github.ref" not in json.dumps(config["concurrency"])
    assert job["concurrency"] == {"group": "release-${{ matrix.environment }}", "cancel-in-progress": False}


def test_a_fork_pull_request_skips_the_plan_with_a_notice_saying_why():
    jobs = yaml.safe_load((ROOT / ".github" / "workflows" / "pull-request.yml").read_text())["jobs"]
    same_repository = "github.event.pull_request.head.repo.full_name == github.repository"
    assert same_repository in jobs["plan"]["if"] and same_repository in jobs["environments"]["if"]
    assert jobs["fork-notice"]["if"] == same_repository.replace("==", "!=")
    (run,) = [step["run"] for step in jobs["fork-notice"]["steps"]]
    assert "::notice title=Plan skipped::" in run and "no OIDC token" in run and "GITHUB_STEP_SUMMARY" in run


def test_the_image_is_built_once_with_root_and_no_aws_credentials_then_promoted_to_every_environment():
    """Build once, promote by digest: one job builds the archive (debootstrap needs root; it never holds an AWS
    session), uploads it, and each environment's job pushes that very archive with `python -m release promote`."""
    config = yaml.safe_load((ROOT / ".github" / "workflows" / "release.yml").read_text())["jobs"]
    build, release = config["build"], config["release"]
    build_runs = [s.get("run", "") for s in build["steps"]]
    assert any(re.search(r"^sudo .*-m release build --output \"\$\{RUNNER_TEMP\}/image.tar\"$", run, re.M)
               for run in build_runs)
    assert not any(_credentials(s) for s in build["steps"]) and "id-token" not in str(build.get("permissions", ""))
    uploads = [s for s in build["steps"] if s.get("uses", "").startswith("actions/upload-artifact@")]
    downloads = [s for s in release["steps"] if s.get("uses", "").startswith("actions/download-artifact@")]
    assert [u["with"]["name"] for u in uploads] == [d["with"]["name"] for d in downloads] == ["image"]
    assert "build" in release["needs"]
    promote = [run for run in _runs("release.yml", "release") if "-m release " in run]
    assert [run.split(" .venv/", 1)[-1] for run in promote] == [
        'bin/python -m release promote --env "${ENVIRONMENT}" --image "${RUNNER_TEMP}/image/image.tar"']
    assert not any(re.search(r"\bcurl\b", run) for run in _runs("release.yml", "release")), \
        "the release verifies the app itself (release/verify.py): no check of its own in the YAML"


def test_the_release_runs_as_root_for_the_gate_keeping_only_the_path_and_the_aws_session():
    """The compatibility gate (release/gate.py) needs root, podman and PostgreSQL where the release runs: the job
    installs both and runs the release with sudo, keeping the set-up actions' PATH and the variables
    configure-aws-credentials exports (its README: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN,
    AWS_REGION, AWS_DEFAULT_REGION), and nothing else of the runner user's environment."""
    runs = _runs("release.yml", "release")
    assert any(re.search(r"^sudo tools/setup.sh .*\bcontainers\b.*\bpostgres\b", run, re.M) for run in runs)
    (promote,) = [run for run in runs if "-m release " in run]
    kept = re.fullmatch(r"sudo --preserve-env=(\S+) \.venv/bin/python -m release promote .*", promote.strip(), re.S)
    assert kept, promote
    assert set(kept.group(1).split(",")) == {"PATH", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                                             "AWS_REGION", "AWS_DEFAULT_REGION"}

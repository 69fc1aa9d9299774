"""The CI identity (infra/ci_identity.py): only the configured repository's branch and GitHub environments
can assume the deploy role, for STS, and the role reaches only this project's resources."""
from __future__ import annotations

import json

import pytest

from infra.config import BootstrapConfig, CiConfig, ConfigError

REPO = "example-org/notes-service"
CI = CiConfig(github_repository=REPO, branch="main", environments=("dev", "prod"), project="notes")


@pytest.fixture(scope="module")
def bootstrap(tmp_path_factory) -> dict:
    from cdktf import App
    from infra.stacks import StateBucketStack

    outdir = tmp_path_factory.mktemp("ci-synth")
    app = App(outdir=str(outdir))
    StateBucketStack(app, "bootstrap", config=BootstrapConfig(state_bucket="notes-state-test", ci=CI))
    app.synth()
    return json.loads((outdir / "stacks" / "bootstrap" / "cdk.tf.json").read_text())


def _resource(stack: dict, kind: str) -> dict:
    (value,) = stack["resource"][kind].values()
    return value


def _trust(stack: dict) -> dict:
    (statement,) = json.loads(_resource(stack, "aws_iam_role")["assume_role_policy"])["Statement"]
    return statement


def _statements(stack: dict) -> list[dict]:
    return json.loads(_resource(stack, "aws_iam_role_policy")["policy"])["Statement"]


def _as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def test_the_provider_is_githubs_issuer_for_sts(bootstrap):
    provider = _resource(bootstrap, "aws_iam_openid_connect_provider")
    assert (provider["url"], provider["client_id_list"]) == ("https://token.actions.githubusercontent.com",
                                                           ["sts.amazonaws.com"])


def test_only_web_identities_of_that_provider_can_assume_the_role(bootstrap):
    trust = _trust(bootstrap)
    assert (trust["Action"], list(trust["Principal"])) == ("sts:AssumeRoleWithWebIdentity", ["Federated"])
    assert trust["Principal"]["Federated"].startswith("${aws_iam_openid_connect_provider.")


def test_the_trust_is_limited_to_the_repository_branch_and_environments_exactly(bootstrap):
    condition = _trust(bootstrap)["Condition"]
    assert condition == {"StringEquals": {
        "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
        "token.actions.githubusercontent.com:sub": [f"repo:{REPO}:ref:refs/heads/main",
                                                    f"repo:{REPO}:environment:dev",
                                                    f"repo:{REPO}:environment:prod"]}}


def test_no_statement_allows_a_wildcard_action(bootstrap):
    actions = [a for s in _statements(bootstrap) for a in _as_list(s["Action"])]
    assert [a for a in actions if "*" in a] == [] and all(s["Effect"] == "Allow" for s in _statements(bootstrap))


def test_only_actions_without_resource_level_permissions_get_resource_star(bootstrap):
    starred = sorted(a for s in _statements(bootstrap) if "*" in _as_list(s["Resource"]) for a in _as_list(s["Action"]))
    assert starred == ["ecr:GetAuthorizationToken", "ecs:DeregisterTaskDefinition", "ecs:DescribeTaskDefinition",
                       "ecs:RegisterTaskDefinition"]


def test_every_other_resource_is_the_state_bucket_or_named_for_the_project(bootstrap):
    resources = [r for s in _statements(bootstrap) for r in _as_list(s["Resource"]) if r != "*"]
    bucket = "${aws_s3_bucket.state.arn}"
    outside = [r for r in resources if not (r.startswith(bucket) or "/notes-" in r or ":log-group:/ecs/notes-" in r)]
    assert resources and outside == []


def test_state_objects_can_be_deleted_only_when_they_are_lock_files(bootstrap):
    deleting = [s for s in _statements(bootstrap) if "s3:DeleteObject" in _as_list(s["Action"])]
    assert [s["Resource"] for s in deleting] == ["${aws_s3_bucket.state.arn}/*.tflock"]


def test_run_task_is_allowed_only_for_the_migration_task_definitions(bootstrap):
    (statement,) = [s for s in _statements(bootstrap) if "ecs:RunTask" in _as_list(s["Action"])]
    (resource,) = _as_list(statement["Resource"])
    assert resource.startswith("arn:aws:ecs:*:${data.aws_caller_identity.") and resource.endswith(
        ":task-definition/notes-*-migrate:*")


def test_pass_role_is_limited_to_the_task_roles_and_to_ecs_tasks(bootstrap):
    (statement,) = [s for s in _statements(bootstrap) if "iam:PassRole" in _as_list(s["Action"])]
    assert [r.rsplit(":role/", 1)[1] for r in statement["Resource"]] == ["notes-*-task", "notes-*-task-execution"]
    assert statement["Condition"] == {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}}


def test_without_ci_settings_the_bootstrap_stack_has_no_role(tmp_path):
    from cdktf import App
    from infra.stacks import StateBucketStack

    app = App(outdir=str(tmp_path))
    StateBucketStack(app, "bootstrap", config=BootstrapConfig(state_bucket="notes-state-test"))
    app.synth()
    stack = json.loads((tmp_path / "stacks" / "bootstrap" / "cdk.tf.json").read_text())
    assert "aws_iam_role" not in stack["resource"]


@pytest.mark.parametrize("settings, message", [
    (dict(github_repository="notes-service"), r"bootstrap.ci.github_repository: 'notes-service' is not allowed: use owner/name"),
    (dict(github_repository="example-org/notes", branch="release/*"), r"bootstrap.ci.branch: 'release/\*' is not allowed"),
    (dict(github_repository="example-org/notes", branch="refs/heads/main"), r"bootstrap.ci.branch: .* no refs/heads/ prefix"),
    (dict(github_repository="example-org/notes", environments=("prod*",)), r"bootstrap.ci.environments: 'prod\*'"),
])
def test_a_ci_setting_that_could_widen_the_trust_is_refused(settings, message):
    with pytest.raises(ConfigError, match=message):
        CiConfig(**settings)

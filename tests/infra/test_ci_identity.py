"""The CI identity (infra/ci_identity.py): only the configured repository's branch and GitHub environments can
assume the deploy role and only its pull requests the plan role, for STS; the plan role changes nothing; both
reach only this project's resources, and read everything Terraform's refresh of the app stacks reads."""
from __future__ import annotations

import json
import re

import pytest

from infra.ci_identity import PROJECT_TAG, REFRESH_READS
from infra.config import BootstrapConfig, CiConfig, ConfigError
from infra.policy import STAR_ONLY_ACTIONS

REPO = "example-org/notes-service"
CI = CiConfig(github_repository=REPO, branch="main", environments=("dev", "prod"), project="notes")
STATE = "${aws_s3_bucket.state.arn}"
# An action is a read when its verb starts with one of these; anything else may change something.
READ_VERBS = ("Describe", "List", "Get", "BatchGet")
# Never granted to either role: a secret's value, objects outside the state bucket, decryption.
FORBIDDEN = ("secretsmanager:GetSecretValue", "kms:Decrypt")
# The one write AWS authorizes only on "*" (no resource-level permissions): Terraform's replacement of a task
# definition and the release's one-off migration revision deregister by revision.
STAR_WRITES = ["ecs:DeregisterTaskDefinition"]
# Every write the deploy role has: state and locks, the image push, task definitions, the migration, the service.
RELEASE_WRITES = {
    "s3:PutObject", "s3:DeleteObject",
    "ecr:BatchCheckLayerAvailability", "ecr:InitiateLayerUpload", "ecr:UploadLayerPart", "ecr:CompleteLayerUpload",
    "ecr:PutImage",
    "ecs:RegisterTaskDefinition", "ecs:TagResource", "ecs:DeregisterTaskDefinition", "ecs:RunTask",
    "ecs:UpdateService", "iam:PassRole"}
# IAM's limit on a role's inline policies, whitespace not counted.
INLINE_POLICY_LIMIT = 10240


@pytest.fixture(scope="module")
def bootstrap(tmp_path_factory) -> dict:
    from cdktf import App
    from infra.stacks import StateBucketStack

    outdir = tmp_path_factory.mktemp("ci-synth")
    app = App(outdir=str(outdir))
    StateBucketStack(app, "bootstrap", config=BootstrapConfig(state_bucket="notes-state-test", ci=CI))
    app.synth()
    return json.loads((outdir / "stacks" / "bootstrap" / "cdk.tf.json").read_text())


@pytest.fixture(scope="module")
def app_stacks(outdir) -> dict[str, dict]:
    """Every application stack the infra tests synthesize (the configured ones and the test-only variants)."""
    return {p.parent.name: json.loads(p.read_text()) for p in (outdir / "stacks").glob("*/cdk.tf.json")
            if p.parent.name != "bootstrap"}


def _resource(stack: dict, kind: str) -> dict:
    (value,) = stack["resource"][kind].values()
    return value


def _named(stack: dict, kind: str, part: str) -> dict:
    (value,) = [v for k, v in stack["resource"][kind].items() if part in k]
    return value


def _trust(stack: dict, role: str) -> dict:
    (statement,) = json.loads(_named(stack, "aws_iam_role", role)["assume_role_policy"])["Statement"]
    return statement


def _statements(stack: dict, role: str) -> list[dict]:
    return json.loads(_named(stack, "aws_iam_role_policy", role)["policy"])["Statement"]


def _as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def _actions(statements: list[dict]) -> list[str]:
    return [a for s in statements for a in _as_list(s["Action"])]


def _is_read(action: str) -> bool:
    return action.split(":", 1)[1].startswith(READ_VERBS)


ROLES = ["deploy", "plan"]


def test_the_provider_is_githubs_issuer_for_sts(bootstrap):
    provider = _resource(bootstrap, "aws_iam_openid_connect_provider")
    assert (provider["url"], provider["client_id_list"]) == ("https://token.actions.githubusercontent.com",
                                                           ["sts.amazonaws.com"])


@pytest.mark.parametrize("role", ROLES)
def test_only_web_identities_of_that_provider_can_assume_the_role(bootstrap, role):
    trust = _trust(bootstrap, role)
    assert (trust["Action"], list(trust["Principal"])) == ("sts:AssumeRoleWithWebIdentity", ["Federated"])
    assert trust["Principal"]["Federated"].startswith("${aws_iam_openid_connect_provider.")


def test_the_deploy_role_trusts_the_repository_branch_and_environments_exactly(bootstrap):
    assert _trust(bootstrap, "deploy")["Condition"] == {"StringEquals": {
        "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
        "token.actions.githubusercontent.com:sub": [f"repo:{REPO}:ref:refs/heads/main",
                                                    f"repo:{REPO}:environment:dev",
                                                    f"repo:{REPO}:environment:prod"]}}


def test_the_plan_role_trusts_only_the_repositorys_pull_requests_exactly(bootstrap):
    assert _trust(bootstrap, "plan")["Condition"] == {"StringEquals": {
        "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
        "token.actions.githubusercontent.com:sub": [f"repo:{REPO}:pull_request"]}}


@pytest.mark.parametrize("role", ROLES)
def test_no_statement_allows_a_wildcard_action(bootstrap, role):
    statements = _statements(bootstrap, role)
    assert [a for a in _actions(statements) if "*" in a] == [] and all(s["Effect"] == "Allow" for s in statements)


@pytest.mark.parametrize("role", ROLES)
def test_only_actions_without_resource_level_permissions_get_resource_star(bootstrap, role):
    starred = {a for s in _statements(bootstrap, role) if "*" in _as_list(s["Resource"]) for a in _as_list(s["Action"])}
    assert starred and starred <= STAR_ONLY_ACTIONS


@pytest.mark.parametrize("role", ROLES)
def test_no_write_action_is_allowed_on_resource_star_but_the_one_aws_allows_only_there(bootstrap, role):
    starred = [a for s in _statements(bootstrap, role) if "*" in _as_list(s["Resource"]) for a in _as_list(s["Action"])]
    assert [a for a in starred if not _is_read(a)] == (STAR_WRITES if role == "deploy" else [])


def test_the_plan_role_has_no_write_action_at_all(bootstrap):
    assert [a for a in _actions(_statements(bootstrap, "plan")) if not _is_read(a)] == []


def test_the_deploy_role_writes_only_what_a_release_changes(bootstrap):
    assert {a for a in _actions(_statements(bootstrap, "deploy")) if not _is_read(a)} == RELEASE_WRITES


@pytest.mark.parametrize("role", ROLES)
def test_neither_role_can_read_a_secret_or_decrypt(bootstrap, role):
    assert [a for a in _actions(_statements(bootstrap, role)) if a in FORBIDDEN] == []


@pytest.mark.parametrize("role", ROLES)
def test_objects_are_read_only_in_the_state_bucket(bootstrap, role):
    reading = [s for s in _statements(bootstrap, role) if "s3:GetObject" in _as_list(s["Action"])]
    assert [s["Resource"] for s in reading] == [f"{STATE}/*"]


def test_the_plan_role_reads_the_state_and_writes_no_lock(bootstrap):
    state = [s for s in _statements(bootstrap, "plan") if any(r.startswith(STATE) for r in _as_list(s["Resource"]))]
    assert sorted(_actions(state)) == ["s3:GetObject", "s3:ListBucket"]


def test_the_deploy_role_deletes_state_objects_only_when_they_are_lock_files(bootstrap):
    deleting = [s for s in _statements(bootstrap, "deploy") if "s3:DeleteObject" in _as_list(s["Action"])]
    assert [s["Resource"] for s in deleting] == [f"{STATE}/*.tflock"]


@pytest.mark.parametrize("role", ROLES)
def test_every_named_resource_is_the_state_bucket_or_named_for_the_project(bootstrap, role):
    named = [r for s in _statements(bootstrap, role) if "Condition" not in s or "iam:PassedToService" in
             json.dumps(s["Condition"]) for r in _as_list(s["Resource"]) if r != "*"]
    outside = [r for r in named if not (r.startswith(STATE) or re.search(r"([/:]|:aws-waf-logs-)notes-\*", r))]
    assert named and outside == []


@pytest.mark.parametrize("role", ROLES)
def test_resources_named_by_generated_ids_are_reached_only_through_the_project_tag(bootstrap, role):
    by_id = [s for s in _statements(bootstrap, role) if any(re.search(r":(key|vpc|scalable-target)/\*$", r)
                                                            for r in _as_list(s["Resource"]))]
    assert by_id and all(s["Condition"] == {"StringEquals": {f"aws:ResourceTag/{PROJECT_TAG}": "notes"}}
                         for s in by_id)


def test_run_task_is_allowed_only_for_the_migration_task_definitions(bootstrap):
    (statement,) = [s for s in _statements(bootstrap, "deploy") if "ecs:RunTask" in _as_list(s["Action"])]
    (resource,) = _as_list(statement["Resource"])
    assert resource.startswith("arn:aws:ecs:*:${data.aws_caller_identity.") and resource.endswith(
        ":task-definition/notes-*-migrate:*")


def test_the_deploy_role_can_make_every_change_the_release_workflow_lets_through(bootstrap):
    from tools.plan_scope import RELEASE_CHANGES

    needs = {("aws_ecs_task_definition", "create"): {"ecs:RegisterTaskDefinition", "ecs:TagResource", "iam:PassRole"},
             ("aws_ecs_task_definition", "delete"): {"ecs:DeregisterTaskDefinition"},
             ("aws_ecs_service", "update"): {"ecs:UpdateService"}}
    allowed = {(rtype, action) for rtype, actions in RELEASE_CHANGES.items() for action in actions}
    assert allowed == set(needs)
    granted = set(_actions(_statements(bootstrap, "deploy")))
    assert [change for change, actions in needs.items() if not actions <= granted] == []


def test_task_definitions_are_tagged_only_while_being_registered(bootstrap):
    (statement,) = [s for s in _statements(bootstrap, "deploy") if "ecs:TagResource" in _as_list(s["Action"])]
    assert statement["Condition"] == {"StringEquals": {"ecs:CreateAction": "RegisterTaskDefinition"}}
    assert statement["Resource"].endswith(":task-definition/notes-*")


def test_pass_role_is_limited_to_the_task_roles_and_to_ecs_tasks(bootstrap):
    (statement,) = [s for s in _statements(bootstrap, "deploy") if "iam:PassRole" in _as_list(s["Action"])]
    assert [r.rsplit(":role/", 1)[1] for r in statement["Resource"]] == ["notes-*-task", "notes-*-task-execution"]
    assert statement["Condition"] == {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}}


def test_every_resource_and_data_source_type_of_the_app_stacks_has_its_refresh_reads(app_stacks):
    used = {f"{prefix}{rtype}" for stack in app_stacks.values() for kind, prefix in (("resource", ""), ("data", "data."))
            for rtype in stack.get(kind, {})}
    assert sorted(used - set(REFRESH_READS)) == [], "add the read actions of these types to REFRESH_READS"
    assert sorted(set(REFRESH_READS) - used) == [], "no app stack has these types: remove them from REFRESH_READS"


@pytest.mark.parametrize("role", ROLES)
def test_the_role_may_call_every_refresh_read(bootstrap, role):
    granted = set(_actions(_statements(bootstrap, role)))
    assert sorted({a for reads in REFRESH_READS.values() for a in reads} - granted) == []


ACCOUNT, REGION = "123456789012", "us-east-1"


def _arns_of(stack: dict) -> dict[str, list[str]]:
    """Resource type -> the ARNs AWS authorizes its refresh against, for the resources the stack names."""
    def names(rtype: str, attr: str = "name") -> list[str]:
        return [config[attr] for config in stack["resource"].get(rtype, {}).values()]

    (cluster,) = names("aws_ecs_cluster")
    at = f"{REGION}:{ACCOUNT}"
    return {
        "aws_iam_role": [f"arn:aws:iam::{ACCOUNT}:role/{n}" for n in names("aws_iam_role")],
        "aws_ecr_repository": [f"arn:aws:ecr:{at}:repository/{n}" for n in names("aws_ecr_repository")],
        "aws_db_instance": [f"arn:aws:rds:{at}:db:{n}" for n in names("aws_db_instance", "identifier")],
        "aws_db_parameter_group": [f"arn:aws:rds:{at}:pg:{n}" for n in names("aws_db_parameter_group")],
        "aws_db_subnet_group": [f"arn:aws:rds:{at}:subgrp:{n}" for n in names("aws_db_subnet_group")],
        "aws_ecs_cluster": [f"arn:aws:ecs:{at}:cluster/{cluster}"],
        "aws_ecs_service": [f"arn:aws:ecs:{at}:service/{cluster}/{n}" for n in names("aws_ecs_service")],
        "aws_ecs_task_definition": [f"arn:aws:ecs:{at}:task-definition/{n}:7"
                                    for n in names("aws_ecs_task_definition", "family")],
        "aws_cloudwatch_log_group": [f"arn:aws:logs:{at}:log-group:{n}" for n in names("aws_cloudwatch_log_group")],
        "aws_s3_bucket": [f"arn:aws:s3:::{n}20261128" for n in names("aws_s3_bucket", "bucket_prefix")],
        "aws_wafv2_web_acl": [f"arn:aws:wafv2:{at}:regional/webacl/{n}/0f1e2d" for n in names("aws_wafv2_web_acl")],
        "aws_wafv2_web_acl_association": [f"arn:aws:elasticloadbalancing:{at}:loadbalancer/app/{n}/0f1e2d"
                                          for n in names("aws_lb")],
    }


def _matches(pattern: str, arn: str) -> bool:
    """IAM's ARN matching: `*` any characters (`/` and `:` included), `?` one."""
    return re.fullmatch(re.escape(pattern).replace(r"\*", ".*").replace(r"\?", "."), arn) is not None


@pytest.mark.parametrize("role", ROLES)
def test_the_refresh_of_every_named_resource_of_the_app_stacks_is_allowed_on_its_arn(bootstrap, app_stacks, role):
    statements = [s for s in _statements(bootstrap, role) if "Condition" not in s]
    for s in statements:
        s["Resource"] = [re.sub(r"\$\{data\.aws_caller_identity\.[^}]+\}", ACCOUNT, r) for r in _as_list(s["Resource"])]
    requests = [(action, arn) for stack in app_stacks.values() for rtype, arns in _arns_of(stack).items()
                for action in REFRESH_READS[rtype] if action not in STAR_ONLY_ACTIONS for arn in arns]
    denied = [(action, arn) for action, arn in requests
              if not any(action in _as_list(s["Action"]) and any(_matches(p, arn) for p in s["Resource"])
                         for s in statements)]
    assert len(requests) > 100 and denied == []


def test_an_arn_outside_the_project_matches_no_read_scope(bootstrap):
    resources = [r for s in _statements(bootstrap, "plan") if "Condition" not in s for r in _as_list(s["Resource"])
                 if r != "*"]
    others = ["arn:aws:iam::1:role/admin", "arn:aws:s3:::other-bucket", "arn:aws:logs:us-east-1:1:log-group:/ecs/other",
              "arn:aws:rds:us-east-1:1:db:other-db", "arn:aws:ecr:us-east-1:1:repository/other/app"]
    assert [arn for arn in others if any(_matches(re.sub(r"\$\{data[^}]+\}", "1", p), arn) for p in resources)] == []


def test_resources_reached_through_the_project_tag_get_it_from_the_providers_default_tags(app_stacks):
    untagged = [name for name, stack in app_stacks.items()
                if stack["provider"]["aws"][0]["default_tags"][0]["tags"].get(PROJECT_TAG) != "notes"]
    assert untagged == []


@pytest.mark.parametrize("role", ROLES)
def test_the_inline_policy_fits_iams_limit_once_references_are_resolved(bootstrap, role):
    text = _named(bootstrap, "aws_iam_role_policy", role)["policy"]
    resolved = re.sub(r"\$\{data\.aws_caller_identity\.[^}]+\}", "123456789012", text)
    resolved = resolved.replace(STATE, "arn:aws:s3:::notes-state-test")
    assert len(re.sub(r"\s", "", resolved)) < INLINE_POLICY_LIMIT


def test_the_bootstrap_stack_outputs_both_role_arns(bootstrap):
    values = [bootstrap["output"][f"ci_{role}_role_arn"]["value"] for role in ROLES]
    assert [re.sub(r"_[0-9A-F]{8}\.", ".", v) for v in values] == [
        "${aws_iam_role.ci_deploy-role.arn}", "${aws_iam_role.ci_plan-role.arn}"]


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

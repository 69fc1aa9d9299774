"""The CI identity (infra/ci_identity.py), judged with IAM's own evaluation logic (security/iam.py): only a job in
an environment's GitHub environment can assume that environment's deploy role, and no role but prod's can
change prod; only the repository's pull requests and its release branch assume the plan role, which changes
nothing; every refresh read of the app stacks is allowed on the ARN AWS authorizes it on; the state is
encrypted with the state bucket's own KMS key. (tests/deploy/test_ci_permissions.py judges every call the deploy
cycle really makes; these judge the policies on their own.)"""
from __future__ import annotations

import json
import re

import pytest

from infra.ci_identity import GITHUB_ISSUER, PROJECT_TAG, REFRESH_READS
from infra.config import BootstrapConfig, CiConfig, ConfigError
from infra.policy import STAR_ONLY_ACTIONS, STAR_WITH_CONDITION_ACTIONS
from security.iam import evaluate, trusts
from tests.stacks import resolve_references

REPO = "example-org/notes-service"
CI = CiConfig(github_repository=REPO, branch="main", environments=("dev", "prod"), project="notes")
ACCOUNT, REGION = "123456789012", "us-east-1"
BUCKET = "notes-state-test"
STATE_KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/0f1e2d3c-state"
PROVIDER = f"arn:aws:iam::{ACCOUNT}:oidc-provider/{GITHUB_ISSUER}"
ROLES = ["plan", "deploy-dev", "deploy-prod"]
# An action is a read when its verb starts with one of these; anything else may change something.
READ_VERBS = ("Describe", "List", "Get", "BatchGet")
# Every write a deploy role has: its state and lock, the image push, task definitions, the migration, the
# service, passing the task roles, and encrypting the state with the state key.
RELEASE_WRITES = {
    "s3:PutObject", "s3:DeleteObject", "kms:GenerateDataKey",
    "ecr:BatchCheckLayerAvailability", "ecr:InitiateLayerUpload", "ecr:UploadLayerPart", "ecr:CompleteLayerUpload",
    "ecr:PutImage",
    "ecs:RegisterTaskDefinition", "ecs:TagResource", "ecs:DeregisterTaskDefinition", "ecs:RunTask",
    "ecs:UpdateService", "iam:PassRole"}
# The one write AWS authorizes only on "*": Terraform's replacement of a task definition and the release's
# one-off migration revision deregister by revision.
STAR_WRITES = {"ecs:DeregisterTaskDefinition"}
# IAM's limit on a role's inline policies, whitespace not counted.
INLINE_POLICY_LIMIT = 10240


def _synth(tmp_path_factory, config: BootstrapConfig) -> dict:
    from cdktf import App
    from infra.stacks import StateBucketStack

    outdir = tmp_path_factory.mktemp("ci-synth")
    app = App(outdir=str(outdir))
    StateBucketStack(app, "bootstrap", config=config)
    app.synth()
    return json.loads((outdir / "stacks" / "bootstrap" / "cdk.tf.json").read_text())


@pytest.fixture(scope="module")
def bootstrap(tmp_path_factory) -> dict:
    return _synth(tmp_path_factory, BootstrapConfig(state_bucket=BUCKET, ci=CI))


def _resolve(text: str) -> str:
    return resolve_references(text, account=ACCOUNT, state_bucket=BUCKET, state_key=STATE_KEY, provider=PROVIDER)


def _role_resource(stack: dict, kind: str, role: str) -> dict:
    part = {"plan": "plan-", "deploy-dev": "deploy-role-dev" if kind == "aws_iam_role" else "deploy-policy-dev",
            "deploy-prod": "deploy-role-prod" if kind == "aws_iam_role" else "deploy-policy-prod"}[role]
    if role == "plan":
        part = "plan-role" if kind == "aws_iam_role" else "plan-policy"
    (value,) = [v for k, v in stack["resource"][kind].items() if k.startswith(f"ci_{part}_")]
    return value


def _policy(stack: dict, role: str) -> dict:
    return json.loads(_resolve(_role_resource(stack, "aws_iam_role_policy", role)["policy"]))


def _trust(stack: dict, role: str) -> dict:
    return json.loads(_resolve(_role_resource(stack, "aws_iam_role", role)["assume_role_policy"]))


def _as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def _actions(policy: dict) -> list[str]:
    return [a for s in policy["Statement"] for a in _as_list(s["Action"])]


def _is_read(action: str) -> bool:
    return action.split(":", 1)[1].startswith(READ_VERBS) or action == "kms:Decrypt"


def _allowed(policy: dict, action: str, resource: str, **context) -> bool:
    return evaluate([policy], action, resource, context).allowed


def _token(subject: str) -> dict:
    return {f"{GITHUB_ISSUER}:aud": "sts.amazonaws.com", f"{GITHUB_ISSUER}:sub": subject}


SUBJECTS = {
    "pull request": f"repo:{REPO}:pull_request",
    "main branch": f"repo:{REPO}:ref:refs/heads/main",
    "other branch": f"repo:{REPO}:ref:refs/heads/feature",
    "dev environment": f"repo:{REPO}:environment:dev",
    "prod environment": f"repo:{REPO}:environment:prod",
    "prod environment of another repository": "repo:example-org/fork:environment:prod",
    "another repository's pull request": "repo:other-org/notes-service:pull_request",
}


def _prod_changes() -> list[tuple[str, str, dict]]:
    """What changing prod takes: (action, resource, condition keys) as AWS authorizes each."""
    ecs = f"arn:aws:ecs:{REGION}:{ACCOUNT}"
    return [
        ("ecs:UpdateService", f"{ecs}:service/notes-prod/notes-prod-app", {}),
        ("ecs:RunTask", f"{ecs}:task-definition/notes-prod-migrate:9", {"ecs:cluster": f"{ecs}:cluster/notes-prod"}),
        ("ecs:RegisterTaskDefinition", f"{ecs}:task-definition/notes-prod-app:*", {}),
        ("iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/notes-prod-task",
         {"iam:PassedToService": "ecs-tasks.amazonaws.com"}),
        ("s3:PutObject", f"arn:aws:s3:::{BUCKET}/prod/terraform.tfstate", {}),
        ("s3:DeleteObject", f"arn:aws:s3:::{BUCKET}/prod/terraform.tfstate.tflock", {}),
        ("ecr:PutImage", f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/notes-prod/app", {}),
    ]


# -- who may assume what ----------------------------------------------------------------------------------

def test_the_provider_is_githubs_issuer_for_sts(bootstrap):
    (provider,) = bootstrap["resource"]["aws_iam_openid_connect_provider"].values()
    assert (provider["url"], provider["client_id_list"]) == ("https://token.actions.githubusercontent.com",
                                                           ["sts.amazonaws.com"])


def test_an_existing_github_provider_is_used_and_not_created_again(tmp_path_factory):
    stack = _synth(tmp_path_factory, BootstrapConfig(state_bucket=BUCKET, ci=CiConfig(
        github_repository=REPO, environments=("dev",), oidc_provider="existing")))
    (found,) = stack["data"]["aws_iam_openid_connect_provider"].values()
    trust = json.loads(_role_resource(stack, "aws_iam_role", "deploy-dev")["assume_role_policy"])
    assert "aws_iam_openid_connect_provider" not in stack["resource"] and found["url"] == \
        "https://token.actions.githubusercontent.com" and \
        trust["Statement"][0]["Principal"]["Federated"].startswith("${data.aws_iam_openid_connect_provider.")


@pytest.mark.parametrize("role, subjects", [
    ("plan", {"pull request", "main branch"}),
    ("deploy-dev", {"dev environment"}),
    ("deploy-prod", {"prod environment"}),
])
def test_each_role_is_assumable_only_by_its_subjects(bootstrap, role, subjects):
    trust = _trust(bootstrap, role)
    may = {name for name, subject in SUBJECTS.items()
           if trusts(trust, "sts:AssumeRoleWithWebIdentity", PROVIDER, _token(subject)).allowed}
    assert may == subjects
    # Another audience (a token minted for something else) is refused too.
    other = {f"{GITHUB_ISSUER}:aud": "https://github.com/example-org", f"{GITHUB_ISSUER}:sub": SUBJECTS[sorted(subjects)[0]]}
    assert not trusts(trust, "sts:AssumeRoleWithWebIdentity", PROVIDER, other).allowed


def test_no_subject_but_prods_can_change_prod(bootstrap):
    """Every subject, through every role its token can assume: who may make any of prod's changes."""
    can_change = {}
    for name, subject in SUBJECTS.items():
        roles = [r for r in ROLES
                 if trusts(_trust(bootstrap, r), "sts:AssumeRoleWithWebIdentity", PROVIDER, _token(subject)).allowed]
        can_change[name] = sorted({action for r in roles for action, resource, context in _prod_changes()
                                   if _allowed(_policy(bootstrap, r), action, resource, **context)})
    everything = sorted({action for action, _, _ in _prod_changes()})
    assert can_change == {name: everything if name == "prod environment" else [] for name in SUBJECTS}


def test_the_dev_role_can_release_dev(bootstrap):
    dev = [(a, r.replace("notes-prod", "notes-dev").replace("/prod/", "/dev/"),
            {k: v.replace("notes-prod", "notes-dev") for k, v in c.items()}) for a, r, c in _prod_changes()]
    policy = _policy(bootstrap, "deploy-dev")
    assert [a for a, r, c in dev if not _allowed(policy, a, r, **c)] == []


def test_the_migration_runs_only_on_the_environments_cluster(bootstrap):
    ecs = f"arn:aws:ecs:{REGION}:{ACCOUNT}"
    policy = _policy(bootstrap, "deploy-dev")
    on = {cluster: _allowed(policy, "ecs:RunTask", f"{ecs}:task-definition/notes-dev-migrate:3",
                            **{"ecs:cluster": f"{ecs}:cluster/{cluster}"})
          for cluster in ("notes-dev", "notes-prod", "notes-devtest", "default")}
    app = _allowed(policy, "ecs:RunTask", f"{ecs}:task-definition/notes-dev-app:3",
                   **{"ecs:cluster": f"{ecs}:cluster/notes-dev"})
    assert (on, app) == ({"notes-dev": True, "notes-prod": False, "notes-devtest": False, "default": False}, False)


def test_tasks_are_listed_on_resource_star_only_for_the_environments_cluster(bootstrap):
    """ListTasks without a container instance is authorized on "*", narrowed by ecs:cluster (ECS Developer Guide)."""
    ecs = f"arn:aws:ecs:{REGION}:{ACCOUNT}"
    policy = _policy(bootstrap, "deploy-dev")
    assert [_allowed(policy, "ecs:ListTasks", "*", **{"ecs:cluster": f"{ecs}:cluster/{c}"})
            for c in ("notes-dev", "notes-prod")] == [True, False]


def test_pass_role_is_limited_to_the_environments_task_roles_and_to_ecs_tasks(bootstrap):
    policy = _policy(bootstrap, "deploy-dev")
    role = f"arn:aws:iam::{ACCOUNT}:role/"
    results = {name: _allowed(policy, "iam:PassRole", role + name, **{"iam:PassedToService": service})
               for name, service in (("notes-dev-task", "ecs-tasks.amazonaws.com"),
                                     ("notes-dev-task-execution", "ecs-tasks.amazonaws.com"),
                                     ("notes-dev-rds-monitoring", "ecs-tasks.amazonaws.com"),
                                     ("notes-prod-task", "ecs-tasks.amazonaws.com"))}
    to_ec2 = _allowed(policy, "iam:PassRole", role + "notes-dev-task", **{"iam:PassedToService": "ec2.amazonaws.com"})
    assert (results, to_ec2) == ({"notes-dev-task": True, "notes-dev-task-execution": True,
                                  "notes-dev-rds-monitoring": False, "notes-prod-task": False}, False)


def test_task_definitions_are_tagged_only_while_being_registered(bootstrap):
    policy = _policy(bootstrap, "deploy-dev")
    arn = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/notes-dev-app:4"
    assert [_allowed(policy, "ecs:TagResource", arn, **context) for context in
            ({"ecs:CreateAction": "RegisterTaskDefinition"}, {})] == [True, False]


def test_the_release_may_mark_its_own_app_revisions_verified_and_set_no_other_tag(bootstrap):
    from infra.config import VERIFIED_TAG

    policy = _policy(bootstrap, "deploy-dev")
    app, migrate = (f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/notes-dev-{family}:4" for family in ("app", "migrate"))
    tagged = {"aws:TagKeys": [VERIFIED_TAG]}
    assert [_allowed(policy, "ecs:TagResource", app, **tagged),
            _allowed(policy, "ecs:TagResource", app, **{"aws:TagKeys": [VERIFIED_TAG, "environment"]}),
            _allowed(policy, "ecs:TagResource", migrate, **tagged),
            _allowed(policy, "ecs:TagResource", app.replace("notes-dev", "notes-prod"), **tagged)] == \
        [True, False, False, False]


@pytest.mark.parametrize("hours, allowed", [(2, True), (12, True), (1, False), (13, False)])
def test_sessions_last_at_least_two_hours(tmp_path_factory, hours, allowed):
    if not allowed:
        with pytest.raises(ConfigError, match=rf"bootstrap.ci.session_hours: {hours} is not allowed: 2-12 hours"):
            CiConfig(github_repository=REPO, session_hours=hours)
        return
    assert CiConfig(github_repository=REPO, session_hours=hours).session_hours == hours


@pytest.mark.parametrize("role", ROLES)
def test_the_roles_sessions_last_two_hours_by_default(bootstrap, role):
    assert _role_resource(bootstrap, "aws_iam_role", role)["max_session_duration"] == 7200


# -- what each role may do -------------------------------------------------------------------------------

@pytest.mark.parametrize("role", ROLES)
def test_no_statement_allows_a_wildcard_action_or_denies(bootstrap, role):
    policy = _policy(bootstrap, role)
    assert [a for a in _actions(policy) if "*" in a] == [] and all(s["Effect"] == "Allow" for s in policy["Statement"])


@pytest.mark.parametrize("role", ROLES)
def test_resource_star_only_for_actions_aws_authorizes_there(bootstrap, role):
    starred = {a for s in _policy(bootstrap, role)["Statement"] if "*" in _as_list(s["Resource"])
               for a in _as_list(s["Action"])}
    conditioned = {a for s in _policy(bootstrap, role)["Statement"] if "*" in _as_list(s["Resource"])
                   for a in _as_list(s["Action"]) if a in STAR_WITH_CONDITION_ACTIONS
                   and STAR_WITH_CONDITION_ACTIONS[a] in json.dumps(s.get("Condition", {}))}
    assert starred and starred <= STAR_ONLY_ACTIONS | conditioned


@pytest.mark.parametrize("role", ROLES)
def test_no_write_is_allowed_on_resource_star_but_the_one_aws_allows_only_there(bootstrap, role):
    starred = {a for s in _policy(bootstrap, role)["Statement"] if "*" in _as_list(s["Resource"])
               for a in _as_list(s["Action"]) if not _is_read(a)}
    assert starred == (STAR_WRITES if role != "plan" else set())


def test_the_plan_role_has_no_write_action_at_all(bootstrap):
    assert [a for a in _actions(_policy(bootstrap, "plan")) if not _is_read(a)] == []


@pytest.mark.parametrize("role", ["deploy-dev", "deploy-prod"])
def test_a_deploy_role_writes_only_what_a_release_changes(bootstrap, role):
    assert {a for a in _actions(_policy(bootstrap, role)) if not _is_read(a)} == RELEASE_WRITES


@pytest.mark.parametrize("role", ROLES)
def test_no_role_can_read_a_secret(bootstrap, role):
    assert not _allowed(_policy(bootstrap, role), "secretsmanager:GetSecretValue",
                        f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:rds!db-0123-abcdef")


@pytest.mark.parametrize("role", ROLES)
def test_kms_is_used_only_for_the_state_through_s3(bootstrap, role):
    policy = _policy(bootstrap, role)
    via_s3 = {"kms:ViaService": f"s3.{REGION}.amazonaws.com"}
    app_key = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1111-app-key"
    assert [_allowed(policy, "kms:Decrypt", STATE_KEY, **via_s3), _allowed(policy, "kms:Decrypt", STATE_KEY),
            _allowed(policy, "kms:Decrypt", app_key, **via_s3)] == [True, False, False]
    assert _allowed(policy, "kms:GenerateDataKey", STATE_KEY, **via_s3) == (role != "plan")


def test_the_plan_role_reads_every_state_and_writes_no_lock(bootstrap):
    policy = _policy(bootstrap, "plan")
    state = f"arn:aws:s3:::{BUCKET}/"
    assert [_allowed(policy, "s3:GetObject", state + "dev/terraform.tfstate"),
            _allowed(policy, "s3:GetObject", state + "prod/terraform.tfstate"),
            _allowed(policy, "s3:PutObject", state + "dev/terraform.tfstate.tflock")] == [True, True, False]


@pytest.mark.parametrize("environment, other", [("dev", "prod"), ("prod", "dev")])
def test_a_deploy_role_reads_and_writes_only_its_environments_state_and_deletes_only_its_lock(bootstrap, environment,
                                                                                             other):
    policy = _policy(bootstrap, f"deploy-{environment}")
    state = f"arn:aws:s3:::{BUCKET}/"
    mine, theirs = f"{state}{environment}/terraform.tfstate", f"{state}{other}/terraform.tfstate"
    assert {(action, key): _allowed(policy, action, key) for action in ("s3:GetObject", "s3:PutObject", "s3:DeleteObject")
            for key in (mine, mine + ".tflock", theirs, theirs + ".tflock")} == {
        ("s3:GetObject", mine): True, ("s3:GetObject", mine + ".tflock"): True,
        ("s3:GetObject", theirs): False, ("s3:GetObject", theirs + ".tflock"): False,
        ("s3:PutObject", mine): True, ("s3:PutObject", mine + ".tflock"): True,
        ("s3:PutObject", theirs): False, ("s3:PutObject", theirs + ".tflock"): False,
        ("s3:DeleteObject", mine): False, ("s3:DeleteObject", mine + ".tflock"): True,
        ("s3:DeleteObject", theirs): False, ("s3:DeleteObject", theirs + ".tflock"): False}


# -- Terraform's refresh ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def app_stacks(outdir) -> dict[str, dict]:
    """Every application stack the infra tests synthesize (the configured ones and the test-only variants)."""
    return {p.parent.name: json.loads(p.read_text()) for p in (outdir / "stacks").glob("*/cdk.tf.json")
            if p.parent.name != "bootstrap"}


def test_every_resource_and_data_source_type_of_the_app_stacks_has_its_refresh_reads(app_stacks):
    used = {f"{prefix}{rtype}" for stack in app_stacks.values() for kind, prefix in (("resource", ""), ("data", "data."))
            for rtype in stack.get(kind, {})}
    assert sorted(used - set(REFRESH_READS)) == [], "add the read actions of these types to REFRESH_READS"
    assert sorted(set(REFRESH_READS) - used) == [], "no app stack has these types: remove them from REFRESH_READS"


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
        "aws_cloudwatch_metric_alarm": [f"arn:aws:cloudwatch:{at}:alarm:{n}"
                                        for n in names("aws_cloudwatch_metric_alarm", "alarm_name")],
        "aws_cloudwatch_dashboard": [f"arn:aws:cloudwatch::{ACCOUNT}:dashboard/{n}"
                                     for n in names("aws_cloudwatch_dashboard", "dashboard_name")],
        "aws_sns_topic": [f"arn:aws:sns:{at}:{n}" for n in names("aws_sns_topic")],
        "aws_s3_bucket": [f"arn:aws:s3:::{n}20261128" for n in names("aws_s3_bucket", "bucket_prefix")],
        "aws_wafv2_web_acl": [f"arn:aws:wafv2:{at}:regional/webacl/{n}/0f1e2d" for n in names("aws_wafv2_web_acl")],
        "aws_wafv2_web_acl_association": [f"arn:aws:elasticloadbalancing:{at}:loadbalancer/app/{n}/0f1e2d"
                                          for n in names("aws_lb")],
    }


def _as_read(action: str, arn: str) -> str:
    """The ARN a read is authorized on for the request form the provider uses (security/authorization.py)."""
    if action == "rds:DescribeDBInstances":  # by DBI resource id, with a filter: db:*
        return arn.rsplit(":", 1)[0] + ":*"
    return arn


def _cluster(stack: dict) -> str:
    (cluster,) = [c["name"] for c in stack["resource"]["aws_ecs_cluster"].values()]
    return cluster


@pytest.mark.parametrize("role", ROLES)
def test_the_refresh_of_every_named_resource_is_allowed_on_its_arn(bootstrap, app_stacks, role):
    """The plan role refreshes every stack; a deploy role its own environment's, whatever its shape: each app
    stack is judged against the role of its own environment (this test's role, its prefix renamed)."""
    requests, denied = 0, []
    for stack in app_stacks.values():
        text = json.dumps(_policy(bootstrap, role))
        if role != "plan":
            text = text.replace(f"notes-{role.removeprefix('deploy-')}", _cluster(stack))
        policy = json.loads(text)
        for rtype, arns in _arns_of(stack).items():
            for action in REFRESH_READS[rtype]:
                if action in STAR_ONLY_ACTIONS:
                    continue
                for arn in arns:
                    requests += 1
                    if not _allowed(policy, action, _as_read(action, arn)):
                        denied.append((action, arn))
    assert requests > 100 and denied == []


@pytest.mark.parametrize("role", ROLES)
def test_resources_named_by_generated_ids_are_reached_only_through_the_tags(bootstrap, role):
    policy = _policy(bootstrap, role)
    key = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/2222-app-key"
    own = {"aws:ResourceTag/project": "notes", "aws:ResourceTag/environment": role.removeprefix("deploy-")
           if role != "plan" else "dev"}
    other_project = {**own, "aws:ResourceTag/project": "billing"}
    assert [_allowed(policy, "kms:DescribeKey", key, **own), _allowed(policy, "kms:DescribeKey", key, **other_project),
            _allowed(policy, "kms:DescribeKey", key)] == [True, False, False]


def test_a_deploy_role_reads_nothing_of_another_environment(bootstrap):
    policy = _policy(bootstrap, "deploy-dev")
    at = f"{REGION}:{ACCOUNT}"
    prod = [("ecs:DescribeServices", f"arn:aws:ecs:{at}:service/notes-prod/notes-prod-app"),
            ("iam:GetRole", f"arn:aws:iam::{ACCOUNT}:role/notes-prod-task"),
            ("logs:ListTagsForResource", f"arn:aws:logs:{at}:log-group:/ecs/notes-prod/app"),
            ("ecr:DescribeRepositories", f"arn:aws:ecr:{at}:repository/notes-prod/app"),
            ("rds:ListTagsForResource", f"arn:aws:rds:{at}:db:notes-prod")]
    tagged = {"aws:ResourceTag/project": "notes", "aws:ResourceTag/environment": "prod"}
    assert [a for a, r in prod if _allowed(policy, a, r)] == [] and \
        not _allowed(policy, "kms:DescribeKey", f"arn:aws:kms:{at}:key/3333", **tagged)


def test_an_arn_outside_the_project_is_read_by_no_role(bootstrap):
    others = [("iam:GetRole", "arn:aws:iam::1:role/admin"), ("s3:GetBucketPolicy", "arn:aws:s3:::other-bucket"),
              ("logs:ListTagsForResource", "arn:aws:logs:us-east-1:1:log-group:/ecs/other"),
              ("rds:ListTagsForResource", "arn:aws:rds:us-east-1:1:db:other-db"),
              ("ecr:DescribeRepositories", "arn:aws:ecr:us-east-1:1:repository/other/app")]
    assert [(r, a) for r in ROLES for a, arn in others if _allowed(_policy(bootstrap, r), a, arn)] == []


def test_resources_reached_through_the_tags_get_them_from_the_providers_default_tags(app_stacks):
    """Both tags the roles' conditions read: the project, and the environment whose names the stack uses."""
    tags = {name: stack["provider"]["aws"][0]["default_tags"][0]["tags"] for name, stack in app_stacks.items()}
    assert [name for name, t in tags.items() if t.get(PROJECT_TAG) != "notes"
            or f"notes-{t.get('environment')}" != _cluster(app_stacks[name])] == []


@pytest.mark.parametrize("role", ROLES)
def test_the_inline_policy_fits_iams_limit_once_references_are_resolved(bootstrap, role):
    assert len(json.dumps(_policy(bootstrap, role), separators=(",", ":"))) < INLINE_POLICY_LIMIT


# -- the state's encryption, the outputs, the settings -----------------------------------------------------

def test_the_state_bucket_encrypts_with_a_rotating_key_of_its_own_that_every_backend_names(bootstrap, app_stacks):
    from infra.environments import BOOTSTRAP

    (sse,) = bootstrap["resource"]["aws_s3_bucket_server_side_encryption_configuration"].values()
    default = sse["rule"][0]["apply_server_side_encryption_by_default"]
    (key_name,) = bootstrap["resource"]["aws_kms_key"]
    (alias,) = bootstrap["resource"]["aws_kms_alias"].values()
    backends = {name: stack["terraform"]["backend"]["s3"].get("kms_key_id") for name, stack in app_stacks.items()}
    assert (default["sse_algorithm"], default["kms_master_key_id"]) == ("aws:kms", f"${{aws_kms_key.{key_name}.arn}}")
    assert bootstrap["resource"]["aws_kms_key"][key_name]["enable_key_rotation"] is True
    assert alias["name"] == "alias/tfstate-notes-state-test"
    assert set(backends.values()) == {BOOTSTRAP.state_key_alias}


def test_the_bootstrap_stack_outputs_each_environments_deploy_role_and_the_plan_role(bootstrap):
    deploy = bootstrap["output"]["ci_deploy_role_arns"]["value"]
    assert {env: re.sub(r"_[0-9A-F]{8}\.", ".", v) for env, v in deploy.items()} == {
        "dev": "${aws_iam_role.ci_deploy-role-dev.arn}", "prod": "${aws_iam_role.ci_deploy-role-prod.arn}"}
    assert re.sub(r"_[0-9A-F]{8}\.", ".", bootstrap["output"]["ci_plan_role_arn"]["value"]) == \
        "${aws_iam_role.ci_plan-role.arn}"


def test_without_ci_settings_the_bootstrap_stack_has_no_role(tmp_path_factory):
    stack = _synth(tmp_path_factory, BootstrapConfig(state_bucket=BUCKET))
    assert "aws_iam_role" not in stack["resource"]


@pytest.mark.parametrize("settings, message", [
    (dict(github_repository="notes-service"), r"bootstrap.ci.github_repository: 'notes-service' is not allowed: use owner/name"),
    (dict(github_repository="example-org/notes", branch="release/*"), r"bootstrap.ci.branch: 'release/\*' is not allowed"),
    (dict(github_repository="example-org/notes", branch="refs/heads/main"), r"bootstrap.ci.branch: .* no refs/heads/ prefix"),
    (dict(github_repository="example-org/notes", environments=("prod*",)), r"bootstrap.ci.environments: 'prod\*'"),
    (dict(github_repository="example-org/notes", oidc_provider="reuse"),
     r"bootstrap.ci.oidc_provider: 'reuse' is not allowed: use 'create' or 'existing'"),
])
def test_a_ci_setting_that_could_widen_the_trust_or_is_unknown_is_refused(settings, message):
    with pytest.raises(ConfigError, match=message):
        CiConfig(**settings)

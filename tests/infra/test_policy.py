"""The security policy Aspect: each rule fails synthesis for a violating resource and names it.

Every test synthesizes a tiny stack of its own (no provider code beyond what it uses) into tmp_path.
"""
import json
import os
import re

import pytest
from cdktf import App, Aspects, TerraformDataSource, TerraformResource, TerraformStack
from cdktf_cdktf_provider_aws.iam_role_policy import IamRolePolicy
from cdktf_cdktf_provider_aws.provider import AwsProvider
from cdktf_cdktf_provider_aws.security_group import SecurityGroup
from cdktf_cdktf_provider_aws.vpc_security_group_ingress_rule import VpcSecurityGroupIngressRule

import main
from infra import environments
from infra.config import BOOTSTRAP_STACK
from infra.policy import SecurityPolicy, check, enforce


class TinyStack:
    """A stack with the policy applied; `add` makes any resource from its Terraform JSON attributes."""

    def __init__(self, tmp_path) -> None:
        self.app = App(outdir=str(tmp_path / "cdktf.out"))
        self.stack = TerraformStack(self.app, "tiny")
        AwsProvider(self.stack, "aws", region="us-east-1")
        enforce(self.stack)

    def add(self, rtype: str, id: str, /, **attributes) -> TerraformResource:
        resource = TerraformResource(self.stack, id, terraform_resource_type=rtype)
        for key, value in attributes.items():
            resource.add_override(key, value)
        return resource

    def synth(self) -> None:
        self.app.synth()


@pytest.fixture
def tiny(tmp_path) -> TinyStack:
    return TinyStack(tmp_path)


def refused(tiny: TinyStack, *fragments: str) -> str:
    """Synthesis fails, and its message names every fragment (the resource, the reason)."""
    with pytest.raises(RuntimeError, match="breaks the security policy") as failure:
        tiny.synth()
    message = str(failure.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in:\n{message}"
    assert not os.path.exists(os.path.join(tiny.app.outdir, "stacks", "tiny", "cdk.tf.json")), \
        "a refused stack was written"
    return message


def lb_group(tiny: TinyStack) -> SecurityGroup:
    group = SecurityGroup(tiny.stack, "alb-sg", name="alb")
    tiny.add("aws_lb", "alb", load_balancer_type="application", security_groups=[group.id])
    return group


# --- 1. Ingress from anywhere ---

def test_ingress_from_anywhere_into_a_group_that_is_not_a_load_balancers_is_refused(tiny):
    group = SecurityGroup(tiny.stack, "tasks-sg", name="tasks")
    VpcSecurityGroupIngressRule(tiny.stack, "ssh", security_group_id=group.id, ip_protocol="tcp", from_port=22,
                                to_port=22, cidr_ipv4="0.0.0.0/0")
    refused(tiny, "aws_vpc_security_group_ingress_rule.ssh", "tiny/ssh", "ingress from 0.0.0.0/0 (tcp 22-22)")


def test_ipv6_ingress_from_anywhere_on_a_load_balancer_port_other_than_80_or_443_is_refused(tiny):
    group = lb_group(tiny)
    VpcSecurityGroupIngressRule(tiny.stack, "admin", security_group_id=group.id, ip_protocol="tcp",
                                from_port=8080, to_port=8080, cidr_ipv6="::/0")
    refused(tiny, "aws_vpc_security_group_ingress_rule.admin", "ingress from ::/0 (tcp 8080-8080)")


def test_a_port_range_from_anywhere_that_spans_80_and_443_is_refused(tiny):
    group = lb_group(tiny)
    VpcSecurityGroupIngressRule(tiny.stack, "range", security_group_id=group.id, ip_protocol="tcp",
                                from_port=80, to_port=443, cidr_ipv4="0.0.0.0/0")
    refused(tiny, "aws_vpc_security_group_ingress_rule.range")


def test_inline_and_legacy_rule_ingress_from_anywhere_is_refused(tiny):
    tiny.add("aws_security_group", "inline", ingress=[{"protocol": "tcp", "from_port": 5432, "to_port": 5432,
                                                       "cidr_blocks": ["0.0.0.0/0"]}])
    group = SecurityGroup(tiny.stack, "db-sg", name="db")
    tiny.add("aws_security_group_rule", "legacy", type="ingress", security_group_id=group.id, protocol="-1",
             from_port=0, to_port=0, cidr_blocks=["10.0.0.0/8"], ipv6_cidr_blocks=["::/0"])
    refused(tiny, "aws_security_group.inline", "aws_security_group_rule.legacy")


def test_the_load_balancer_may_accept_http_and_https_from_anywhere(tiny):
    group = lb_group(tiny)
    for port in (80, 443):
        VpcSecurityGroupIngressRule(tiny.stack, f"web-{port}", security_group_id=group.id, ip_protocol="tcp",
                                    from_port=port, to_port=port, cidr_ipv4="0.0.0.0/0")
    tiny.synth()


# --- 2. IAM statements ---

def role_policy(tiny: TinyStack, *statements: dict) -> None:
    """An inline role policy built as ours are: json.dumps over a token ("ARN" becomes a parameter's ARN)."""
    arn = tiny.add("aws_ssm_parameter", "param", name="p", type="String", value="v").get_string_attribute("arn")
    statements = tuple({**s, "Resource": arn} if s.get("Resource") == "ARN" else s for s in statements)
    IamRolePolicy(tiny.stack, "role-policy", role="app", policy=json.dumps({"Version": "2012-10-17",
                                                                          "Statement": list(statements)}))


@pytest.mark.parametrize("action", ["*", "s3:*"])
def test_an_allowed_wildcard_action_is_refused(tiny, action):
    role_policy(tiny, {"Sid": "Everything", "Effect": "Allow", "Action": action, "Resource": "ARN"})
    refused(tiny, "aws_iam_role_policy.role-policy", f"statement 'Everything' allows the wildcard action '{action}'")


def test_not_action_and_not_resource_are_refused(tiny):
    role_policy(tiny, {"Effect": "Allow", "NotAction": "iam:*", "Resource": "ARN"},
                {"Effect": "Allow", "Action": "s3:GetObject", "NotResource": "ARN"})
    refused(tiny, "allows NotAction", "allows NotResource")


def test_resource_star_is_refused_beyond_the_actions_that_require_it(tiny):
    role_policy(tiny, {"Sid": "EcrLogin", "Effect": "Allow", "Action": ["ecr:GetAuthorizationToken"], "Resource": "*"},
                {"Sid": "ReadAll", "Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "*"})
    message = refused(tiny, "statement 'ReadAll' allows s3:GetObject on Resource '*'")
    assert "EcrLogin" not in message


def test_a_deny_may_use_wildcards(tiny):
    role_policy(tiny, {"Effect": "Deny", "Action": "s3:*", "Resource": "*",
                       "Condition": {"Bool": {"aws:SecureTransport": "false"}}})
    tiny.synth()


def test_resource_star_in_a_kms_key_policy_means_the_key_and_is_allowed(tiny):
    tiny.add("aws_kms_key", "key", enable_key_rotation=True, policy=json.dumps({"Statement": [
        {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": ["kms:Decrypt"],
         "Resource": "*"}]}))
    tiny.synth()


def test_a_resource_policy_that_allows_anyone_without_a_condition_is_refused(tiny):
    tiny.add("aws_sqs_queue_policy", "open", queue_url="q", policy=json.dumps({"Statement": [
        {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sqs:SendMessage", "Resource": "arn:aws:sqs:::q"}]}))
    refused(tiny, "aws_sqs_queue_policy.open", "allows Principal '*' (anyone) without a condition")


def test_a_policy_document_data_source_is_checked_too(tiny):
    doc = TerraformDataSource(tiny.stack, "doc", terraform_resource_type="aws_iam_policy_document")
    doc.add_override("statement", [{"actions": ["*"], "resources": ["arn:aws:s3:::b/*"]}])
    tiny.add("aws_iam_policy", "from-doc", policy="${data.aws_iam_policy_document.doc.json}")
    message = refused(tiny, "data.aws_iam_policy_document.doc", "wildcard action '*'")
    assert "aws_iam_policy.from-doc" not in message


def test_an_iam_policy_the_aspect_cannot_read_is_refused(tiny):
    tiny.add("aws_iam_policy", "opaque", policy="${jsonencode({Statement = []})}")
    refused(tiny, "aws_iam_policy.opaque", "policy is not JSON this policy can read")


# --- 3. Log retention ---

@pytest.mark.parametrize("retention", [None, 0])
def test_a_log_group_without_retention_is_refused(tiny, retention):
    attributes = {"kms_key_id": "arn:aws:kms:us-east-1:123456789012:key/k"}
    if retention is not None:
        attributes["retention_in_days"] = retention
    tiny.add("aws_cloudwatch_log_group", "forever", **attributes)
    refused(tiny, "aws_cloudwatch_log_group.forever", "log group has no retention_in_days")


# --- 4. Encryption at rest ---

@pytest.mark.parametrize("rtype, attributes, reason", [
    ("aws_db_instance", {"storage_encrypted": False}, "storage is not encrypted at rest: set storage_encrypted"),
    ("aws_rds_cluster", {}, "set storage_encrypted"),
    ("aws_ebs_volume", {"encrypted": False}, "set encrypted"),
    ("aws_efs_file_system", {}, "set encrypted"),
    ("aws_elasticache_replication_group", {}, "set at_rest_encryption_enabled"),
    ("aws_cloudwatch_log_group", {"retention_in_days": 30}, "set kms_key_id"),
    ("aws_sns_topic", {}, "set kms_master_key_id"),
    ("aws_sqs_queue", {"sqs_managed_sse_enabled": False}, "queue is not encrypted at rest"),
    ("aws_ecr_repository", {}, "repository is not encrypted with a KMS key"),
    ("aws_ecr_repository", {"encryption_configuration": [{"encryption_type": "AES256"}]}, "with a KMS key"),
    ("aws_s3_bucket", {}, "bucket has no server-side encryption configuration"),
    ("aws_kms_key", {"enable_key_rotation": False}, "key does not rotate"),
])
def test_unencrypted_storage_is_refused(tiny, rtype, attributes, reason):
    tiny.add(rtype, "store", **attributes)
    refused(tiny, f"{rtype}.store", reason)


def test_a_bucket_with_its_encryption_configuration_is_accepted(tiny):
    tiny.add("aws_s3_bucket", "logs")
    tiny.add("aws_s3_bucket_server_side_encryption_configuration", "logs-sse", bucket="${aws_s3_bucket.logs.id}",
             rule=[{"apply_server_side_encryption_by_default": {"sse_algorithm": "AES256"}}])
    tiny.synth()


# --- 5. Tasks ---

def test_a_service_whose_tasks_get_a_public_ip_is_refused(tiny):
    tiny.add("aws_ecs_service", "public", name="web", network_configuration={"subnets": ["s"], "assign_public_ip": True})
    refused(tiny, "aws_ecs_service.public", "tasks get a public IP")


def task(tiny: TinyStack, **container) -> None:
    tiny.add("aws_ecs_task_definition", "task", family="t",
             container_definitions=json.dumps([{"name": "app", "image": "app:1", **container}]))


def test_a_privileged_container_is_refused(tiny):
    task(tiny, privileged=True)
    refused(tiny, "aws_ecs_task_definition.task", "container 'app' is privileged")


def test_container_definitions_the_aspect_cannot_read_are_refused(tiny):
    tiny.add("aws_ecs_task_definition", "opaque", family="t", container_definitions="${jsonencode([])}")
    refused(tiny, "aws_ecs_task_definition.opaque", "container_definitions is not JSON")


# --- 6. Secrets in plain environment variables ---

@pytest.mark.parametrize("variable, value", [
    ("DB_PASSWORD", "hunter2"), ("STRIPE_API_KEY", "sk_live_x"), ("GITHUB_TOKEN", "${var.token}"),
    ("JWT_PRIVATE_KEY", "k"), ("APP_SECRET", "s"), ("DB_SECRET_ARN", "not-an-arn"),
])
def test_a_plain_environment_variable_that_looks_like_a_secret_is_refused(tiny, variable, value):
    task(tiny, environment=[{"name": "PORT", "value": "8000"}, {"name": variable, "value": value}])
    refused(tiny, "aws_ecs_task_definition.task", f"environment variable {variable} looks like a secret")


def test_a_url_with_a_password_in_a_plain_environment_variable_is_refused(tiny):
    task(tiny, environment=[{"name": "DATABASE_URL", "value": "postgresql://app:hunter2@db:5432/app"}])
    refused(tiny, "environment variable DATABASE_URL holds a URL with a password")


def test_a_lambda_function_environment_is_checked_too(tiny):
    tiny.add("aws_lambda_function", "fn", function_name="f", role="r",
             environment={"variables": {"API_KEY": "abc"}})
    refused(tiny, "aws_lambda_function.fn", "environment variable API_KEY looks like a secret")


def test_an_arn_naming_where_a_secret_lives_and_secrets_from_secrets_manager_are_accepted(tiny):
    arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf"
    task(tiny, environment=[{"name": "DB_SECRET_ARN", "value": "${aws_db_instance.db.master_user_secret[0].secret_arn}"},
                            {"name": "API_KEY_SECRET_ARN", "value": arn}],
         secrets=[{"name": "DB_PASSWORD", "valueFrom": f"{arn}:password::"}])
    tiny.synth()


# --- The policy as a whole ---

def test_every_violation_in_a_stack_is_reported_at_once(tiny):
    tiny.add("aws_cloudwatch_log_group", "a", kms_key_id="k")
    tiny.add("aws_ebs_volume", "b", availability_zone="us-east-1a", size=1)
    message = refused(tiny, "aws_cloudwatch_log_group.a", "aws_ebs_volume.b")
    assert "stack 'tiny' breaks the security policy (infra/policy.py)" in message


def test_cdktf_annotations_bypass_variable_does_not_skip_the_policy(tiny, monkeypatch):
    monkeypatch.setenv("CDKTF_CONTINUE_SYNTH_ON_ERROR_ANNOTATIONS", "true")
    tiny.add("aws_cloudwatch_log_group", "forever", kms_key_id="k")
    refused(tiny, "aws_cloudwatch_log_group.forever")


def test_every_synthesized_stack_complies(outdir):
    for path in sorted(outdir.glob("stacks/*/cdk.tf.json")):
        assert check(json.loads(path.read_text())) == [], path.parent.name


def test_every_stack_the_repository_builds_carries_the_policy(tmp_path):
    from infra.stacks import build
    app = App(outdir=str(tmp_path / "cdktf.out"))
    build(app, environments.BOOTSTRAP, list(environments.ENVIRONMENTS.values()))
    stacks = [c for c in app.node.children if isinstance(c, TerraformStack)]
    assert [s.node.id for s in stacks] == [BOOTSTRAP_STACK, *environments.ENVIRONMENTS]
    assert all(any(isinstance(a, SecurityPolicy) for a in Aspects.of(s).all) for s in stacks)


def test_main_writes_nothing_when_a_stack_breaks_the_policy(tmp_path, monkeypatch, capsys):
    # GIVEN a previous output, and a build that adds a log group without retention to the first environment
    import infra.stacks
    previous = tmp_path / "cdktf.out" / "marker"
    previous.parent.mkdir()
    previous.write_text("previous synth")
    real_build = infra.stacks.build
    first = next(iter(environments.ENVIRONMENTS))

    def build_with_violation(app, bootstrap, envs, endpoint=None):
        names = real_build(app, bootstrap, envs, endpoint)
        stack = app.node.find_child(first)
        TerraformResource(stack, "forever", terraform_resource_type="aws_cloudwatch_log_group").add_override(
            "kms_key_id", "k")
        return names

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ENVIRONMENTS", first)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setattr(infra.stacks, "build", build_with_violation)
    # WHEN main.py synthesizes THEN it fails naming the resource, and leaves the previous output alone
    assert main.main() == 1
    error = capsys.readouterr().err
    assert re.search(rf"aws_cloudwatch_log_group\.forever \({first}/forever\): log group has no", error)
    assert "nothing was written; the previous cdktf.out is unchanged" in error
    assert [p.name for p in tmp_path.iterdir()] == ["cdktf.out"]
    assert [p.name for p in (tmp_path / "cdktf.out").iterdir()] == ["marker"]

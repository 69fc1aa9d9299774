"""SecurityPolicy: the Aspect that fails synthesis when a stack breaks one of our rules.

It judges each stack by the Terraform JSON it is about to become (references resolved, escape-hatch
overrides applied), so a rule holds whatever construct produced the resource. The rules:

1. Ingress from 0.0.0.0/0 or ::/0 only into a load balancer's security group, only TCP 80 or 443
   (inline `ingress` blocks, `aws_security_group_rule` and `aws_vpc_security_group_ingress_rule`).
2. An IAM statement that allows: no `*` or `service:*` action and no `NotAction`; no `*` resource and
   no `NotResource`, except for actions that have no resource-level permissions (STAR_ONLY_ACTIONS), for
   those narrowed by a condition key instead (STAR_WITH_CONDITION_ACTIONS, with that key in a condition)
   and in a KMS key policy, where `*` means the key itself; no `Principal: "*"` without a condition.
   Every `policy`, `assume_role_policy` and `policy_document` of every resource is read, and
   `aws_iam_policy_document` data sources; an IAM policy the Aspect cannot parse is refused.
3. A log group has a finite `retention_in_days`.
4. Storage is encrypted at rest: ENCRYPTED_ATTRIBUTES below, an ECR repository with a KMS key, an S3
   bucket with a server-side encryption configuration, an SQS queue with SSE, and KMS keys rotate.
5. No ECS task gets a public IP; no container is privileged.
6. No plain environment variable (ECS container, Lambda) holds a secret: a name that looks like one
   (SECRET_NAME) must come from `secrets`, unless it ends in `_ARN` and its value is an ARN or a
   reference (it says where the secret lives, not what it is); no value is a URL with a password.

A violation is annotated on the construct that made it and raised as PolicyError naming every
offending resource, so `app.synth()` fails and writes nothing for that stack. cdktf would also fail on
the annotations alone, but lets CDKTF_CONTINUE_SYNTH_ON_ERROR_ANNOTATIONS skip them: raising ourselves
keeps these rules unskippable.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import jsii
from cdktf import Annotations, Aspects, IAspect, TerraformElement, TerraformStack
from constructs import IConstruct

# Every PolicyError message says this; main.py recognizes a violation by it after jsii wraps the error.
VIOLATION = "breaks the security policy"
OPEN_CIDRS = ("0.0.0.0/0", "::/0")
PUBLIC_PORTS = (80, 443)
# Actions AWS authorizes only against Resource "*": the Service Authorization Reference lists no resource
# type for them (so naming a resource would deny them). Each is named; never a wildcard such as ec2:Describe*.
STAR_ONLY_ACTIONS = frozenset({
    # ECR's login token is for the registry, not a repository; ECS task definitions are read and deregistered
    # by revision ARN, which these two actions do not accept (RegisterTaskDefinition does: not here).
    "ecr:GetAuthorizationToken", "ecs:DescribeTaskDefinition", "ecs:DeregisterTaskDefinition",
    # Listing a family's revisions (the release's history: `status`, `rollback`) names no resource either.
    "ecs:ListTaskDefinitions",
    # Terraform's refresh of the app stacks (infra/ci_identity.py REFRESH_READS): EC2's Describe calls,
    # ELBv2's, Application Auto Scaling's, CloudWatch Logs' and KMS's listings are all account-wide reads.
    "ec2:DescribeAddresses", "ec2:DescribeAddressesAttribute", "ec2:DescribeAvailabilityZones",
    "ec2:DescribeFlowLogs", "ec2:DescribeInternetGateways", "ec2:DescribeNatGateways", "ec2:DescribeNetworkAcls",
    "ec2:DescribePrefixLists", "ec2:DescribeRouteTables", "ec2:DescribeSecurityGroupRules",
    "ec2:DescribeSecurityGroups", "ec2:DescribeSubnets", "ec2:DescribeVpcEndpoints", "ec2:DescribeVpcs",
    "elasticloadbalancing:DescribeCapacityReservation", "elasticloadbalancing:DescribeListenerAttributes",
    "elasticloadbalancing:DescribeListeners", "elasticloadbalancing:DescribeLoadBalancerAttributes",
    "elasticloadbalancing:DescribeLoadBalancers", "elasticloadbalancing:DescribeTags",
    "elasticloadbalancing:DescribeTargetGroupAttributes", "elasticloadbalancing:DescribeTargetGroups",
    "application-autoscaling:DescribeScalableTargets", "application-autoscaling:DescribeScalingPolicies",
    # Saved Logs Insights queries are an account's list: the reference names no resource type for the read.
    "logs:DescribeQueryDefinitions",
    "logs:DescribeLogGroups", "kms:ListAliases",
})
# Actions AWS authorizes on Resource "*" for a request form that names no resource, narrowed only by a condition
# key: allowed on "*" only with a condition on that key. ecs:ListTasks without a container instance: the ECS
# Developer Guide's resource-level permissions table (ListTasks: "*", condition key ecs:cluster).
STAR_WITH_CONDITION_ACTIONS = {"ecs:ListTasks": "ecs:cluster"}
# Resource policies of a KMS key, where Resource "*" means that key.
KEY_POLICY_TYPES = frozenset({"aws_kms_key", "aws_kms_key_policy", "aws_kms_replica_key", "aws_kms_external_key"})
# Attributes holding IAM policy JSON, on whatever resource type carries them.
POLICY_ATTRIBUTES = ("policy", "assume_role_policy", "policy_document")
# Types whose `policy` must be IAM JSON (others, such as aws_ecr_lifecycle_policy, use the name for other JSON).
IAM_POLICY_TYPES = frozenset({
    "aws_iam_role", "aws_iam_role_policy", "aws_iam_policy", "aws_iam_user_policy", "aws_iam_group_policy",
    "aws_s3_bucket_policy", "aws_secretsmanager_secret_policy", "aws_ecr_repository_policy", "aws_sns_topic_policy",
    "aws_sqs_queue_policy", "aws_cloudwatch_log_resource_policy", *KEY_POLICY_TYPES})
POLICY_DOCUMENT_REF = re.compile(r"^\$\{data\.aws_iam_policy_document\.[^}]+\.json\}$")
# resource type -> attribute that must be true (or, for key ids, set).
ENCRYPTED_ATTRIBUTES = {
    "aws_db_instance": "storage_encrypted",
    "aws_rds_cluster": "storage_encrypted",
    "aws_ebs_volume": "encrypted",
    "aws_efs_file_system": "encrypted",
    "aws_elasticache_replication_group": "at_rest_encryption_enabled",
    "aws_cloudwatch_log_group": "kms_key_id",
    "aws_sns_topic": "kms_master_key_id",
}
SECRET_NAME = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|PRIVATE_?KEY|ACCESS_?KEY|CREDENTIAL", re.I)
ARN_OR_REFERENCE = re.compile(r"^(arn:\S+|\$\{[^{}]+\})$")
URL_WITH_PASSWORD = re.compile(r"://[^/\s:@]+:[^/\s@]+@")


class PolicyError(ValueError):
    """A stack breaks the security policy. The message names every offending resource."""


@dataclass(frozen=True)
class Violation:
    kind: str
    """`resource` or `data`."""
    type: str
    name: str
    message: str

    @property
    def address(self) -> str:
        return f"{'data.' if self.kind == 'data' else ''}{self.type}.{self.name}"


@jsii.implements(IAspect)
class SecurityPolicy:
    """Visits stacks only: the rules need the whole stack (a bucket and its encryption, a rule and its group)."""

    def visit(self, node: IConstruct) -> None:
        if not isinstance(node, TerraformStack):
            return
        violations = check(node.to_terraform())
        if not violations:
            return
        elements = {}
        for element in node.node.find_all():
            if isinstance(element, TerraformElement) and hasattr(element, "terraform_resource_type"):
                elements[(element.terraform_resource_type, node.get_logical_id(element))] = element
        lines = []
        for v in violations:
            element = elements.get((v.type, v.name))
            path = element.node.path if element is not None else node.node.path
            Annotations.of(element or node).add_error(f"security policy: {v.message}")
            lines.append(f"  {v.address} ({path}): {v.message}")
        raise PolicyError(f"stack {node.node.id!r} {VIOLATION} (infra/policy.py):\n" + "\n".join(lines))


def enforce(stack: TerraformStack) -> None:
    """Check `stack` against the policy when it is synthesized. (cdktf 0.21 ignores Aspects added to the App.)"""
    Aspects.of(stack).add(SecurityPolicy())


def check(tf: dict) -> list[Violation]:
    """Every violation in one stack's Terraform JSON."""
    found: list[Violation] = []
    for rule in RULES:
        found.extend(rule(tf))
    return found


Rule = Callable[[dict], Iterator[Violation]]


def _items(tf: dict, kind: str = "resource") -> Iterator[tuple[str, str, dict]]:
    for rtype, by_name in tf.get(kind, {}).items():
        for name, config in by_name.items():
            yield rtype, name, config


def _blocks(value: Any) -> list[dict]:
    """A nested block as a list: Terraform JSON allows one object or a list of them."""
    if value is None:
        return []
    return [b for b in (value if isinstance(value, list) else [value]) if isinstance(b, dict)]


def _list(value: Any) -> list:
    return [] if value is None else value if isinstance(value, list) else [value]


def _true(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


def _port(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _is_public_web_port(protocol: Any, from_port: Any, to_port: Any) -> bool:
    return str(protocol).lower() in ("tcp", "6") and _port(from_port) == _port(to_port) and \
        _port(from_port) in PUBLIC_PORTS


def _open_ingress(tf: dict) -> Iterator[Violation]:
    lb_groups = {group for rtype, _, lb in _items(tf) if rtype in ("aws_lb", "aws_alb")
                 for group in _list(lb.get("security_groups"))}

    def judge(rtype: str, name: str, group: Any, cidrs: list, protocol: Any, from_port: Any,
              to_port: Any) -> Iterator[Violation]:
        for cidr in (c for c in cidrs if c in OPEN_CIDRS):
            if group in lb_groups and _is_public_web_port(protocol, from_port, to_port):
                continue
            yield Violation("resource", rtype, name, (
                f"ingress from {cidr} ({protocol} {from_port}-{to_port}): only a load balancer's security group "
                f"may accept traffic from anywhere, and only on TCP {' or '.join(map(str, PUBLIC_PORTS))}"))

    for rtype, name, config in _items(tf):
        if rtype == "aws_vpc_security_group_ingress_rule":
            yield from judge(rtype, name, config.get("security_group_id"),
                             [config.get("cidr_ipv4"), config.get("cidr_ipv6")],
                             config.get("ip_protocol"), config.get("from_port"), config.get("to_port"))
        elif rtype == "aws_security_group_rule" and config.get("type") == "ingress":
            yield from judge(rtype, name, config.get("security_group_id"),
                             _list(config.get("cidr_blocks")) + _list(config.get("ipv6_cidr_blocks")),
                             config.get("protocol"), config.get("from_port"), config.get("to_port"))
        elif rtype == "aws_security_group":
            for block in _blocks(config.get("ingress")):
                yield from judge(rtype, name, f"${{aws_security_group.{name}.id}}",
                                 _list(block.get("cidr_blocks")) + _list(block.get("ipv6_cidr_blocks")),
                                 block.get("protocol"), block.get("from_port"), block.get("to_port"))


def _condition_keys(condition: Any) -> set[str]:
    """The keys a Condition tests: JSON (`{operator: {key: values}}`) or a policy document's blocks (`variable`)."""
    if isinstance(condition, dict):
        return {key for block in condition.values() if isinstance(block, dict) for key in block}
    return {str(block.get("variable")) for block in _blocks(condition)}


def _statement_problems(statement: dict, key_policy: bool) -> Iterator[str]:
    """What is wrong with one IAM statement (JSON form)."""
    if statement.get("Effect", "Allow") != "Allow":
        return
    sid = f"statement {statement['Sid']!r}" if statement.get("Sid") else "a statement"
    actions = [str(a) for a in _list(statement.get("Action"))]
    if "NotAction" in statement:
        yield f"{sid} allows NotAction, i.e. every other action: name the actions"
    wild = [a for a in actions if a == "*" or a.endswith(":*")]
    if wild:
        yield f"{sid} allows the wildcard action {wild[0]!r}: name the actions"
    if "NotResource" in statement:
        yield f"{sid} allows NotResource, i.e. every other resource: name the resources"
    conditioned = {a for a, key in STAR_WITH_CONDITION_ACTIONS.items() if key in _condition_keys(statement.get("Condition"))}
    if "*" in _list(statement.get("Resource")) and not key_policy and \
            not (actions and set(actions) <= STAR_ONLY_ACTIONS | conditioned):
        yield (f"{sid} allows {', '.join(actions) or 'its actions'} on Resource '*': name the resources "
               "('*' is allowed only for actions AWS authorizes on '*' alone, STAR_ONLY_ACTIONS in infra/policy.py, "
               "and in KMS key policies)")
    principal = statement.get("Principal")
    if (principal == "*" or (isinstance(principal, dict) and "*" in _list(principal.get("AWS")))) \
            and not statement.get("Condition"):
        yield f"{sid} allows Principal '*' (anyone) without a condition"


def _iam_policies(tf: dict) -> Iterator[Violation]:
    for rtype, name, config in _items(tf):
        documents = [(attr, config.get(attr)) for attr in POLICY_ATTRIBUTES]
        documents += [("inline_policy", block.get("policy")) for block in _blocks(config.get("inline_policy"))]
        for attr, text in documents:
            if not isinstance(text, str) or POLICY_DOCUMENT_REF.match(text):
                continue  # absent, or an aws_iam_policy_document, which is checked as a data source
            try:
                policy = json.loads(text)
            except ValueError:
                if rtype in IAM_POLICY_TYPES:
                    yield Violation("resource", rtype, name, f"{attr} is not JSON this policy can read: "
                                    "build it with json.dumps or an aws_iam_policy_document")
                continue
            if not isinstance(policy, dict) or "Statement" not in policy:
                continue  # not IAM JSON (e.g. an ECR lifecycle policy)
            for statement in _blocks(policy["Statement"]):
                for problem in _statement_problems(statement, key_policy=rtype in KEY_POLICY_TYPES):
                    yield Violation("resource", rtype, name, f"{attr}: {problem}")
    for rtype, name, config in _items(tf, "data"):
        if rtype != "aws_iam_policy_document":
            continue
        for block in _blocks(config.get("statement")):
            statement = {"Effect": block.get("effect", "Allow"), "Action": block.get("actions")}
            if block.get("sid"):
                statement["Sid"] = block["sid"]
            for hcl, key in (("not_actions", "NotAction"), ("resources", "Resource"), ("not_resources", "NotResource"),
                             ("condition", "Condition")):
                if block.get(hcl):
                    statement[key] = block[hcl]
            identifiers = [i for p in _blocks(block.get("principals")) if p.get("type") in ("AWS", "*")
                           for i in _list(p.get("identifiers"))]
            if "*" in identifiers:
                statement["Principal"] = "*"
            for problem in _statement_problems(statement, key_policy=False):
                yield Violation("data", rtype, name, problem)


def _log_retention(tf: dict) -> Iterator[Violation]:
    for rtype, name, config in _items(tf):
        if rtype == "aws_cloudwatch_log_group" and not config.get("retention_in_days"):
            yield Violation("resource", rtype, name, "log group has no retention_in_days: CloudWatch would keep "
                            "(and bill) its logs forever; set a finite retention")


def _encryption(tf: dict) -> Iterator[Violation]:
    resources = tf.get("resource", {})
    encrypted_buckets = {str(config.get("bucket"))
                         for config in resources.get("aws_s3_bucket_server_side_encryption_configuration", {}).values()}
    for rtype, name, config in _items(tf):
        attribute = ENCRYPTED_ATTRIBUTES.get(rtype)
        if attribute and not (_true(config.get(attribute)) or (attribute.endswith("key_id") and config.get(attribute))):
            yield Violation("resource", rtype, name, f"storage is not encrypted at rest: set {attribute}")
        elif rtype == "aws_ecr_repository":
            kinds = [b.get("encryption_type") for b in _blocks(config.get("encryption_configuration"))]
            if kinds != ["KMS"]:
                yield Violation("resource", rtype, name, "repository is not encrypted with a KMS key: "
                                "set encryption_configuration with encryption_type KMS")
        elif rtype == "aws_s3_bucket":
            refs = {f"${{aws_s3_bucket.{name}.{attr}}}" for attr in ("id", "bucket")} | {str(config.get("bucket"))}
            if not (refs & encrypted_buckets or config.get("server_side_encryption_configuration")):
                yield Violation("resource", rtype, name, "bucket has no server-side encryption configuration: "
                                "add an aws_s3_bucket_server_side_encryption_configuration for it")
        elif rtype == "aws_sqs_queue" and not (config.get("kms_master_key_id") or
                                               _true(config.get("sqs_managed_sse_enabled"))):
            yield Violation("resource", rtype, name, "queue is not encrypted at rest: set kms_master_key_id "
                            "or sqs_managed_sse_enabled")
        elif rtype == "aws_kms_key" and config.get("customer_master_key_spec", "SYMMETRIC_DEFAULT") == \
                "SYMMETRIC_DEFAULT" and not _true(config.get("enable_key_rotation")):
            yield Violation("resource", rtype, name, "key does not rotate: set enable_key_rotation")


def _environment_problem(variable: str, value: Any) -> str | None:
    if SECRET_NAME.search(variable) and not (variable.upper().endswith("_ARN") and
                                             ARN_OR_REFERENCE.match(str(value))):
        return (f"environment variable {variable} looks like a secret but is plain text: pass it in "
                "`secrets` (valueFrom Secrets Manager or SSM), or name where it lives with an _ARN variable")
    if URL_WITH_PASSWORD.search(str(value)):
        return f"environment variable {variable} holds a URL with a password: pass it in `secrets`"
    return None


def _tasks(tf: dict) -> Iterator[Violation]:
    for rtype, name, config in _items(tf):
        if rtype in ("aws_ecs_service", "aws_ecs_task_set"):
            if any(_true(b.get("assign_public_ip")) for b in _blocks(config.get("network_configuration"))):
                yield Violation("resource", rtype, name, "tasks get a public IP (assign_public_ip): run them in "
                                "private subnets behind the load balancer")
        elif rtype == "aws_ecs_task_definition":
            try:
                containers = json.loads(config.get("container_definitions", "[]"))
            except (TypeError, ValueError):
                yield Violation("resource", rtype, name, "container_definitions is not JSON this policy can "
                                "read: build it with json.dumps")
                continue
            for container in _blocks(containers):
                label = f"container {container.get('name')!r}"
                if _true(container.get("privileged")):
                    yield Violation("resource", rtype, name, f"{label} is privileged")
                for variable in _blocks(container.get("environment")):
                    problem = _environment_problem(str(variable.get("name")), variable.get("value"))
                    if problem:
                        yield Violation("resource", rtype, name, f"{label}: {problem}")
        elif rtype == "aws_lambda_function":
            for block in _blocks(config.get("environment")):
                for variable, value in (block.get("variables") or {}).items():
                    problem = _environment_problem(variable, value)
                    if problem:
                        yield Violation("resource", rtype, name, problem)


RULES: tuple[Rule, ...] = (_open_ingress, _iam_policies, _log_retention, _encryption, _tasks)

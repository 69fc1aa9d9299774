"""The rules of infra/policy.py on Terraform JSON, without synthesis: every rule, its edges and its message.

test_policy.py proves the Aspect end to end (a stack that breaks a rule is not written); these tests call
`check()` on the JSON a stack becomes, so they run in milliseconds (and under `make mutation`).
"""
import json

import pytest

from infra.policy import STAR_ONLY_ACTIONS, check

INGRESS_MESSAGE = ("ingress from {cidr} ({protocol} {low}-{high}): only a load balancer's security group may accept "
                   "traffic from anywhere, and only on TCP 80 or 443")
LB_GROUP = "${aws_security_group.alb.id}"


def found(tf: dict) -> list[tuple[str, str]]:
    """(address, message) of every violation, in the order check() reports them."""
    violations = check(tf)
    for v in violations:  # a resource's address is its type and name; a data source's starts with data.
        assert v.kind in ("resource", "data") and v.address == f"{'data.' if v.kind == 'data' else ''}{v.type}.{v.name}"
    return [(v.address, v.message) for v in violations]


def resources(**by_type: dict) -> dict:
    return {"resource": by_type}


def with_lb(**by_type: dict) -> dict:
    """A stack whose load balancer uses the group `alb`, plus `by_type`."""
    return resources(aws_lb={"lb": {"security_groups": [LB_GROUP]}}, **by_type)


def ingress_rule(group: str = LB_GROUP, **attributes) -> dict:
    return {"security_group_id": group, "ip_protocol": "tcp", "from_port": 443, "to_port": 443, **attributes}


# ---- 1. Ingress from anywhere ----

@pytest.mark.parametrize("lb_type", ["aws_lb", "aws_alb"])
@pytest.mark.parametrize("port", [80, 443, "80", "443"])
@pytest.mark.parametrize("protocol", ["tcp", "TCP", "6"])
def test_a_load_balancers_group_may_accept_http_and_https_from_anywhere(lb_type, port, protocol):
    tf = resources(**{lb_type: {"lb": {"security_groups": LB_GROUP}}},
                   aws_vpc_security_group_ingress_rule={
                       "v4": ingress_rule(cidr_ipv4="0.0.0.0/0", ip_protocol=protocol, from_port=port, to_port=port),
                       "v6": ingress_rule(cidr_ipv6="::/0", ip_protocol=protocol, from_port=port, to_port=port)})
    assert found(tf) == []


@pytest.mark.parametrize("protocol, low, high", [("tcp", 22, 22), ("udp", 443, 443), ("-1", 0, 0), ("tcp", 80, 443),
                                                 ("tcp", "x", "x"), ("tcp", None, None), ("17", 80, 80)])
def test_a_load_balancers_group_may_not_accept_anything_else_from_anywhere(protocol, low, high):
    tf = with_lb(aws_vpc_security_group_ingress_rule={"r": ingress_rule(
        cidr_ipv4="0.0.0.0/0", ip_protocol=protocol, from_port=low, to_port=high)})
    assert found(tf) == [("aws_vpc_security_group_ingress_rule.r", INGRESS_MESSAGE.format(
        cidr="0.0.0.0/0", protocol=protocol, low=low, high=high))]


def test_ingress_from_anywhere_into_another_group_is_refused_for_ipv4_and_ipv6():
    tf = with_lb(aws_vpc_security_group_ingress_rule={
        "r": ingress_rule(group="${aws_security_group.tasks.id}", cidr_ipv4="0.0.0.0/0", cidr_ipv6="::/0")})
    assert found(tf) == [
        ("aws_vpc_security_group_ingress_rule.r", INGRESS_MESSAGE.format(cidr="0.0.0.0/0", protocol="tcp", low=443, high=443)),
        ("aws_vpc_security_group_ingress_rule.r", INGRESS_MESSAGE.format(cidr="::/0", protocol="tcp", low=443, high=443))]


def test_ingress_from_a_private_range_is_not_the_policys_concern():
    tf = with_lb(aws_vpc_security_group_ingress_rule={
        "r": ingress_rule(group="${aws_security_group.tasks.id}", cidr_ipv4="10.0.0.0/8", cidr_ipv6="fd00::/8")})
    assert found(tf) == []


def test_legacy_rules_are_judged_on_both_cidr_lists_and_only_for_ingress():
    tf = with_lb(aws_security_group_rule={
        "in": {"type": "ingress", "security_group_id": "${aws_security_group.tasks.id}", "protocol": "tcp",
               "from_port": 22, "to_port": 22, "cidr_blocks": ["10.0.0.0/8", "0.0.0.0/0"], "ipv6_cidr_blocks": "::/0"},
        "lb": {"type": "ingress", "security_group_id": LB_GROUP, "protocol": "tcp", "from_port": 80, "to_port": 80,
               "cidr_blocks": ["0.0.0.0/0"]},
        "out": {"type": "egress", "security_group_id": "${aws_security_group.tasks.id}", "protocol": "-1",
                "from_port": 0, "to_port": 0, "cidr_blocks": ["0.0.0.0/0"]}})
    assert found(tf) == [
        ("aws_security_group_rule.in", INGRESS_MESSAGE.format(cidr="0.0.0.0/0", protocol="tcp", low=22, high=22)),
        ("aws_security_group_rule.in", INGRESS_MESSAGE.format(cidr="::/0", protocol="tcp", low=22, high=22))]


def test_inline_ingress_blocks_are_judged_as_rules_of_their_group():
    tf = resources(
        aws_lb={"lb": {"security_groups": [LB_GROUP]}},
        aws_security_group={
            "alb": {"ingress": [{"protocol": "tcp", "from_port": 443, "to_port": 443, "cidr_blocks": ["0.0.0.0/0"]},
                                {"protocol": "tcp", "from_port": 8080, "to_port": 8080, "ipv6_cidr_blocks": ["::/0"]}]},
            "tasks": {"ingress": {"protocol": "tcp", "from_port": 443, "to_port": 443, "cidr_blocks": "0.0.0.0/0"},
                      "egress": [{"protocol": "-1", "from_port": 0, "to_port": 0, "cidr_blocks": ["0.0.0.0/0"]}]}})
    assert found(tf) == [
        ("aws_security_group.alb", INGRESS_MESSAGE.format(cidr="::/0", protocol="tcp", low=8080, high=8080)),
        ("aws_security_group.tasks", INGRESS_MESSAGE.format(cidr="0.0.0.0/0", protocol="tcp", low=443, high=443))]


# ---- 2. IAM ----

def role(*statements: dict, attribute: str = "assume_role_policy") -> dict:
    return {attribute: json.dumps({"Version": "2012-10-17", "Statement": list(statements)})}


def allow(action, resource="arn:aws:s3:::b", **more) -> dict:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **more}


@pytest.mark.parametrize("action, wildcard", [("*", "*"), ("s3:*", "s3:*"), (["s3:GetObject", "kms:*"], "kms:*")])
def test_a_wildcard_action_is_refused(action, wildcard):
    assert found(resources(aws_iam_role_policy={"p": role(allow(action), attribute="policy")})) == [
        ("aws_iam_role_policy.p", f"policy: a statement allows the wildcard action {wildcard!r}: name the actions")]


@pytest.mark.parametrize("action", ["s3:Get*", "s3:GetObject", "ecr:GetAuthorizationToken"])
def test_named_actions_and_prefixes_are_accepted(action):
    assert found(resources(aws_iam_role_policy={"p": role(allow(action), attribute="policy")})) == []


def test_a_statement_is_named_by_its_sid_and_an_allow_is_the_default_effect():
    statement = {"Sid": "ReadAll", "Action": "*", "Resource": "arn:aws:s3:::b"}
    assert found(resources(aws_iam_policy={"p": role(statement, attribute="policy")})) == [
        ("aws_iam_policy.p", "policy: statement 'ReadAll' allows the wildcard action '*': name the actions")]


def test_not_action_and_not_resource_are_refused():
    statement = {"Effect": "Allow", "NotAction": "s3:DeleteObject", "NotResource": "arn:aws:s3:::b"}
    assert found(resources(aws_iam_policy={"p": role(statement, attribute="policy")})) == [
        ("aws_iam_policy.p", "policy: a statement allows NotAction, i.e. every other action: name the actions"),
        ("aws_iam_policy.p", "policy: a statement allows NotResource, i.e. every other resource: name the resources")]


def test_resource_star_is_refused_beyond_the_actions_that_require_it():
    tf = resources(aws_iam_role_policy={"p": role(allow(["ecr:GetAuthorizationToken", "s3:GetObject"], "*"),
                                                  attribute="policy")})
    assert found(tf) == [("aws_iam_role_policy.p", (
        "policy: a statement allows ecr:GetAuthorizationToken, s3:GetObject on Resource '*': name the resources "
        "('*' is allowed only for actions AWS authorizes on '*' alone, STAR_ONLY_ACTIONS in infra/policy.py, "
        "and in KMS key policies)"))]
    tf = resources(aws_iam_role_policy={"p": role({"Effect": "Allow", "Resource": ["arn:x", "*"]}, attribute="policy")})
    assert found(tf) == [("aws_iam_role_policy.p", (
        "policy: a statement allows its actions on Resource '*': name the resources "
        "('*' is allowed only for actions AWS authorizes on '*' alone, STAR_ONLY_ACTIONS in infra/policy.py, "
        "and in KMS key policies)"))]


def test_the_actions_without_resource_level_permissions_may_use_resource_star():
    tf = resources(aws_iam_role_policy={"p": role(allow("ecr:GetAuthorizationToken", "*"), attribute="policy")})
    assert found(tf) == []


@pytest.mark.parametrize("condition, refused", [
    (None, True),
    ({"StringEquals": {"aws:RequestedRegion": "us-east-1"}}, True),
    ({"ArnLike": {"ecs:cluster": "arn:aws:ecs:*:1:cluster/notes-dev"}}, False),
    ([{"test": "ArnLike", "variable": "ecs:cluster", "values": ["arn:aws:ecs:*:1:cluster/notes-dev"]}], False),
])
def test_listing_tasks_on_resource_star_needs_a_condition_on_the_cluster(condition, refused):
    """ListTasks without a container instance is authorized on "*" and narrowed only by ecs:cluster."""
    more = {"Condition": condition} if isinstance(condition, dict) else {}
    tf = resources(aws_iam_role_policy={"p": role(allow("ecs:ListTasks", "*", **more), attribute="policy")})
    if isinstance(condition, list):  # a policy document's condition blocks
        tf = {"data": {"aws_iam_policy_document": {"d": {"statement": [
            {"actions": ["ecs:ListTasks"], "resources": ["*"], "condition": condition}]}}}}
    assert bool(found(tf)) == refused


def test_the_actions_allowed_on_resource_star_are_each_named_without_a_wildcard():
    assert [a for a in STAR_ONLY_ACTIONS if "*" in a or a.count(":") != 1] == []


def test_registering_a_task_definition_on_resource_star_is_refused_since_aws_scopes_it_by_family():
    tf = resources(aws_iam_role_policy={"p": role(allow("ecs:RegisterTaskDefinition", "*"), attribute="policy")})
    assert [address for address, _ in found(tf)] == ["aws_iam_role_policy.p"]


@pytest.mark.parametrize("key_type", ["aws_kms_key", "aws_kms_key_policy", "aws_kms_replica_key", "aws_kms_external_key"])
def test_resource_star_in_a_kms_key_policy_means_the_key_and_is_allowed(key_type):
    statement = allow(["kms:Decrypt"], "*", Principal={"AWS": "arn:aws:iam::123456789012:root"})
    key = {**role(statement, attribute="policy"), "enable_key_rotation": True}
    assert found(resources(**{key_type: {"k": key}})) == []


def test_a_deny_may_use_every_wildcard():
    statement = {"Effect": "Deny", "NotAction": "*", "Action": "*", "Resource": "*", "Principal": "*"}
    assert found(resources(aws_s3_bucket_policy={"p": role(statement, attribute="policy")})) == []


@pytest.mark.parametrize("principal", ["*", {"AWS": "*"}, {"AWS": ["arn:aws:iam::1:root", "*"]}])
def test_a_resource_policy_that_allows_anyone_without_a_condition_is_refused(principal):
    statement = allow("s3:GetObject", Principal=principal)
    assert found(resources(aws_s3_bucket_policy={"p": role(statement, attribute="policy")})) == [
        ("aws_s3_bucket_policy.p", "policy: a statement allows Principal '*' (anyone) without a condition")]
    statement["Condition"] = {"Bool": {"aws:SecureTransport": "true"}}
    assert found(resources(aws_s3_bucket_policy={"p": role(statement, attribute="policy")})) == []


def test_a_named_service_principal_is_accepted():
    statement = allow("sts:AssumeRole", Principal={"Service": "ecs-tasks.amazonaws.com"})
    assert found(resources(aws_iam_role={"r": role(statement)})) == []


def test_every_policy_attribute_and_inline_policy_of_any_resource_is_read():
    bad = allow("*")
    tf = resources(aws_iam_role={"r": {**role(bad), "inline_policy": [{"name": "i", **role(bad, attribute="policy")}]}},
                   aws_custom_thing={"c": role(bad, attribute="policy_document")})
    assert found(tf) == [
        ("aws_iam_role.r", "assume_role_policy: a statement allows the wildcard action '*': name the actions"),
        ("aws_iam_role.r", "inline_policy: a statement allows the wildcard action '*': name the actions"),
        ("aws_custom_thing.c", "policy_document: a statement allows the wildcard action '*': name the actions")]


def test_a_statement_list_or_a_single_statement_object_is_read():
    single = {"policy": json.dumps({"Statement": allow("*")})}
    assert found(resources(aws_iam_policy={"p": single})) == [
        ("aws_iam_policy.p", "policy: a statement allows the wildcard action '*': name the actions")]


@pytest.mark.parametrize("rtype", ["aws_iam_role_policy", "aws_iam_policy", "aws_s3_bucket_policy", "aws_kms_key",
                                   "aws_cloudwatch_log_resource_policy"])
def test_an_iam_policy_the_aspect_cannot_parse_is_refused(rtype):
    assert found(resources(**{rtype: {"p": {"policy": "{not json", "enable_key_rotation": True}}})) == [
        (f"{rtype}.p", "policy is not JSON this policy can read: build it with json.dumps or an aws_iam_policy_document")]


def test_an_unreadable_or_foreign_policy_attribute_does_not_hide_the_next_one():
    bad = role(allow("*"))["assume_role_policy"]
    tf = resources(aws_custom={"unreadable": {"policy": "{not json", "policy_document": bad},
                               "foreign": {"policy": json.dumps({"rules": []}), "policy_document": bad}})
    assert found(tf) == [
        ("aws_custom.unreadable", "policy_document: a statement allows the wildcard action '*': name the actions"),
        ("aws_custom.foreign", "policy_document: a statement allows the wildcard action '*': name the actions")]


def test_other_json_and_references_are_left_alone():
    tf = resources(aws_ecr_lifecycle_policy={"l": {"policy": "not json either"},
                                             "m": {"policy": json.dumps({"rules": [{"action": {"type": "expire"}}]})},
                                             "n": {"policy": json.dumps(["a list"])}},
                   aws_iam_role_policy={"p": {"policy": "${data.aws_iam_policy_document.doc.json}"},
                                        "q": {"policy": {"not": "a string"}}})
    assert found(tf) == []


def test_a_policy_document_data_source_is_checked_like_a_statement():
    tf = {"data": {"aws_caller_identity": {"me": {"statement": [{"actions": ["*"]}]}},
                   "aws_iam_policy_document": {"doc": {"statement": [
        {"sid": "Everything", "actions": ["s3:*"], "resources": ["*"]},
        {"effect": "Allow", "not_actions": ["s3:GetObject"], "not_resources": ["arn:x"], "actions": ["s3:GetObject"],
         "resources": ["arn:x"]},
        {"sid": "Anyone", "actions": ["s3:GetObject"], "resources": ["arn:x"],
         "principals": [{"type": "*", "identifiers": ["*"]}]},
        {"sid": "AnyAccount", "actions": ["s3:GetObject"], "resources": ["arn:x"],
         "principals": [{"type": "AWS", "identifiers": ["arn:aws:iam::1:root", "*"]}]},
        {"sid": "AnyAccountIfTls", "actions": ["s3:GetObject"], "resources": ["arn:x"],
         "principals": [{"type": "AWS", "identifiers": ["*"]}],
         "condition": [{"test": "Bool", "variable": "aws:SecureTransport", "values": ["true"]}]},
        {"sid": "AnyService", "actions": ["s3:GetObject"], "resources": ["arn:x"],
         "principals": [{"type": "Service", "identifiers": ["*"]}]},
        {"effect": "Deny", "actions": ["*"], "resources": ["*"]},
    ]}}}}
    assert found(tf) == [
        ("data.aws_iam_policy_document.doc", "statement 'Everything' allows the wildcard action 's3:*': name the actions"),
        ("data.aws_iam_policy_document.doc", (
            "statement 'Everything' allows s3:* on Resource '*': name the resources "
            "('*' is allowed only for actions AWS authorizes on '*' alone, STAR_ONLY_ACTIONS in infra/policy.py, "
            "and in KMS key policies)")),
        ("data.aws_iam_policy_document.doc", "a statement allows NotAction, i.e. every other action: name the actions"),
        ("data.aws_iam_policy_document.doc", "a statement allows NotResource, i.e. every other resource: name the resources"),
        ("data.aws_iam_policy_document.doc", "statement 'Anyone' allows Principal '*' (anyone) without a condition"),
        ("data.aws_iam_policy_document.doc", "statement 'AnyAccount' allows Principal '*' (anyone) without a condition")]


# ---- 3. Log retention ----

@pytest.mark.parametrize("retention", [None, 0])
def test_a_log_group_without_retention_is_refused(retention):
    group = {"kms_key_id": "k"} if retention is None else {"kms_key_id": "k", "retention_in_days": retention}
    assert found(resources(aws_cloudwatch_log_group={"g": group})) == [
        ("aws_cloudwatch_log_group.g", "log group has no retention_in_days: CloudWatch would keep (and bill) its logs "
                                       "forever; set a finite retention")]


def test_a_log_group_with_retention_is_accepted():
    assert found(resources(aws_cloudwatch_log_group={"g": {"kms_key_id": "k", "retention_in_days": 1}})) == []


# ---- 4. Encryption at rest ----

@pytest.mark.parametrize("rtype, attribute, on", [
    ("aws_db_instance", "storage_encrypted", True), ("aws_rds_cluster", "storage_encrypted", "true"),
    ("aws_db_instance", "storage_encrypted", "True"),
    ("aws_ebs_volume", "encrypted", "TRUE"), ("aws_efs_file_system", "encrypted", True),
    ("aws_elasticache_replication_group", "at_rest_encryption_enabled", True),
    ("aws_cloudwatch_log_group", "kms_key_id", "${aws_kms_key.k.arn}"), ("aws_sns_topic", "kms_master_key_id", "alias/x"),
])
def test_storage_must_be_encrypted_by_its_attribute(rtype, attribute, on):
    extra = {"retention_in_days": 7} if rtype == "aws_cloudwatch_log_group" else {}
    assert found(resources(**{rtype: {"on": {attribute: on, **extra}}})) == []
    for off in ({attribute: False}, {}, {attribute: ""}, {attribute: None}):
        assert found(resources(**{rtype: {"off": {**off, **extra}}})) == [
            (f"{rtype}.off", f"storage is not encrypted at rest: set {attribute}")], off


def test_a_repository_must_use_a_kms_key():
    ok = {"encryption_configuration": [{"encryption_type": "KMS", "kms_key": "k"}]}
    aes = {"encryption_configuration": {"encryption_type": "AES256"}}
    assert found(resources(aws_ecr_repository={"ok": ok, "aes": aes, "none": {}})) == [
        ("aws_ecr_repository.aes", "repository is not encrypted with a KMS key: set encryption_configuration with "
                                   "encryption_type KMS"),
        ("aws_ecr_repository.none", "repository is not encrypted with a KMS key: set encryption_configuration with "
                                    "encryption_type KMS")]


@pytest.mark.parametrize("reference", ["${aws_s3_bucket.b.id}", "${aws_s3_bucket.b.bucket}", "my-bucket"])
def test_a_bucket_with_its_encryption_configuration_is_accepted(reference):
    tf = resources(aws_s3_bucket={"b": {"bucket": "my-bucket"}},
                   aws_s3_bucket_server_side_encryption_configuration={"sse": {"bucket": reference}})
    assert found(tf) == []


def test_a_bucket_without_encryption_is_refused_and_inline_encryption_counts():
    tf = resources(aws_s3_bucket={"plain": {"bucket": "plain"}, "inline": {"server_side_encryption_configuration": [{}]}},
                   aws_s3_bucket_server_side_encryption_configuration={"sse": {"bucket": "${aws_s3_bucket.other.id}"}})
    assert found(tf) == [("aws_s3_bucket.plain", "bucket has no server-side encryption configuration: add an "
                                                "aws_s3_bucket_server_side_encryption_configuration for it")]


def test_a_boolean_given_as_the_string_false_is_off():
    assert found(resources(aws_ebs_volume={"v": {"encrypted": "false"}})) == [
        ("aws_ebs_volume.v", "storage is not encrypted at rest: set encrypted")]


def test_a_queue_must_use_kms_or_sqs_managed_encryption():
    tf = resources(aws_sqs_queue={"kms": {"kms_master_key_id": "k"}, "sse": {"sqs_managed_sse_enabled": "true"},
                                  "off": {"sqs_managed_sse_enabled": False}})
    assert found(tf) == [("aws_sqs_queue.off", "queue is not encrypted at rest: set kms_master_key_id or "
                                               "sqs_managed_sse_enabled")]


def test_a_symmetric_key_must_rotate_and_an_asymmetric_one_need_not():
    tf = resources(aws_kms_key={"rotating": {"enable_key_rotation": True}, "still": {},
                                "explicit": {"customer_master_key_spec": "SYMMETRIC_DEFAULT"},
                                "rsa": {"customer_master_key_spec": "RSA_2048"}})
    assert found(tf) == [("aws_kms_key.still", "key does not rotate: set enable_key_rotation"),
                         ("aws_kms_key.explicit", "key does not rotate: set enable_key_rotation")]


# ---- 5 and 6. Tasks and their environment ----

def task(*containers: dict) -> dict:
    return {"container_definitions": json.dumps(list(containers))}


@pytest.mark.parametrize("rtype", ["aws_ecs_service", "aws_ecs_task_set"])
def test_tasks_with_a_public_ip_are_refused(rtype):
    tf = resources(**{rtype: {"public": {"network_configuration": [{"assign_public_ip": "true"}]},
                              "private": {"network_configuration": {"assign_public_ip": False}},
                              "default": {}}})
    assert found(tf) == [(f"{rtype}.public", "tasks get a public IP (assign_public_ip): run them in private subnets "
                                             "behind the load balancer")]


def test_a_privileged_container_is_refused_by_name():
    tf = resources(aws_ecs_task_definition={"t": task({"name": "app", "privileged": True},
                                                      {"name": "sidecar", "privileged": False})})
    assert found(tf) == [("aws_ecs_task_definition.t", "container 'app' is privileged")]


@pytest.mark.parametrize("definitions", ["{not json", None])
def test_container_definitions_the_aspect_cannot_read_are_refused(definitions):
    tf = resources(aws_ecs_task_definition={"t": {"container_definitions": definitions}})
    assert found(tf) == [("aws_ecs_task_definition.t", "container_definitions is not JSON this policy can read: build "
                                                       "it with json.dumps")]


def test_an_unreadable_task_definition_does_not_hide_the_next_one():
    tf = resources(aws_ecs_task_definition={"a": {"container_definitions": "{"},
                                            "b": task({"name": "app", "privileged": "true"})})
    assert found(tf) == [
        ("aws_ecs_task_definition.a", "container_definitions is not JSON this policy can read: build it with json.dumps"),
        ("aws_ecs_task_definition.b", "container 'app' is privileged")]


def test_a_task_definition_without_containers_is_accepted():
    assert found(resources(aws_ecs_task_definition={"t": {}})) == []


SECRET_MESSAGE = ("{label}environment variable {name} looks like a secret but is plain text: pass it in `secrets` "
                  "(valueFrom Secrets Manager or SSM), or name where it lives with an _ARN variable")


@pytest.mark.parametrize("name", ["DB_PASSWORD", "db_passwd", "CLIENT_SECRET", "GITHUB_TOKEN", "API_KEY", "APIKEY",
                                  "PRIVATE_KEY", "AWS_ACCESS_KEY", "SERVICE_CREDENTIALS"])
def test_a_plain_environment_variable_that_looks_like_a_secret_is_refused(name):
    tf = resources(aws_ecs_task_definition={"t": task({"name": "app", "environment": [{"name": name, "value": "v"}]})})
    assert found(tf) == [("aws_ecs_task_definition.t", SECRET_MESSAGE.format(label="container 'app': ", name=name))]


@pytest.mark.parametrize("name, value", [("DB_SECRET_ARN", "arn:aws:secretsmanager:us-east-1:1:secret:x"),
                                         ("db_secret_arn", "${aws_secretsmanager_secret.s.arn}"),
                                         ("DB_HOST", "db.internal"), ("PORT", 8000)])
def test_an_arn_naming_where_a_secret_lives_and_ordinary_settings_are_accepted(name, value):
    tf = resources(aws_ecs_task_definition={"t": task({"name": "app", "environment": [{"name": name, "value": value}]})})
    assert found(tf) == []


@pytest.mark.parametrize("value", ["not an arn", "arn:with space", "${a}${b}"])
def test_a_secret_arn_variable_must_hold_an_arn_or_a_reference(value):
    tf = resources(aws_ecs_task_definition={"t": task({"name": "app", "environment": [
        {"name": "DB_SECRET_ARN", "value": value}]})})
    assert found(tf) == [("aws_ecs_task_definition.t",
                          SECRET_MESSAGE.format(label="container 'app': ", name="DB_SECRET_ARN"))]


def test_a_url_with_a_password_in_a_plain_variable_is_refused_and_one_without_is_accepted():
    tf = resources(aws_ecs_task_definition={"t": task({"name": "app", "environment": [
        {"name": "DATABASE_URL", "value": "postgresql://app:hunter2@db:5432/app"},
        {"name": "UPSTREAM", "value": "https://user@example.com/path"}]})})
    assert found(tf) == [("aws_ecs_task_definition.t", "container 'app': environment variable DATABASE_URL holds a URL "
                                                       "with a password: pass it in `secrets`")]


def test_a_lambda_functions_variables_are_judged_by_name_and_value():
    tf = resources(aws_lambda_function={"f": {"environment": {"variables": {
        "SIGNING_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:1:secret:s", "DSN": "postgres://u:p@h/db"}}}})
    assert found(tf) == [("aws_lambda_function.f", "environment variable DSN holds a URL with a password: pass it "
                                                   "in `secrets`")]


def test_a_lambda_functions_environment_is_checked_too():
    tf = resources(aws_lambda_function={"f": {"environment": [{"variables": {"SIGNING_SECRET": "s", "MODE": "x"}}]},
                                        "g": {"environment": {"variables": None}}, "h": {}})
    assert found(tf) == [("aws_lambda_function.f", SECRET_MESSAGE.format(label="", name="SIGNING_SECRET"))]


# ---- the policy as a whole ----

def test_every_violation_of_every_rule_is_reported_in_rule_order():
    tf = resources(aws_kms_key={"k": {}}, aws_cloudwatch_log_group={"g": {}},
                   aws_iam_role={"r": role(allow("*"))},
                   aws_vpc_security_group_ingress_rule={"i": ingress_rule(group="sg", cidr_ipv4="0.0.0.0/0")},
                   aws_ecs_service={"s": {"network_configuration": {"assign_public_ip": True}}})
    assert [address for address, _ in found(tf)] == [
        "aws_vpc_security_group_ingress_rule.i", "aws_iam_role.r", "aws_cloudwatch_log_group.g", "aws_kms_key.k",
        "aws_cloudwatch_log_group.g", "aws_ecs_service.s"]


def test_an_empty_stack_complies():
    assert found({}) == [] and found({"resource": {}, "data": {}}) == []

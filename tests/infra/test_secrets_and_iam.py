"""Credentials reach the tasks from Secrets Manager only; roles are separate and least-privilege."""
import json
import re

from tests.stacks import Stack


def secret_ref(stack: Stack) -> str:
    return stack.ref("aws_db_instance", "instance", "master_user_secret[0].secret_arn")


def role_statements(stack: Stack, policy_part: str) -> list[dict]:
    return json.loads(stack.find("aws_iam_role_policy", policy_part)["policy"])["Statement"]


def test_tasks_receive_username_and_password_from_the_rds_managed_secret(app_stack):
    for task in ("app-task", "migrate-task"):
        container = app_stack.container(task)
        assert container["secrets"] == [
            {"name": "DB_USERNAME", "valueFrom": f"{secret_ref(app_stack)}:username::"},
            {"name": "DB_PASSWORD", "valueFrom": f"{secret_ref(app_stack)}:password::"},
        ]


def test_tasks_get_host_port_name_and_secret_arn_as_plain_environment(app_stack):
    env = {e["name"]: e["value"] for e in app_stack.container("app-task")["environment"]}
    assert env["DB_HOST"] == app_stack.ref("aws_db_instance", "instance", "address")
    assert env["DB_PORT"] == "5432"
    assert env["DB_NAME"] == app_stack.config.database.database_name
    assert env["DB_SSLMODE"] == "require"
    assert env["DB_SECRET_ARN"] == secret_ref(app_stack)
    assert not [name for name in env if re.search("PASSWORD|SECRET$|TOKEN|KEY", name)]


def test_execution_role_reads_only_the_database_secret_pulls_only_its_repository_and_writes_its_log_group(app_stack):
    statements = {s["Sid"]: s for s in role_statements(app_stack, "execution-policy")}
    assert statements["ReadDatabaseSecret"]["Resource"] == secret_ref(app_stack)
    assert statements["PullAppImage"]["Resource"] == app_stack.ref("aws_ecr_repository", "repository", "arn")
    assert statements["WriteLogs"]["Resource"] == app_stack.ref("aws_cloudwatch_log_group", "service_logs", "arn") + ":*"
    assert statements["DecryptWithStackKey"]["Resource"] == app_stack.ref("aws_kms_key", "key", "arn")
    assert set(statements) == {"EcrLogin", "PullAppImage", "WriteLogs", "ReadDatabaseSecret", "DecryptWithStackKey"}


def test_task_role_may_reread_only_the_database_secret_after_rotation(app_stack):
    statements = {s["Sid"]: s for s in role_statements(app_stack, "task-policy")}
    assert set(statements) == {"ReadDatabaseSecret", "DecryptWithStackKey"}
    assert statements["ReadDatabaseSecret"]["Action"] == ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"]
    assert statements["ReadDatabaseSecret"]["Resource"] == secret_ref(app_stack)


def test_execution_and_task_roles_are_separate(app_stack):
    task_definition = app_stack.find("aws_ecs_task_definition", "app-task")
    assert task_definition["execution_role_arn"] == app_stack.ref("aws_iam_role", "execution-role", "arn")
    assert task_definition["task_role_arn"] == app_stack.ref("aws_iam_role", "task-role", "arn")


def _all_policy_statements(stack: Stack) -> list[tuple[str, dict]]:
    found = []
    for rtype, field in (("aws_iam_role_policy", "policy"), ("aws_iam_role", "assume_role_policy"),
                         ("aws_kms_key", "policy")):
        for name, resource in stack.resources(rtype).items():
            found += [(f"{rtype}.{name}", s) for s in json.loads(resource[field])["Statement"]]
    return found


def test_no_iam_statement_allows_a_wildcard_action(app_stack):
    for name, statement in _all_policy_statements(app_stack):
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        assert not [a for a in actions if a == "*" or a.endswith(":*")], f"{name}: {statement}"


def test_a_wildcard_resource_is_used_only_where_aws_requires_it(app_stack):
    for name, statement in _all_policy_statements(app_stack):
        if statement.get("Resource") == "*":
            # ecr:GetAuthorizationToken has no resource-level permission; in a key policy "*" means this key.
            assert statement["Action"] == ["ecr:GetAuthorizationToken"] or name.startswith("aws_kms_key."), name


def test_kms_key_rotates_and_names_its_actions(app_stack):
    key = app_stack.one("aws_kms_key")
    assert key["enable_key_rotation"] is True
    assert key["deletion_window_in_days"] == 30
    statements = json.loads(key["policy"])["Statement"]
    actions = [a for s in statements for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])]
    assert len(statements) >= 2 and all(re.fullmatch(r"kms:[A-Z][A-Za-z]+", a) for a in actions), actions


def test_synthesized_json_contains_no_password_or_secret_value(outdir):
    text = "\n".join(p.read_text() for p in outdir.glob("stacks/*/cdk.tf.json"))
    assert not re.search(r'"(password|master_password|secret_string|secret_key)"\s*:', text.replace(
        '"secret_key": "test"', ""), re.I)
    assert not re.search(r"AKIA[0-9A-Z]{16}", text)
    assert "aws_secretsmanager_secret_version" not in text
    assert "random_password" not in text

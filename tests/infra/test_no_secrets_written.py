"""No secret value in anything synthesis writes: every file of every stack under cdktf.out/."""
import json
import re
from pathlib import Path

import pytest
from typing import Any, Iterator

from security.scan import scan_secrets
from tests.stacks import STACKS

# A key whose name has one of these words (secret_key, DB_PASSWORD; not secretsmanager).
SECRET_KEY = re.compile(r"(^|[_.-])(password|passwd|secret|token|api_?key|private_?key|access_?key|credentials?)"
                        r"($|[_.-])", re.I)
# Keys that name or point at a secret (database_secret_arn, kms_key_id, secret_name) never hold one, nor do
# IAM condition keys (`token.actions.githubusercontent.com:aud`: a token's claim, compared, never stored).
POINTER_KEY = re.compile(r"_(arn|id|name)$|^[\w.-]+:[\w/.-]+$", re.I)
# Where a secret lives, not what it is: a reference resolved at apply, an ARN, a Secrets Manager key path.
NOT_A_VALUE = re.compile(r"^(\$\{[^{}]+\}.*|arn:\S+)$")
SECRET_VALUE = [
    (re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b"), "an AWS access key ID"),
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"), "a private key"),
    (re.compile(r"://[^/\s:@\"]+:[^/\s@\"]+@"), "a URL with a password"),
]
# The emulated stack signs its requests to the local emulator with these; the emulator accepts any.
EMULATOR_CREDENTIALS = {("access_key", "test"), ("secret_key", "test")}


def walk(value: Any, key: str = "") -> Iterator[tuple[str, Any]]:
    """Every (key, value) pair, looking inside JSON held in strings (policies, container definitions)
    and reading ECS's {"name": ..., "value": ...} pairs as name = value."""
    if isinstance(value, dict):
        if set(value) >= {"name", "value"} and isinstance(value["name"], str):
            yield value["name"], value["value"]
        for k, v in value.items():
            yield from walk(v, k)
    elif isinstance(value, list):
        for v in value:
            yield from walk(v, key)
    else:
        if isinstance(value, str) and value[:1] in "[{":
            try:
                yield from walk(json.loads(value), key)
                return
            except ValueError:
                pass
        yield key, value


def secrets_in(path: Path, stack: str) -> list[str]:
    text = path.read_text()
    found = [f"{path}: {label}" for pattern, label in SECRET_VALUE if pattern.search(text)]
    if path.suffix == ".json":
        for key, value in walk(json.loads(text)):
            if not (isinstance(value, str) and value and SECRET_KEY.search(key)) or POINTER_KEY.search(key):
                continue
            if NOT_A_VALUE.match(value) or (stack == "emulated" and (key, value) in EMULATOR_CREDENTIALS):
                continue
            found.append(f"{path}: {key} = {value[:4]}...")
    return found


def test_no_file_synthesis_writes_holds_a_password_or_key(outdir):
    files = [p for p in outdir.rglob("*") if p.is_file()]
    assert len([p for p in files if p.name == "cdk.tf.json"]) == len(STACKS)
    found = []
    for path in files:
        parts = path.relative_to(outdir).parts
        found += secrets_in(path, stack=parts[1] if parts[0] == "stacks" and len(parts) > 2 else "")
    assert found == []


@pytest.mark.integration
def test_checkov_secret_detectors_find_nothing_in_the_output(outdir):
    assert scan_secrets(outdir) == []


def test_the_scan_reads_an_iam_condition_key_as_a_name_not_a_secret(tmp_path):
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"Condition": {"StringEquals": {
        "token.actions.githubusercontent.com:aud": "sts.amazonaws.com"}}}))
    assert secrets_in(policy, "ci") == []


def test_the_scan_finds_a_password_a_key_and_a_credential_url(tmp_path):
    leaked = tmp_path / "stacks" / "leaky" / "cdk.tf.json"
    leaked.parent.mkdir(parents=True)
    leaked.write_text(json.dumps({"resource": {
        "aws_db_instance": {"db": {"password": "hunter2-but-longer"}},
        "aws_ecs_task_definition": {"task": {"container_definitions": json.dumps([{"environment": [
            {"name": "API_TOKEN", "value": "tok-123"},
            {"name": "DATABASE_URL", "value": "postgres://app:pw@db/app"}]}])}},
        "aws_iam_access_key": {"k": {"id": "AKIA" + "ABCDEFGHIJKLMNOP"}},
    }}))
    found = secrets_in(leaked, "leaky")
    assert any("password = hunt" in f for f in found)
    assert any("API_TOKEN = tok-" in f for f in found)
    assert any("a URL with a password" in f for f in found)
    assert any("an AWS access key ID" in f for f in found)

"""Every call the pipeline makes on the emulator during the deploy cycle, judged as AWS would judge it against
the role that makes it in CI (the cycle labels its steps: conftest.py `_run_cycle`): the plan role for a pull
request's init and plan, the environment's deploy role for the release's init, outputs, plan-scope plan and
apply. moto checks no IAM; security/authorization.py maps each recorded request to its action, resource ARN and
condition keys from AWS's Service Authorization Reference, and security/iam.py evaluates the role's policies.
The roles are the ones the bootstrap stack created on the emulator (`cdktf deploy bootstrap`)."""
from __future__ import annotations

import json

import pytest

from emulator.record import read
from infra.ci_identity import deploy_role_name
from infra.environments import BOOTSTRAP, ENVIRONMENTS
from security.authorization import call_of, judge
from tests.deploy.conftest import OBSERVER_KEY, PLAN_LABEL, STACK, client, deploy_label
from tests.stacks import without_action

pytestmark = pytest.mark.integration

CI = BOOTSTRAP.ci
# The provider's default tags (infra/stacks.py): on every resource of the stack, so on every resource a call names.
TAGS = {"project": ENVIRONMENTS[STACK].project, "environment": STACK}


@pytest.fixture(scope="module")
def calls(cycle, emulator_requests):
    """The recorded calls of the plan and deploy roles (the cycle must have run its release steps)."""
    cycle.step("dev-apply-change")
    judged = []
    for request in read(emulator_requests):
        if request["key"] == OBSERVER_KEY or request["label"] not in (PLAN_LABEL, deploy_label(STACK)):
            continue
        call = call_of(request, request["label"])
        if call is not None:
            judged.append(call)
    return judged


@pytest.fixture(scope="module")
def policies(cycle, emulator_endpoint) -> dict[str, list[dict]]:
    """The inline policies of the CI roles, as the bootstrap stack put them on the emulator, by label."""
    iam = client(emulator_endpoint, "iam")
    names = {PLAN_LABEL: f"{CI.project}-github-plan", deploy_label(STACK): deploy_role_name(CI, STACK)}
    found = {}
    for label, role in names.items():
        documents = []
        for name in iam.list_role_policies(RoleName=role)["PolicyNames"]:
            document = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
            documents.append(json.loads(document) if isinstance(document, str) else document)
        found[label] = documents
    return found


@pytest.fixture(scope="module")
def resolve_key(cycle, emulator_endpoint):
    """A KMS key id, ARN or alias (as an S3 request names it) to the key's ARN, as KMS resolves it."""
    kms = client(emulator_endpoint, "kms")

    def resolve(key: str) -> str:
        key = key.rsplit(":", 1)[-1] if key.startswith("arn:") and ":alias/" in key else key
        return kms.describe_key(KeyId=key)["KeyMetadata"]["Arn"]

    return resolve


def _report(denials, unmapped) -> str:
    lines = [f"  {d}" for d in denials] + [f"  unmapped: {u}" for u in unmapped]
    return f"{len(denials)} call(s) AWS would deny, {len(unmapped)} it cannot map:\n" + "\n".join(lines)


def test_the_record_holds_the_pull_request_plan_and_the_release(calls):
    seen = {(c.principal, c.service, c.operation) for c in calls}
    plan, deploy = PLAN_LABEL, deploy_label(STACK)
    expected = {(plan, "s3", "GetObject"), (plan, "rds", "DescribeDBInstances"), (plan, "ecs", "DescribeServices"),
                (deploy, "s3", "PutObject"), (deploy, "ecs", "RegisterTaskDefinition"), (deploy, "ecs", "UpdateService")}
    assert expected <= seen, sorted(expected - seen)


def test_every_call_of_the_plan_and_release_steps_is_allowed_to_the_role_that_makes_it(calls, policies, resolve_key):
    denials, unmapped, checked = judge(calls, policies, lambda call: call.principal, TAGS, resolve_key)
    print(f"{len(calls)} calls, {len({(c.service, c.operation) for c in calls})} distinct operations, "
          f"{checked} distinct authorizations judged")
    assert not denials and not unmapped, _report(denials, unmapped)


@pytest.mark.parametrize("label, action", [(PLAN_LABEL, "rds:DescribeDBInstances"),
                                           (PLAN_LABEL, "kms:Decrypt"),
                                           (deploy_label(STACK), "ecs:UpdateService"),
                                           (deploy_label(STACK), "iam:PassRole")])
def test_the_check_fails_naming_the_call_when_a_permission_it_uses_is_removed(calls, policies, resolve_key,
                                                                              label, action):
    without = {role: [without_action(p, action) if role == label else p for p in documents]
               for role, documents in policies.items()}
    denials, _, _ = judge(calls, without, lambda call: call.principal, TAGS, resolve_key)
    assert any(d.check.action == action and d.role == label for d in denials), _report(denials, [])
    assert all(d.check.action == action for d in denials), _report(denials, [])


def test_the_state_object_is_encrypted_with_the_state_buckets_kms_key(cycle, emulator_endpoint, resolve_key):
    s3 = client(emulator_endpoint, "s3")
    backend = cycle.deployment.stack_json()["terraform"]["backend"]["s3"]
    head = s3.head_object(Bucket=backend["bucket"], Key=backend["key"])
    assert (head.get("ServerSideEncryption"), resolve_key(head.get("SSEKMSKeyId", "none"))) == (
        "aws:kms", resolve_key(BOOTSTRAP.state_key_alias))

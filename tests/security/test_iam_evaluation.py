"""security/iam.py decides as IAM's documented evaluation logic does: explicit deny wins, an allow is needed,
wildcards in actions (case-insensitive) and resources (case-sensitive), and the condition operators the CI
policies and their tests use, with IfExists, Null, negation and the set qualifiers."""
from __future__ import annotations

import pytest

from security.iam import PolicyFormatError, evaluate, trusts

ARN = "arn:aws:ecs:us-east-1:123456789012:service/notes-dev/notes-dev-app"


def policy(*statements: dict) -> dict:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(action="ecs:UpdateService", resource=ARN, **more) -> dict:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **more}


def test_nothing_allowed_is_an_implicit_deny():
    assert evaluate([policy()], "ecs:UpdateService", ARN).reason == "no statement allows it"


def test_an_explicit_deny_wins_over_any_allow_in_any_policy():
    deny = {"Sid": "NoProd", "Effect": "Deny", "Action": "ecs:*", "Resource": "*"}
    decision = evaluate([policy(allow()), policy(deny)], "ecs:UpdateService", ARN)
    assert (decision.allowed, decision.reason) == (False, "explicitly denied by NoProd")


@pytest.mark.parametrize("pattern, allowed", [("ecs:UpdateService", True), ("ECS:updateservice", True),
                                              ("ecs:Update*", True), ("ecs:Describe*", False), ("ecs:?pdateService", True)])
def test_actions_match_with_wildcards_and_without_case(pattern, allowed):
    assert evaluate([policy(allow(pattern))], "ecs:UpdateService", ARN).allowed is allowed


@pytest.mark.parametrize("pattern, allowed", [(ARN, True), ("arn:aws:ecs:*:123456789012:service/notes-dev/*", True),
                                              ("arn:aws:ecs:*:123456789012:service/notes-*", True),
                                              ("arn:aws:ecs:*:123456789012:service/NOTES-dev/*", False),
                                              ("arn:aws:ecs:*:123456789012:service/notes-prod/*", False)])
def test_resources_match_with_wildcards_and_with_case(pattern, allowed):
    assert evaluate([policy(allow(resource=pattern))], "ecs:UpdateService", ARN).allowed is allowed


def test_not_action_and_not_resource_allow_everything_else():
    statement = {"Effect": "Allow", "NotAction": "iam:*", "NotResource": "arn:aws:ecs:*:*:cluster/*"}
    assert [evaluate([policy(statement)], a, r).allowed for a, r in
            (("ecs:UpdateService", ARN), ("iam:PassRole", ARN), ("ecs:DeleteCluster", "arn:aws:ecs:x:1:cluster/c"))] == \
        [True, False, False]


CLUSTER = "arn:aws:ecs:us-east-1:123456789012:cluster/notes-dev"


@pytest.mark.parametrize("condition, context, allowed", [
    ({"ArnLike": {"ecs:cluster": "arn:aws:ecs:*:123456789012:cluster/notes-dev"}}, {"ecs:cluster": CLUSTER}, True),
    ({"ArnLike": {"ecs:cluster": "arn:aws:ecs:*:123456789012:cluster/notes-dev"}}, {}, False),
    # ArnLike matches each of the six parts on its own: a wildcard does not reach across a colon.
    ({"ArnLike": {"ecs:cluster": "arn:aws:ecs:*:cluster/notes-dev"}}, {"ecs:cluster": CLUSTER}, False),
    ({"ArnLikeIfExists": {"ecs:cluster": "arn:aws:ecs:*:1:cluster/other"}}, {}, True),
    ({"StringEquals": {"iam:PassedToService": ["ec2.amazonaws.com", "ecs-tasks.amazonaws.com"]}},
     {"iam:PassedToService": "ecs-tasks.amazonaws.com"}, True),
    ({"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}}, {"IAM:PassedToService": "ecs-tasks.amazonaws.com"}, True),
    ({"StringNotEquals": {"aws:ResourceTag/project": "notes"}}, {}, True),
    ({"StringNotEquals": {"aws:ResourceTag/project": "notes"}}, {"aws:ResourceTag/project": "notes"}, False),
    ({"StringLike": {"kms:ViaService": "s3.*.amazonaws.com"}}, {"kms:ViaService": "s3.us-east-1.amazonaws.com"}, True),
    ({"StringLike": {"kms:ViaService": "s3.*.amazonaws.com"}}, {"kms:ViaService": "ec2.us-east-1.amazonaws.com"}, False),
    ({"Null": {"aws:ResourceTag/project": "true"}}, {}, True),
    ({"Null": {"aws:ResourceTag/project": "false"}}, {}, False),
    ({"Bool": {"aws:SecureTransport": "true"}}, {"aws:SecureTransport": "true"}, True),
    ({"NumericLessThanEquals": {"ecs:task-cpu": "512"}}, {"ecs:task-cpu": "256"}, True),
    ({"ForAnyValue:StringEquals": {"aws:TagKeys": ["project"]}}, {"aws:TagKeys": ["project", "env"]}, True),
    ({"ForAllValues:StringEquals": {"aws:TagKeys": ["project"]}}, {"aws:TagKeys": ["project", "env"]}, False),
    ({"ForAllValues:StringEquals": {"aws:TagKeys": ["project"]}}, {}, True),
    # Two operators, and two keys in one: all must hold.
    ({"StringEquals": {"a:x": "1", "a:y": "2"}, "Bool": {"a:z": "true"}}, {"a:x": "1", "a:y": "2", "a:z": "true"}, True),
    ({"StringEquals": {"a:x": "1", "a:y": "2"}, "Bool": {"a:z": "true"}}, {"a:x": "1", "a:y": "3", "a:z": "true"}, False),
])
def test_conditions(condition, context, allowed):
    assert evaluate([policy(allow(Condition=condition))], "ecs:UpdateService", ARN, context).allowed is allowed


def test_an_operator_it_does_not_know_is_an_error_not_a_decision():
    with pytest.raises(PolicyFormatError, match="StringMaybe"):
        evaluate([policy(allow(Condition={"StringMaybe": {"a:b": "c"}}))], "ecs:UpdateService", ARN)


def test_a_trust_policy_is_judged_for_its_federated_principal_only():
    trust = policy({"Effect": "Allow", "Action": "sts:AssumeRoleWithWebIdentity",
                    "Principal": {"Federated": "arn:aws:iam::1:oidc-provider/token.actions.githubusercontent.com"},
                    "Condition": {"StringEquals": {"token.actions.githubusercontent.com:sub": "repo:o/r:environment:prod"}}})
    token = {"token.actions.githubusercontent.com:sub": "repo:o/r:environment:prod"}
    assert trusts(trust, "sts:AssumeRoleWithWebIdentity", "arn:aws:iam::1:oidc-provider/token.actions.githubusercontent.com",
                  token).allowed
    assert not trusts(trust, "sts:AssumeRoleWithWebIdentity", "arn:aws:iam::1:oidc-provider/other", token).allowed

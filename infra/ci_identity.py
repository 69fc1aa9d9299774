"""CiIdentity: GitHub Actions' way into this AWS account without long-lived keys.

GitHub's OIDC identity provider, and one deploy role that only a workflow of the configured repository
can assume, and only from the configured branch or GitHub environments (the token's `sub`), for STS
(`aud`). Its permissions reach this project's resources only: the Terraform state bucket (state files
and their S3-native lock files), the project's ECR repositories (push), its migration task definitions
(RunTask), its services, and PassRole of its task roles. It lives in the bootstrap stack: like the state
bucket, it is created once per account by someone who may create roles; CI cannot create its own role.
"""
from __future__ import annotations

import json

from constructs import Construct
from cdktf_cdktf_provider_aws.data_aws_caller_identity import DataAwsCallerIdentity
from cdktf_cdktf_provider_aws.iam_openid_connect_provider import IamOpenidConnectProvider
from cdktf_cdktf_provider_aws.iam_role import IamRole
from cdktf_cdktf_provider_aws.iam_role_policy import IamRolePolicy
from cdktf_cdktf_provider_aws.s3_bucket import S3Bucket

from infra.config import CiConfig

GITHUB_ISSUER = "token.actions.githubusercontent.com"
AUDIENCE = "sts.amazonaws.com"
# GitHub's OIDC certificate thumbprints. AWS no longer checks them for this provider (it trusts GitHub's
# certificate authority), but the API still requires at least one.
THUMBPRINTS = ["6938fd4d98bab03faadb97b34396831e3780aea1", "1c58a3a8518e8759bf075b76b750d4f2df264fcd"]
# Actions that only accept Resource "*" (no resource-level permissions); see infra/policy.py.
TASK_DEFINITION_ACTIONS = ["ecs:RegisterTaskDefinition", "ecs:DescribeTaskDefinition",
                           "ecs:DeregisterTaskDefinition"]


def subjects(config: CiConfig) -> list[str]:
    """The token subjects the role trusts: pushes to the branch, and jobs in the named GitHub environments."""
    repo = config.github_repository
    return [f"repo:{repo}:ref:refs/heads/{config.branch}"] + [
        f"repo:{repo}:environment:{name}" for name in config.environments]


class CiIdentity(Construct):
    """The OIDC provider and the deploy role (`self.role`, `self.provider`)."""

    def __init__(self, scope: Construct, id: str, *, config: CiConfig, state_bucket: S3Bucket) -> None:
        super().__init__(scope, id)
        self.provider = IamOpenidConnectProvider(self, "github", url=f"https://{GITHUB_ISSUER}",
                                                 client_id_list=[AUDIENCE], thumbprint_list=THUMBPRINTS)
        account = DataAwsCallerIdentity(self, "account").account_id
        trust = {"Version": "2012-10-17", "Statement": [{
            "Sid": "GitHubActionsOfThisRepository", "Effect": "Allow", "Action": "sts:AssumeRoleWithWebIdentity",
            "Principal": {"Federated": self.provider.arn},
            # StringEquals, never StringLike: a wildcard here would let other branches or forks in.
            "Condition": {"StringEquals": {f"{GITHUB_ISSUER}:aud": AUDIENCE,
                                           f"{GITHUB_ISSUER}:sub": subjects(config)}}}]}
        prefix = f"{config.project}-"
        self.role = IamRole(self, "deploy-role", name=f"{config.project}-github-deploy",
                            assume_role_policy=json.dumps(trust), max_session_duration=3600,
                            description=f"GitHub Actions of {config.github_repository} deploying {config.project}")
        # Any region (each environment chooses its own), this account, this project's names only.
        ecr = f"arn:aws:ecr:*:{account}:repository/{prefix}*"
        ecs = f"arn:aws:ecs:*:{account}"
        statements = [
            {"Sid": "ListStateBucket", "Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": state_bucket.arn},
            {"Sid": "ReadWriteStateAndLocks", "Effect": "Allow",
             "Action": ["s3:GetObject", "s3:PutObject"], "Resource": f"{state_bucket.arn}/*"},
            # Only lock files are ever deleted (Terraform's S3-native lock: <key>.tflock).
            {"Sid": "ReleaseStateLocks", "Effect": "Allow", "Action": ["s3:DeleteObject"],
             "Resource": f"{state_bucket.arn}/*.tflock"},
            # GetAuthorizationToken has no resource-level permissions: AWS requires "*".
            {"Sid": "EcrLogin", "Effect": "Allow", "Action": ["ecr:GetAuthorizationToken"], "Resource": "*"},
            {"Sid": "PushProjectImages", "Effect": "Allow", "Resource": ecr, "Action": [
                "ecr:BatchCheckLayerAvailability", "ecr:InitiateLayerUpload", "ecr:UploadLayerPart",
                "ecr:CompleteLayerUpload", "ecr:PutImage", "ecr:BatchGetImage", "ecr:DescribeImages"]},
            {"Sid": "TaskDefinitions", "Effect": "Allow", "Action": TASK_DEFINITION_ACTIONS, "Resource": "*"},
            {"Sid": "RunMigrationTask", "Effect": "Allow", "Action": ["ecs:RunTask"],
             "Resource": f"{ecs}:task-definition/{prefix}*-migrate:*"},
            {"Sid": "WatchTasksAndServices", "Effect": "Allow",
             "Action": ["ecs:DescribeTasks", "ecs:ListTasks", "ecs:DescribeServices", "ecs:UpdateService"],
             "Resource": [f"{ecs}:task/{prefix}*/*", f"{ecs}:service/{prefix}*/*",
                          f"{ecs}:container-instance/{prefix}*/*", f"{ecs}:cluster/{prefix}*"]},
            {"Sid": "ReadMigrationLogs", "Effect": "Allow", "Action": ["logs:GetLogEvents"],
             "Resource": f"arn:aws:logs:*:{account}:log-group:/ecs/{prefix}*:log-stream:*"},
            {"Sid": "PassTaskRolesToEcs", "Effect": "Allow", "Action": ["iam:PassRole"],
             "Resource": [f"arn:aws:iam::{account}:role/{prefix}*-task", f"arn:aws:iam::{account}:role/{prefix}*-task-execution"],
             "Condition": {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}}},
        ]
        IamRolePolicy(self, "deploy-policy", role=self.role.id, name="release-this-project",
                      policy=json.dumps({"Version": "2012-10-17", "Statement": statements}))

"""CiIdentity: GitHub Actions' way into this AWS account without long-lived keys.

GitHub's OIDC identity provider and two roles that only workflows of the configured repository can assume,
for STS (`aud`), each from exact token subjects (`sub`):

- the plan role, from pull requests only: reads the state (no lock: plans run with `-lock=false`) and what
  Terraform's refresh reads of the app stacks' resource types (REFRESH_READS); it can change nothing;
- the deploy role, from the configured branch or GitHub environments: the same reads, the state and its lock
  files, and the writes of an image or configuration release (the ECS task definitions and service: what
  tools/plan_scope.py RELEASE_CHANGES allows), the image push, the migration task and PassRole of the task
  roles. Any other change to the infrastructure is applied by an administrator (README, Release); the release
  workflow checks the plan with tools/plan_scope.py first, so it fails naming the change, not half-way through.

Every permission reaches this project's resources only: by ARN with the `<project>-` name prefix where the
service has resource-level permissions, by the `project` tag (the provider's default tags) where AWS names
resources by generated ids, and Resource "*" only for actions that AWS authorizes on "*" alone
(infra/policy.py STAR_ONLY_ACTIONS). It lives in the bootstrap stack: like the state bucket, it is created
once per account by someone who may create roles; CI cannot create or widen its own roles.
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
from infra.policy import STAR_ONLY_ACTIONS

GITHUB_ISSUER = "token.actions.githubusercontent.com"
AUDIENCE = "sts.amazonaws.com"
# GitHub's OIDC certificate thumbprints. AWS no longer checks them for this provider (it trusts GitHub's
# certificate authority), but the API still requires at least one.
THUMBPRINTS = ["6938fd4d98bab03faadb97b34396831e3780aea1", "1c58a3a8518e8759bf075b76b750d4f2df264fcd"]
# The tag every app stack's provider puts on every resource (infra/stacks.py default_tags): where AWS names a
# resource by a generated id (KMS keys, VPCs, scalable targets), it says which project the resource is.
PROJECT_TAG = "project"
# Names of the log groups the app stacks create, before `<project>-`: RDS exports, WAF, flow logs, the tasks.
LOG_GROUP_PREFIXES = ("/aws/rds/instance/", "aws-waf-logs-", "/vpc/", "/ecs/")

S3_BUCKET_READS = (
    "s3:ListBucket", "s3:GetBucketPolicy", "s3:GetBucketAcl", "s3:GetBucketCORS", "s3:GetBucketWebsite",
    "s3:GetBucketVersioning", "s3:GetAccelerateConfiguration", "s3:GetBucketRequestPayment", "s3:GetBucketLogging",
    "s3:GetLifecycleConfiguration", "s3:GetReplicationConfiguration", "s3:GetEncryptionConfiguration",
    "s3:GetBucketObjectLockConfiguration", "s3:GetBucketTagging")
LB_TAGS = "elasticloadbalancing:DescribeTags"
# What the AWS provider (5.x) calls to refresh each resource type (and "data." + each data source) of the app
# stacks. A test derives the types from the synthesized stacks: a type added without its reads fails it.
REFRESH_READS: dict[str, tuple[str, ...]] = {
    "aws_appautoscaling_policy": ("application-autoscaling:DescribeScalingPolicies",),
    "aws_appautoscaling_target": ("application-autoscaling:DescribeScalableTargets",
                                  "application-autoscaling:ListTagsForResource"),
    "aws_cloudwatch_log_group": ("logs:DescribeLogGroups", "logs:ListTagsForResource"),
    "aws_db_instance": ("rds:DescribeDBInstances", "rds:ListTagsForResource"),
    "aws_db_parameter_group": ("rds:DescribeDBParameterGroups", "rds:DescribeDBParameters", "rds:ListTagsForResource"),
    "aws_db_subnet_group": ("rds:DescribeDBSubnetGroups", "rds:ListTagsForResource"),
    "aws_default_security_group": ("ec2:DescribeSecurityGroups",),
    "aws_ecr_lifecycle_policy": ("ecr:GetLifecyclePolicy",),
    "aws_ecr_repository": ("ecr:DescribeRepositories", "ecr:ListTagsForResource"),
    "aws_ecs_cluster": ("ecs:DescribeClusters", "ecs:ListTagsForResource"),
    "aws_ecs_service": ("ecs:DescribeServices", "ecs:ListTagsForResource"),
    "aws_ecs_task_definition": ("ecs:DescribeTaskDefinition", "ecs:ListTagsForResource"),
    "aws_eip": ("ec2:DescribeAddresses", "ec2:DescribeAddressesAttribute"),
    "aws_flow_log": ("ec2:DescribeFlowLogs",),
    "aws_iam_role": ("iam:GetRole", "iam:ListRolePolicies", "iam:GetRolePolicy", "iam:ListAttachedRolePolicies"),
    "aws_iam_role_policy": ("iam:GetRolePolicy",),
    "aws_iam_role_policy_attachment": ("iam:ListAttachedRolePolicies",),
    "aws_internet_gateway": ("ec2:DescribeInternetGateways",),
    "aws_kms_alias": ("kms:ListAliases",),
    "aws_kms_key": ("kms:DescribeKey", "kms:GetKeyPolicy", "kms:GetKeyRotationStatus", "kms:ListResourceTags"),
    "aws_lb": ("elasticloadbalancing:DescribeLoadBalancers", "elasticloadbalancing:DescribeLoadBalancerAttributes",
               "elasticloadbalancing:DescribeCapacityReservation", LB_TAGS),
    "aws_lb_listener": ("elasticloadbalancing:DescribeListeners", "elasticloadbalancing:DescribeListenerAttributes",
                        LB_TAGS),
    "aws_lb_target_group": ("elasticloadbalancing:DescribeTargetGroups",
                            "elasticloadbalancing:DescribeTargetGroupAttributes", LB_TAGS),
    "aws_nat_gateway": ("ec2:DescribeNatGateways",),
    "aws_route": ("ec2:DescribeRouteTables",),
    "aws_route_table": ("ec2:DescribeRouteTables",),
    "aws_route_table_association": ("ec2:DescribeRouteTables",),
    "aws_s3_bucket": S3_BUCKET_READS,
    "aws_s3_bucket_lifecycle_configuration": ("s3:GetLifecycleConfiguration",),
    "aws_s3_bucket_notification": ("s3:GetBucketNotification",),
    "aws_s3_bucket_ownership_controls": ("s3:GetBucketOwnershipControls",),
    "aws_s3_bucket_policy": ("s3:GetBucketPolicy",),
    "aws_s3_bucket_public_access_block": ("s3:GetBucketPublicAccessBlock",),
    "aws_s3_bucket_server_side_encryption_configuration": ("s3:GetEncryptionConfiguration",),
    "aws_s3_bucket_versioning": ("s3:GetBucketVersioning",),
    "aws_security_group": ("ec2:DescribeSecurityGroups",),
    "aws_subnet": ("ec2:DescribeSubnets",),
    # The VPC's own attributes, and its main route table, default security group and network ACL.
    "aws_vpc": ("ec2:DescribeVpcs", "ec2:DescribeVpcAttribute", "ec2:DescribeRouteTables",
                "ec2:DescribeSecurityGroups", "ec2:DescribeNetworkAcls"),
    "aws_vpc_endpoint": ("ec2:DescribeVpcEndpoints", "ec2:DescribePrefixLists"),
    "aws_vpc_security_group_egress_rule": ("ec2:DescribeSecurityGroupRules",),
    "aws_vpc_security_group_ingress_rule": ("ec2:DescribeSecurityGroupRules",),
    "aws_wafv2_web_acl": ("wafv2:GetWebACL", "wafv2:ListTagsForResource"),
    "aws_wafv2_web_acl_association": ("wafv2:GetWebACLForResource",),
    "aws_wafv2_web_acl_logging_configuration": ("wafv2:GetLoggingConfiguration",),
    "data.aws_availability_zones": ("ec2:DescribeAvailabilityZones",),
    # sts:GetCallerIdentity needs no permission; the partition and the ELB account are tables in the provider.
    "data.aws_caller_identity": (),
    "data.aws_elb_service_account": (),
    "data.aws_partition": (),
}


def subjects(config: CiConfig) -> list[str]:
    """The token subjects the deploy role trusts: pushes to the branch, and jobs in the named GitHub environments."""
    repo = config.github_repository
    return [f"repo:{repo}:ref:refs/heads/{config.branch}"] + [
        f"repo:{repo}:environment:{name}" for name in config.environments]


def plan_subjects(config: CiConfig) -> list[str]:
    """The token subject the plan role trusts: a pull request's workflow of the repository (forks get no token)."""
    return [f"repo:{config.github_repository}:pull_request"]


def refresh_actions() -> list[str]:
    """Every action of REFRESH_READS, once, sorted."""
    return sorted({action for actions in REFRESH_READS.values() for action in actions})


class CiIdentity(Construct):
    """The OIDC provider, the deploy role and the plan role (`self.provider`, `self.role`, `self.plan_role`)."""

    def __init__(self, scope: Construct, id: str, *, config: CiConfig, state_bucket: S3Bucket) -> None:
        super().__init__(scope, id)
        self.provider = IamOpenidConnectProvider(self, "github", url=f"https://{GITHUB_ISSUER}",
                                                 client_id_list=[AUDIENCE], thumbprint_list=THUMBPRINTS)
        self._account = DataAwsCallerIdentity(self, "account").account_id
        self._project = config.project
        self._bucket = state_bucket.arn
        repo, project = config.github_repository, config.project
        self.role = IamRole(self, "deploy-role", name=f"{project}-github-deploy",
                            assume_role_policy=self._trust(subjects(config)), max_session_duration=3600,
                            description=f"GitHub Actions of {repo} deploying {project}")
        IamRolePolicy(self, "deploy-policy", role=self.role.id, name="release-this-project",
                      policy=self._policy(self._state(write=True) + self._reads() + self._release()))
        self.plan_role = IamRole(self, "plan-role", name=f"{project}-github-plan",
                                 assume_role_policy=self._trust(plan_subjects(config)), max_session_duration=3600,
                                 description=f"GitHub Actions of {repo} planning {project} from pull requests (read-only)")
        IamRolePolicy(self, "plan-policy", role=self.plan_role.id, name="plan-this-project",
                      policy=self._policy(self._state(write=False) + self._reads()))

    def _trust(self, token_subjects: list[str]) -> str:
        return json.dumps({"Version": "2012-10-17", "Statement": [{
            "Sid": "GitHubActionsOfThisRepository", "Effect": "Allow", "Action": "sts:AssumeRoleWithWebIdentity",
            "Principal": {"Federated": self.provider.arn},
            # StringEquals, never StringLike: a wildcard here would let other branches or forks in.
            "Condition": {"StringEquals": {f"{GITHUB_ISSUER}:aud": AUDIENCE, f"{GITHUB_ISSUER}:sub": token_subjects}}}]})

    @staticmethod
    def _policy(statements: list[dict]) -> str:
        return json.dumps({"Version": "2012-10-17", "Statement": statements})

    def _state(self, *, write: bool) -> list[dict]:
        bucket = self._bucket
        if not write:  # plans run with -lock=false: no lock file is written
            return [{"Sid": "ListStateBucket", "Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": bucket},
                    {"Sid": "ReadState", "Effect": "Allow", "Action": ["s3:GetObject"], "Resource": f"{bucket}/*"}]
        return [
            {"Sid": "ListStateBucket", "Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": bucket},
            {"Sid": "ReadWriteStateAndLocks", "Effect": "Allow",
             "Action": ["s3:GetObject", "s3:PutObject"], "Resource": f"{bucket}/*"},
            # Only lock files are ever deleted (Terraform's S3-native lock: <key>.tflock).
            {"Sid": "ReleaseStateLocks", "Effect": "Allow", "Action": ["s3:DeleteObject"],
             "Resource": f"{bucket}/*.tflock"},
        ]

    def _arns(self, service: str) -> list[str]:
        """This project's resources of `service` that its read actions name, by the `<project>-` prefix."""
        account, prefix = self._account, f"{self._project}-"
        return {
            "s3": [f"arn:aws:s3:::{prefix}*"],
            "iam": [f"arn:aws:iam::{account}:role/{prefix}*"],
            "ecr": [f"arn:aws:ecr:*:{account}:repository/{prefix}*"],
            "ecs": [f"arn:aws:ecs:*:{account}:cluster/{prefix}*", f"arn:aws:ecs:*:{account}:service/{prefix}*/*",
                    f"arn:aws:ecs:*:{account}:task-definition/{prefix}*:*"],
            "logs": [f"arn:aws:logs:*:{account}:log-group:{start}{prefix}*" for start in LOG_GROUP_PREFIXES],
            "rds": [f"arn:aws:rds:*:{account}:{kind}:{prefix}*" for kind in ("db", "pg", "subgrp")],
            "wafv2": [f"arn:aws:wafv2:*:{account}:regional/webacl/{prefix}*/*",
                      # GetWebACLForResource names the load balancer too.
                      f"arn:aws:elasticloadbalancing:*:{account}:loadbalancer/app/{prefix}*/*"],
        }.get(service, [])

    def _tagged_arns(self, service: str) -> list[str]:
        """Resources of `service` named by generated ids: reached through the project tag instead of a name."""
        account = self._account
        return {"kms": [f"arn:aws:kms:*:{account}:key/*"], "ec2": [f"arn:aws:ec2:*:{account}:vpc/*"],
                "application-autoscaling": [f"arn:aws:application-autoscaling:*:{account}:scalable-target/*"],
                }.get(service, [])

    def _reads(self) -> list[dict]:
        """What Terraform's refresh of the app stacks reads: one statement per way of scoping."""
        star, named, tagged = [], {}, {}
        for action in refresh_actions():
            service = action.split(":")[0]
            if action in STAR_ONLY_ACTIONS:
                star.append(action)
            elif self._arns(service):
                named.setdefault(service, []).append(action)
            elif self._tagged_arns(service):
                tagged.setdefault(service, []).append(action)
            else:
                raise ValueError(f"{action}: REFRESH_READS names an action that is not in STAR_ONLY_ACTIONS and "
                                 f"CiIdentity has no resources of {service} for it: add them to _arns or _tagged_arns")
        statements = [{"Sid": "RefreshWhatHasNoResourceLevelPermissions", "Effect": "Allow", "Action": star,
                       "Resource": "*"}]
        statements += [{"Sid": f"Refresh{_sid(service)}OfThisProject", "Effect": "Allow", "Action": actions,
                        "Resource": self._arns(service)} for service, actions in named.items()]
        statements += [{"Sid": f"Refresh{_sid(service)}TaggedForThisProject", "Effect": "Allow", "Action": actions,
                        "Resource": self._tagged_arns(service),
                        "Condition": {"StringEquals": {f"aws:ResourceTag/{PROJECT_TAG}": self._project}}}
                       for service, actions in tagged.items()]
        return statements

    def _release(self) -> list[dict]:
        """Push the image, run the migration, register task definitions and move the service to them."""
        account, prefix = self._account, f"{self._project}-"
        ecs = f"arn:aws:ecs:*:{account}"
        return [
            {"Sid": "EcrLogin", "Effect": "Allow", "Action": ["ecr:GetAuthorizationToken"], "Resource": "*"},
            {"Sid": "PushProjectImages", "Effect": "Allow", "Resource": f"arn:aws:ecr:*:{account}:repository/{prefix}*",
             "Action": ["ecr:BatchCheckLayerAvailability", "ecr:InitiateLayerUpload", "ecr:UploadLayerPart",
                        "ecr:CompleteLayerUpload", "ecr:PutImage", "ecr:BatchGetImage", "ecr:DescribeImages"]},
            {"Sid": "RegisterProjectTaskDefinitions", "Effect": "Allow", "Action": ["ecs:RegisterTaskDefinition"],
             "Resource": f"{ecs}:task-definition/{prefix}*"},
            # Tags only as part of registering (the provider's default tags); never retagging anything.
            {"Sid": "TagTaskDefinitionsWhenRegistered", "Effect": "Allow", "Action": ["ecs:TagResource"],
             "Resource": f"{ecs}:task-definition/{prefix}*",
             "Condition": {"StringEquals": {"ecs:CreateAction": "RegisterTaskDefinition"}}},
            # AWS authorizes deregistering only on "*": Terraform's replacement and the one-off migration revision.
            {"Sid": "DeregisterTaskDefinitions", "Effect": "Allow", "Action": ["ecs:DeregisterTaskDefinition"],
             "Resource": "*"},
            {"Sid": "RunMigrationTask", "Effect": "Allow", "Action": ["ecs:RunTask"],
             "Resource": f"{ecs}:task-definition/{prefix}*-migrate:*"},
            {"Sid": "WatchTasksAndUpdateServices", "Effect": "Allow",
             "Action": ["ecs:DescribeTasks", "ecs:ListTasks", "ecs:DescribeServices", "ecs:UpdateService"],
             "Resource": [f"{ecs}:task/{prefix}*/*", f"{ecs}:service/{prefix}*/*",
                          f"{ecs}:container-instance/{prefix}*/*", f"{ecs}:cluster/{prefix}*"]},
            {"Sid": "ReadMigrationLogs", "Effect": "Allow", "Action": ["logs:GetLogEvents"],
             "Resource": f"arn:aws:logs:*:{account}:log-group:/ecs/{prefix}*:log-stream:*"},
            {"Sid": "PassTaskRolesToEcs", "Effect": "Allow", "Action": ["iam:PassRole"],
             "Resource": [f"arn:aws:iam::{account}:role/{prefix}*-task",
                          f"arn:aws:iam::{account}:role/{prefix}*-task-execution"],
             "Condition": {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}}},
        ]


def _sid(service: str) -> str:
    """A statement id part from a service prefix: `application-autoscaling` -> `ApplicationAutoscaling`."""
    return "".join(part.capitalize() for part in service.split("-"))

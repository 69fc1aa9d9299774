"""CiIdentity: GitHub Actions' way into this AWS account without long-lived keys.

GitHub's OIDC identity provider (created here, or the account's existing one: CiConfig.oidc_provider) and roles
that only workflows of the configured repository can assume, for STS (`aud`), each from exact token subjects
(`sub`):

- the plan role, shared, from pull requests and from the scheduled drift check on the release branch: reads
  every environment's state (no lock: plans run with `-lock=false`) and what Terraform's refresh reads of the
  app stacks' resource types (REFRESH_READS); it can change nothing;
- one deploy role per environment, only from jobs in the GitHub environment of that name: the same reads of
  that environment only, its state and lock file (encrypted with the state bucket's KMS key), and the writes
  of an image or configuration release (the ECS task definitions and service: what tools/plan_scope.py
  RELEASE_CHANGES allows), the image push, the migration task on that environment's cluster and PassRole of
  that environment's task roles. A dev job can change nothing of prod. Any other change to the
  infrastructure is applied by an administrator (README, Release); the release workflow checks the plan with
  tools/plan_scope.py first, so it fails naming the change, not half-way through.

Every permission reaches only this project's (or this environment's) resources: by ARN with the name prefix
where the service has resource-level permissions, by the `project` and `environment` tags (the provider's
default tags) where AWS names resources by generated ids, and Resource "*" only for actions that AWS authorizes
on "*" alone (infra/policy.py STAR_ONLY_ACTIONS) or for a request form that AWS authorizes on "*" (ListTasks,
narrowed by its `ecs:cluster` condition key). Which ARN each call is authorized on comes from AWS's Service
Authorization Reference: tests/deploy/test_ci_permissions.py judges every call the deploy cycle and the release
tests make against these policies (security/authorization.py). It lives in the bootstrap stack: like the state
bucket, it is created once per account by someone who may create roles; CI cannot create or widen its own roles.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

from constructs import Construct
from cdktf_cdktf_provider_aws.data_aws_caller_identity import DataAwsCallerIdentity
from cdktf_cdktf_provider_aws.data_aws_iam_openid_connect_provider import DataAwsIamOpenidConnectProvider
from cdktf_cdktf_provider_aws.iam_openid_connect_provider import IamOpenidConnectProvider
from cdktf_cdktf_provider_aws.iam_role import IamRole
from cdktf_cdktf_provider_aws.iam_role_policy import IamRolePolicy
from cdktf_cdktf_provider_aws.s3_bucket import S3Bucket

from infra.config import VERIFIED_TAG, CiConfig, resource_prefix, state_key
from infra.policy import STAR_ONLY_ACTIONS

GITHUB_ISSUER = "token.actions.githubusercontent.com"
AUDIENCE = "sts.amazonaws.com"
# GitHub's OIDC certificate thumbprints. AWS no longer checks them for this provider (it trusts GitHub's
# certificate authority), but the API still requires at least one.
THUMBPRINTS = ["6938fd4d98bab03faadb97b34396831e3780aea1", "1c58a3a8518e8759bf075b76b750d4f2df264fcd"]
# The tag every app stack's provider puts on every resource (infra/stacks.py default_tags): where AWS names a
# resource by a generated id (KMS keys, VPCs, scalable targets), it says which project the resource is.
PROJECT_TAG = "project"
ENVIRONMENT_TAG = "environment"
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
    "aws_cloudwatch_dashboard": ("cloudwatch:GetDashboard",),
    "aws_cloudwatch_log_group": ("logs:DescribeLogGroups", "logs:ListTagsForResource"),
    "aws_cloudwatch_log_metric_filter": ("logs:DescribeMetricFilters",),
    "aws_cloudwatch_metric_alarm": ("cloudwatch:DescribeAlarms", "cloudwatch:ListTagsForResource"),
    "aws_cloudwatch_query_definition": ("logs:DescribeQueryDefinitions",),
    # The provider keeps the DBI resource id (db-XXXX) as the id and reads with a dbi-resource-id filter: AWS
    # authorizes that on db:* (terraform-provider-aws #32732, #35737; security/authorization.py judges it).
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
    "aws_sns_topic": ("sns:GetTopicAttributes", "sns:ListTagsForResource"),
    "aws_sns_topic_policy": ("sns:GetTopicAttributes",),
    "aws_sns_topic_subscription": ("sns:GetSubscriptionAttributes",),
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


# Reads whose request form names no resource of the kind AWS authorizes them on, so that AWS authorizes them on
# every resource of that kind (security/authorization.py shows which ARN each recorded call is authorized on):
ANY_OF_ITS_KIND_READS = {
    # The provider reads a database by its DBI resource id with a dbi-resource-id filter: AWS authorizes db:*.
    "RefreshDatabasesByResourceId": ("rds:DescribeDBInstances", "arn:aws:rds:*:{account}:db:*"),
    # GetWebACLForResource names the load balancer; the web ACL it answers with is unknown until it answers.
    "RefreshWebAclOfTheLoadBalancer": ("wafv2:GetWebACLForResource", "arn:aws:wafv2:*:{account}:*/webacl/*/*"),
}


def deploy_subject(config: CiConfig, environment: str) -> str:
    """The token subject of a job in GitHub environment `environment`: the only one its deploy role trusts."""
    return f"repo:{config.github_repository}:environment:{environment}"


def plan_subjects(config: CiConfig) -> list[str]:
    """The subjects the plan role trusts: the repository's pull requests (forks get no token) and runs on the
    release branch (the scheduled drift check)."""
    repo = config.github_repository
    return [f"repo:{repo}:pull_request", f"repo:{repo}:ref:refs/heads/{config.branch}"]


def deploy_role_name(config: CiConfig, environment: str) -> str:
    return f"{resource_prefix(config.project, environment)}-github-deploy"


def refresh_actions() -> list[str]:
    """Every action of REFRESH_READS, once, sorted."""
    return sorted({action for actions in REFRESH_READS.values() for action in actions})


@dataclass(frozen=True)
class _Scope:
    """Whose resources a policy reaches: every environment of the project (`*`), or one."""

    project: str
    environment: str = "*"

    @property
    def names(self) -> list[str]:
        """Resource names of the scope: `notes-dev` and `notes-dev-*` (never `notes-dev*`, which is also
        `notes-devtest`), or `notes-*` for the whole project."""
        if self.environment == "*":
            return [f"{self.project}-*"]
        prefix = resource_prefix(self.project, self.environment)
        return [prefix, f"{prefix}-*"]

    @property
    def tags(self) -> dict[str, str]:
        found = {f"aws:ResourceTag/{PROJECT_TAG}": self.project}
        if self.environment != "*":
            found[f"aws:ResourceTag/{ENVIRONMENT_TAG}"] = self.environment
        return found


class CiIdentity(Construct):
    """The OIDC provider, a deploy role per environment and the plan role (`self.provider_arn`,
    `self.deploy_roles` by environment, `self.plan_role`)."""

    def __init__(self, scope: Construct, id: str, *, config: CiConfig, state_bucket: S3Bucket, state_key_arn: str) -> None:
        super().__init__(scope, id)
        if config.oidc_provider == "existing":
            self.provider_arn = DataAwsIamOpenidConnectProvider(self, "github", url=f"https://{GITHUB_ISSUER}").arn
        else:
            self.provider_arn = IamOpenidConnectProvider(self, "github", url=f"https://{GITHUB_ISSUER}",
                                                         client_id_list=[AUDIENCE], thumbprint_list=THUMBPRINTS).arn
        self._account = DataAwsCallerIdentity(self, "account").account_id
        self._project = config.project
        self._bucket = state_bucket.arn
        self._state_key = state_key_arn
        repo, project, seconds = config.github_repository, config.project, config.session_hours * 3600
        self.deploy_roles: dict[str, IamRole] = {}
        for environment in config.environments:
            role = IamRole(self, f"deploy-role-{environment}", name=deploy_role_name(config, environment),
                           assume_role_policy=self._trust([deploy_subject(config, environment)]),
                           max_session_duration=seconds,
                           description=f"GitHub Actions of {repo} releasing {project} {environment}")
            where = _Scope(project, environment)
            IamRolePolicy(self, f"deploy-policy-{environment}", role=role.id, name=f"release-{environment}",
                          policy=self._policy(self._state(environment) + self._reads(where) + self._release(where)))
            self.deploy_roles[environment] = role
        self.plan_role = IamRole(self, "plan-role", name=f"{project}-github-plan",
                                 assume_role_policy=self._trust(plan_subjects(config)), max_session_duration=seconds,
                                 description=f"GitHub Actions of {repo} planning {project} (read-only)")
        IamRolePolicy(self, "plan-policy", role=self.plan_role.id, name="plan-this-project",
                      policy=self._policy(self._state(None) + self._reads(_Scope(project))))

    def _trust(self, token_subjects: list[str]) -> str:
        return json.dumps({"Version": "2012-10-17", "Statement": [{
            "Sid": "GitHubActionsOfThisRepository", "Effect": "Allow", "Action": "sts:AssumeRoleWithWebIdentity",
            "Principal": {"Federated": self.provider_arn},
            # StringEquals, never StringLike: a wildcard here would let other branches or forks in.
            "Condition": {"StringEquals": {f"{GITHUB_ISSUER}:aud": AUDIENCE, f"{GITHUB_ISSUER}:sub": token_subjects}}}]})

    @staticmethod
    def _policy(statements: list[dict]) -> str:
        return json.dumps({"Version": "2012-10-17", "Statement": statements})

    def _state(self, environment: str | None) -> list[dict]:
        """The state: every environment's, read-only (plan role, `environment` None), or one environment's, read
        and written with its lock file (a deploy role). The objects are encrypted with the state bucket's KMS
        key (S3 User Guide, SSE-KMS permissions: kms:GenerateDataKey to write, kms:Decrypt to read), through S3
        only (kms:ViaService)."""
        bucket = self._bucket
        via_s3 = {"StringLike": {"kms:ViaService": "s3.*.amazonaws.com"}}
        if environment is None:  # plans run with -lock=false: no lock file is written
            return [{"Sid": "ListStateBucket", "Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": bucket},
                    {"Sid": "ReadState", "Effect": "Allow", "Action": ["s3:GetObject"], "Resource": f"{bucket}/*"},
                    {"Sid": "DecryptState", "Effect": "Allow", "Action": ["kms:Decrypt"], "Resource": self._state_key,
                     "Condition": via_s3}]
        key = f"{bucket}/{state_key(environment)}"
        return [
            {"Sid": "ListStateBucket", "Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": bucket},
            {"Sid": "ReadWriteStateAndLock", "Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"],
             "Resource": [key, f"{key}.tflock"]},
            # Only the lock file is ever deleted (Terraform's S3-native lock: <key>.tflock).
            {"Sid": "ReleaseStateLock", "Effect": "Allow", "Action": ["s3:DeleteObject"], "Resource": f"{key}.tflock"},
            {"Sid": "EncryptAndDecryptState", "Effect": "Allow", "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
             "Resource": self._state_key, "Condition": via_s3},
        ]

    def _arns(self, service: str, where: _Scope) -> list[str]:
        """The scope's resources of `service` that its read actions name, by name."""
        account, names = self._account, where.names
        return {
            "s3": [f"arn:aws:s3:::{n}" for n in names],
            # Alarms are `<prefix>-<what>`; the dashboard is `<prefix>` (a dashboard's ARN has no region).
            "cloudwatch": [arn for n in names for arn in (f"arn:aws:cloudwatch:*:{account}:alarm:{n}",
                                                          f"arn:aws:cloudwatch::{account}:dashboard/{n}")],
            # The alarm topic `<prefix>-alarms`; a subscription is authorized on its topic.
            "sns": [f"arn:aws:sns:*:{account}:{n}" for n in names],
            "iam": [f"arn:aws:iam::{account}:role/{n}" for n in names],
            "ecr": [f"arn:aws:ecr:*:{account}:repository/{n}/*" for n in names],
            "ecs": [arn for n in names for arn in (
                f"arn:aws:ecs:*:{account}:cluster/{n}", f"arn:aws:ecs:*:{account}:service/{n}/*",
                f"arn:aws:ecs:*:{account}:task-definition/{n}:*")],
            # An exact name also has the groups under it (`/ecs/notes-dev/app`); `notes-dev-*` covers its own.
            "logs": [f"arn:aws:logs:*:{account}:log-group:{start}{name}" for start in LOG_GROUP_PREFIXES for n in names
                     for name in ([n] if n.endswith("*") else [n, f"{n}/*"])],
            # db:* for DescribeDBInstances: see REFRESH_READS (the provider's filter read).
            "rds": [f"arn:aws:rds:*:{account}:{kind}:{n}" for kind in ("db", "pg", "subgrp") for n in names],
            "wafv2": [arn for n in names for arn in (
                f"arn:aws:wafv2:*:{account}:regional/webacl/{n}/*",
                # GetWebACLForResource names the load balancer too.
                f"arn:aws:elasticloadbalancing:*:{account}:loadbalancer/app/{n}/*")],
        }.get(service, [])

    def _tagged_arns(self, service: str) -> list[str]:
        """Resources of `service` named by generated ids: reached through the tags instead of a name."""
        account = self._account
        return {"kms": [f"arn:aws:kms:*:{account}:key/*"], "ec2": [f"arn:aws:ec2:*:{account}:vpc/*"],
                "application-autoscaling": [f"arn:aws:application-autoscaling:*:{account}:scalable-target/*"],
                }.get(service, [])

    def _reads(self, where: _Scope) -> list[dict]:
        """What Terraform's refresh of the app stacks reads: one statement per way of scoping."""
        star, named, tagged = [], {}, {}
        for action in refresh_actions():
            service = action.split(":")[0]
            if action in STAR_ONLY_ACTIONS:
                star.append(action)
            elif self._arns(service, where):
                named.setdefault(service, []).append(action)
            elif self._tagged_arns(service):
                tagged.setdefault(service, []).append(action)
            else:
                raise ValueError(f"{action}: REFRESH_READS names an action that is not in STAR_ONLY_ACTIONS and "
                                 f"CiIdentity has no resources of {service} for it: add them to _arns or _tagged_arns")
        statements = [{"Sid": "RefreshWhatHasNoResourceLevelPermissions", "Effect": "Allow", "Action": star,
                       "Resource": "*"}]
        statements += [{"Sid": f"Refresh{_sid(service)}OfThisProject", "Effect": "Allow", "Action": actions,
                        "Resource": self._arns(service, where)} for service, actions in named.items()]
        statements += [{"Sid": f"Refresh{_sid(service)}TaggedForThisProject", "Effect": "Allow", "Action": actions,
                        "Resource": self._tagged_arns(service), "Condition": {"StringEquals": where.tags}}
                       for service, actions in tagged.items()]
        statements += [{"Sid": sid, "Effect": "Allow", "Action": [action], "Resource": arn.format(account=self._account)}
                       for sid, (action, arn) in ANY_OF_ITS_KIND_READS.items()]
        return statements

    def _release(self, where: _Scope) -> list[dict]:
        """Push the image, run the migration, register task definitions and move the service to them: this
        environment's only."""
        account, (prefix, names) = self._account, (where.names[0], where.names)
        ecs = f"arn:aws:ecs:*:{account}"
        cluster = f"{ecs}:cluster/{prefix}"
        return [
            {"Sid": "EcrLogin", "Effect": "Allow", "Action": ["ecr:GetAuthorizationToken"], "Resource": "*"},
            {"Sid": "PushImages", "Effect": "Allow", "Resource": [f"arn:aws:ecr:*:{account}:repository/{prefix}/*"],
             "Action": ["ecr:BatchCheckLayerAvailability", "ecr:InitiateLayerUpload", "ecr:UploadLayerPart",
                        "ecr:CompleteLayerUpload", "ecr:PutImage", "ecr:BatchGetImage", "ecr:DescribeImages"]},
            {"Sid": "RegisterTaskDefinitions", "Effect": "Allow", "Action": ["ecs:RegisterTaskDefinition"],
             "Resource": [f"{ecs}:task-definition/{n}:*" for n in names]},
            # Tags only as part of registering (the provider's default tags); never retagging anything.
            {"Sid": "TagTaskDefinitionsWhenRegistered", "Effect": "Allow", "Action": ["ecs:TagResource"],
             "Resource": [f"{ecs}:task-definition/{n}:*" for n in names],
             "Condition": {"StringEquals": {"ecs:CreateAction": "RegisterTaskDefinition"}}},
            # The release's mark on an app revision it verified (what `rollback` returns to), and no other tag.
            {"Sid": "MarkVerifiedReleases", "Effect": "Allow", "Action": ["ecs:TagResource"],
             "Resource": f"{ecs}:task-definition/{prefix}-app:*",
             "Condition": {"ForAllValues:StringEquals": {"aws:TagKeys": [VERIFIED_TAG]},
                           "Null": {"aws:TagKeys": "false"}}},
            # AWS authorizes deregistering only on "*": Terraform's replacement and the one-off migration revision.
            {"Sid": "DeregisterTaskDefinitions", "Effect": "Allow", "Action": ["ecs:DeregisterTaskDefinition"],
             "Resource": "*"},
            # What ran before (`status`, `rollback` from any machine): the family's revisions. AWS authorizes
            # ListTaskDefinitions only on "*" (Service Authorization Reference: no resource type).
            {"Sid": "ReadReleaseHistory", "Effect": "Allow", "Action": ["ecs:ListTaskDefinitions"], "Resource": "*"},
            # RunTask is authorized on the task definition; the cluster it runs in is the ecs:cluster key.
            {"Sid": "RunMigrationTaskOnThisCluster", "Effect": "Allow", "Action": ["ecs:RunTask"],
             "Resource": f"{ecs}:task-definition/{prefix}-migrate:*",
             "Condition": {"ArnLike": {"ecs:cluster": cluster}}},
            # UpdateService: the reference lists no ecs:cluster key for it (a condition on it would deny every
            # call); the service's ARN holds its cluster.
            {"Sid": "WatchTasksAndUpdateTheService", "Effect": "Allow",
             "Action": ["ecs:DescribeTasks", "ecs:DescribeServices", "ecs:UpdateService"],
             "Resource": [f"{ecs}:task/{prefix}/*", f"{ecs}:service/{prefix}/*"]},
            # ListTasks without a container instance is authorized on "*", narrowed by ecs:cluster.
            {"Sid": "ListTasksOfThisCluster", "Effect": "Allow", "Action": ["ecs:ListTasks"], "Resource": "*",
             "Condition": {"ArnLike": {"ecs:cluster": cluster}}},
            {"Sid": "ReadMigrationLogs", "Effect": "Allow", "Action": ["logs:GetLogEvents"],
             "Resource": f"arn:aws:logs:*:{account}:log-group:/ecs/{prefix}/*:log-stream:*"},
            {"Sid": "PassTaskRolesToEcs", "Effect": "Allow", "Action": ["iam:PassRole"],
             "Resource": [f"arn:aws:iam::{account}:role/{prefix}-task",
                          f"arn:aws:iam::{account}:role/{prefix}-task-execution"],
             "Condition": {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}}},
        ]


def _sid(service: str) -> str:
    """A statement id part from a service prefix: `application-autoscaling` -> `ApplicationAutoscaling`."""
    return "".join(part.capitalize() for part in service.split("-"))

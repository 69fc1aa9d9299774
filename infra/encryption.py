"""EncryptionKey: the customer-managed KMS key that encrypts a stack's data at rest.

One key per stack encrypts the database, its managed secret, Performance Insights, the image
repository and every log group; rotation is on. Its policy names each action instead of `kms:*`.
"""
from __future__ import annotations

import json

from constructs import Construct
from cdktf_cdktf_provider_aws.data_aws_caller_identity import DataAwsCallerIdentity
from cdktf_cdktf_provider_aws.data_aws_partition import DataAwsPartition
from cdktf_cdktf_provider_aws.kms_alias import KmsAlias
from cdktf_cdktf_provider_aws.kms_key import KmsKey

# What the account's administrators may do with the key. Enumerated so that no statement grants `kms:*`.
ADMIN_ACTIONS = [
    "kms:CancelKeyDeletion", "kms:CreateAlias", "kms:CreateGrant", "kms:Decrypt", "kms:DeleteAlias",
    "kms:DescribeKey", "kms:DisableKey", "kms:DisableKeyRotation", "kms:EnableKey", "kms:EnableKeyRotation",
    "kms:Encrypt", "kms:GenerateDataKey", "kms:GenerateDataKeyWithoutPlaintext", "kms:GetKeyPolicy",
    "kms:GetKeyRotationStatus", "kms:ListAliases", "kms:ListGrants", "kms:ListKeyPolicies",
    "kms:ListResourceTags", "kms:PutKeyPolicy", "kms:ReEncryptFrom", "kms:ReEncryptTo", "kms:RetireGrant",
    "kms:RevokeGrant", "kms:RotateKeyOnDemand", "kms:ScheduleKeyDeletion", "kms:TagResource",
    "kms:UntagResource", "kms:UpdateAlias", "kms:UpdateKeyDescription",
]


class EncryptionKey(Construct):
    """A KMS key with yearly rotation, usable by the account's IAM principals, by CloudWatch Logs and, when asked,
    by CloudWatch alarms."""

    def __init__(self, scope: Construct, id: str, *, name: str, region: str,
                 deletion_window_days: int = 30, logs: bool = True, alarms: bool = False) -> None:
        """`logs=False`: a key no log group uses (the state bucket's), without CloudWatch Logs' grant.
        `alarms=True`: a key an SNS topic that CloudWatch alarms notify is encrypted with (infra/monitoring.py)."""
        super().__init__(scope, id)
        account = DataAwsCallerIdentity(self, "account")
        partition = DataAwsPartition(self, "partition")
        self.account_id = account.account_id
        self.partition = partition.partition
        root = f"arn:{partition.partition}:iam::{account.account_id}:root"
        policy = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "AccountAdministration",
                    "Effect": "Allow",
                    "Principal": {"AWS": root},
                    "Action": ADMIN_ACTIONS,
                    # In a key policy, "*" means this key and nothing else.
                    "Resource": "*",
                },
            ] + ([
                {
                    # CloudWatch Logs encrypts log groups with the key only for this account's groups.
                    "Sid": "CloudWatchLogs",
                    "Effect": "Allow",
                    "Principal": {"Service": f"logs.{region}.amazonaws.com"},
                    "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncryptFrom", "kms:ReEncryptTo",
                               "kms:GenerateDataKey", "kms:GenerateDataKeyWithoutPlaintext", "kms:DescribeKey"],
                    "Resource": "*",
                    "Condition": {"ArnLike": {"kms:EncryptionContext:aws:logs:arn":
                                              f"arn:{partition.partition}:logs:{region}:{account.account_id}:log-group:*"}},
                },
            ] if logs else []) + ([
                {
                    # CloudWatch encrypts each alarm notification with the topic's key: without this grant an
                    # encrypted topic drops them, silently (SNS Developer Guide, "Enable compatibility between event
                    # sources from AWS services and encrypted topics").
                    "Sid": "CloudWatchAlarms",
                    "Effect": "Allow",
                    "Principal": {"Service": "cloudwatch.amazonaws.com"},
                    "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                    "Resource": "*",
                },
            ] if alarms else []),
        }
        self.key = KmsKey(self, "key", description=f"{name}: data at rest", enable_key_rotation=True,
                          deletion_window_in_days=deletion_window_days, policy=json.dumps(policy))
        KmsAlias(self, "alias", name=f"alias/{name}", target_key_id=self.key.key_id)

    @property
    def arn(self) -> str:
        return self.key.arn

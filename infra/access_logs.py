"""AccessLogBucket: the private S3 bucket the load balancer writes its access logs to.

Elastic Load Balancing delivers access logs only to a bucket encrypted with SSE-S3 (AES256), not
SSE-KMS, so this is the one bucket that does not use the stack's key.
"""
from __future__ import annotations

import json

from constructs import Construct
from cdktf_cdktf_provider_aws.data_aws_elb_service_account import DataAwsElbServiceAccount
from cdktf_cdktf_provider_aws.s3_bucket import S3Bucket
from cdktf_cdktf_provider_aws.s3_bucket_lifecycle_configuration import (
    S3BucketLifecycleConfiguration, S3BucketLifecycleConfigurationRule,
    S3BucketLifecycleConfigurationRuleAbortIncompleteMultipartUpload, S3BucketLifecycleConfigurationRuleExpiration,
    S3BucketLifecycleConfigurationRuleFilter, S3BucketLifecycleConfigurationRuleNoncurrentVersionExpiration,
)
from cdktf_cdktf_provider_aws.s3_bucket_notification import S3BucketNotification
from cdktf_cdktf_provider_aws.s3_bucket_ownership_controls import (
    S3BucketOwnershipControls, S3BucketOwnershipControlsRule,
)
from cdktf_cdktf_provider_aws.s3_bucket_policy import S3BucketPolicy
from cdktf_cdktf_provider_aws.s3_bucket_public_access_block import S3BucketPublicAccessBlock
from cdktf_cdktf_provider_aws.s3_bucket_server_side_encryption_configuration import (
    S3BucketServerSideEncryptionConfigurationA, S3BucketServerSideEncryptionConfigurationRuleA,
    S3BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultA,
)
from cdktf_cdktf_provider_aws.s3_bucket_versioning import S3BucketVersioningA, S3BucketVersioningVersioningConfiguration

PREFIX = "alb"


class AccessLogBucket(Construct):
    """Versioned, private, TLS-only; objects expire after `retention_days`. Only ELB log delivery may write."""

    def __init__(self, scope: Construct, id: str, *, name: str, account_id: str, retention_days: int,
                 force_destroy: bool) -> None:
        super().__init__(scope, id)
        self.prefix = PREFIX
        # A prefix, not a name: bucket names are global, and the suffix S3 adds keeps this one unique.
        self.bucket = S3Bucket(self, "bucket", bucket_prefix=f"{name}-access-logs-", force_destroy=force_destroy)
        S3BucketOwnershipControls(self, "ownership", bucket=self.bucket.id,
                                  rule=S3BucketOwnershipControlsRule(object_ownership="BucketOwnerEnforced"))
        S3BucketPublicAccessBlock(self, "public-access", bucket=self.bucket.id, block_public_acls=True,
                                  block_public_policy=True, ignore_public_acls=True, restrict_public_buckets=True)
        S3BucketVersioningA(self, "versioning", bucket=self.bucket.id,
                            versioning_configuration=S3BucketVersioningVersioningConfiguration(status="Enabled"))
        S3BucketServerSideEncryptionConfigurationA(
            self, "encryption", bucket=self.bucket.id,
            rule=[S3BucketServerSideEncryptionConfigurationRuleA(
                apply_server_side_encryption_by_default=(
                    S3BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultA(
                        sse_algorithm="AES256")))])
        S3BucketLifecycleConfiguration(self, "lifecycle", bucket=self.bucket.id, rule=[
            S3BucketLifecycleConfigurationRule(
                id="expire-access-logs", status="Enabled",
                filter=[S3BucketLifecycleConfigurationRuleFilter(prefix="")],
                expiration=[S3BucketLifecycleConfigurationRuleExpiration(days=retention_days)],
                noncurrent_version_expiration=[S3BucketLifecycleConfigurationRuleNoncurrentVersionExpiration(
                    noncurrent_days=7)],
                abort_incomplete_multipart_upload=[S3BucketLifecycleConfigurationRuleAbortIncompleteMultipartUpload(
                    days_after_initiation=1)])])
        # Object events go to EventBridge, free until a rule uses them (e.g. to alert on deleted logs).
        S3BucketNotification(self, "events", bucket=self.bucket.id, eventbridge=True)

        # Regions opened before August 2022 deliver from a regional ELB account; newer ones from a
        # service principal. Granting both keeps the bucket working in any region.
        elb = DataAwsElbServiceAccount(self, "elb-account")
        logs = f"{self.bucket.arn}/{PREFIX}/AWSLogs/{account_id}/*"
        self.policy = S3BucketPolicy(self, "policy", bucket=self.bucket.id, policy=json.dumps({
            "Version": "2012-10-17",
            "Statement": [
                {"Sid": "ElbAccountDelivers", "Effect": "Allow", "Principal": {"AWS": elb.arn},
                 "Action": "s3:PutObject", "Resource": logs},
                {"Sid": "ElbServiceDelivers", "Effect": "Allow",
                 "Principal": {"Service": "logdelivery.elasticloadbalancing.amazonaws.com"},
                 "Action": "s3:PutObject", "Resource": logs},
                {"Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
                 "Resource": [self.bucket.arn, f"{self.bucket.arn}/*"],
                 "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
            ]}))

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
from cdktf_cdktf_provider_aws.s3_bucket_ownership_controls import (
    S3BucketOwnershipControls, S3BucketOwnershipControlsRule,
)
from cdktf_cdktf_provider_aws.s3_bucket_policy import S3BucketPolicy

from infra.buckets import deny_insecure_transport, protect_bucket

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
        protect_bucket(self, self.bucket, sse_algorithm="AES256")
        S3BucketLifecycleConfiguration(self, "lifecycle", bucket=self.bucket.id, rule=[
            S3BucketLifecycleConfigurationRule(
                id="expire-access-logs", status="Enabled",
                filter=[S3BucketLifecycleConfigurationRuleFilter(prefix="")],
                expiration=[S3BucketLifecycleConfigurationRuleExpiration(days=retention_days)],
                noncurrent_version_expiration=[S3BucketLifecycleConfigurationRuleNoncurrentVersionExpiration(
                    noncurrent_days=7)],
                abort_incomplete_multipart_upload=[S3BucketLifecycleConfigurationRuleAbortIncompleteMultipartUpload(
                    days_after_initiation=1)])])

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
                deny_insecure_transport(self.bucket),
            ]}))

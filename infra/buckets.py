"""What every S3 bucket of ours gets: versioning, default encryption, no public access, events, TLS only.

Shared by the state bucket and the access-log bucket; each adds its own lifecycle and policy.
The resources are created in the caller's scope under fixed ids, so each bucket keeps its addresses.
"""
from __future__ import annotations

from constructs import Construct
from cdktf_cdktf_provider_aws.s3_bucket import S3Bucket
from cdktf_cdktf_provider_aws.s3_bucket_notification import S3BucketNotification
from cdktf_cdktf_provider_aws.s3_bucket_public_access_block import S3BucketPublicAccessBlock
from cdktf_cdktf_provider_aws.s3_bucket_server_side_encryption_configuration import (
    S3BucketServerSideEncryptionConfigurationA, S3BucketServerSideEncryptionConfigurationRuleA,
    S3BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultA,
)
from cdktf_cdktf_provider_aws.s3_bucket_versioning import S3BucketVersioningA, S3BucketVersioningVersioningConfiguration


def protect_bucket(scope: Construct, bucket: S3Bucket, *, sse_algorithm: str, kms_key_arn: str | None = None) -> None:
    """Versioning, default encryption (`aws:kms` with a bucket key and `kms_key_arn`, or `AES256`), public access
    blocked, and object events to EventBridge (free until a rule uses them, e.g. to alert on a deleted object)."""
    S3BucketVersioningA(scope, "versioning", bucket=bucket.id,
                        versioning_configuration=S3BucketVersioningVersioningConfiguration(status="Enabled"))
    S3BucketServerSideEncryptionConfigurationA(
        scope, "encryption", bucket=bucket.id,
        rule=[S3BucketServerSideEncryptionConfigurationRuleA(
            apply_server_side_encryption_by_default=(
                S3BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultA(
                    sse_algorithm=sse_algorithm, kms_master_key_id=kms_key_arn)),
            bucket_key_enabled=True if sse_algorithm == "aws:kms" else None)])
    S3BucketPublicAccessBlock(scope, "public-access", bucket=bucket.id, block_public_acls=True,
                              block_public_policy=True, ignore_public_acls=True, restrict_public_buckets=True)
    S3BucketNotification(scope, "events", bucket=bucket.id, eventbridge=True)


def deny_insecure_transport(bucket: S3Bucket) -> dict:
    """The bucket-policy statement that refuses every request made without TLS."""
    return {"Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
            "Resource": [bucket.arn, f"{bucket.arn}/*"], "Condition": {"Bool": {"aws:SecureTransport": "false"}}}

"""AccessLogBucket: the load balancer logs every request to a private, SSE-S3, expiring bucket."""
import json

from tests.stacks import Stack


def data_ref(stack: Stack, dtype: str, attr: str) -> str:
    (name,) = stack.json["data"][dtype]
    return f"${{data.{dtype}.{name}.{attr}}}"


def test_load_balancer_writes_access_logs_to_its_bucket_once_the_policy_allows_it(app_stack):
    alb = app_stack.one("aws_lb")
    assert alb["access_logs"] == {"bucket": app_stack.ref("aws_s3_bucket", "access-logs_bucket"),
                                  "enabled": True, "prefix": "alb"}
    (policy,) = app_stack.resources("aws_s3_bucket_policy")
    assert alb["depends_on"] == [f"aws_s3_bucket_policy.{policy}"]


def test_access_log_bucket_is_private_versioned_and_encrypted_with_sse_s3(app_stack):
    bucket = app_stack.ref("aws_s3_bucket", "access-logs_bucket")
    block = app_stack.find("aws_s3_bucket_public_access_block", "access-logs")
    assert block["bucket"] == bucket
    assert all(block[k] is True for k in ("block_public_acls", "block_public_policy", "ignore_public_acls",
                                          "restrict_public_buckets"))
    assert app_stack.find("aws_s3_bucket_ownership_controls", "access-logs")["rule"] == {
        "object_ownership": "BucketOwnerEnforced"}
    assert app_stack.find("aws_s3_bucket_versioning", "access-logs")["versioning_configuration"] == {"status": "Enabled"}
    (rule,) = app_stack.find("aws_s3_bucket_server_side_encryption_configuration", "access-logs")["rule"]
    # ELB log delivery refuses SSE-KMS buckets.
    assert rule["apply_server_side_encryption_by_default"] == {"sse_algorithm": "AES256"}


def test_access_logs_expire_after_the_request_log_retention(app_stack):
    (rule,) = app_stack.find("aws_s3_bucket_lifecycle_configuration", "access-logs")["rule"]
    assert rule["status"] == "Enabled"
    assert rule["expiration"] == [{"days": app_stack.config.load_balancer.request_log_retention_days}]
    assert rule["abort_incomplete_multipart_upload"] == [{"days_after_initiation": 1}]


def test_only_elb_log_delivery_may_write_and_only_under_the_prefix_over_tls(app_stack):
    policy = json.loads(app_stack.find("aws_s3_bucket_policy", "access-logs")["policy"])
    statements = {s["Sid"]: s for s in policy["Statement"]}
    bucket_arn = app_stack.ref("aws_s3_bucket", "access-logs_bucket", "arn")
    logs = f"{bucket_arn}/alb/AWSLogs/{data_ref(app_stack, 'aws_caller_identity', 'account_id')}/*"
    assert statements["ElbAccountDelivers"]["Principal"] == {"AWS": data_ref(app_stack, "aws_elb_service_account", "arn")}
    assert statements["ElbServiceDelivers"]["Principal"] == {"Service": "logdelivery.elasticloadbalancing.amazonaws.com"}
    for sid in ("ElbAccountDelivers", "ElbServiceDelivers"):
        assert (statements[sid]["Action"], statements[sid]["Resource"]) == ("s3:PutObject", logs)
    assert statements["DenyInsecureTransport"]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_only_a_load_balancer_that_may_be_destroyed_takes_its_logs_with_it(weakened, guarded):
    assert weakened.find("aws_s3_bucket", "access-logs")["force_destroy"] is True
    assert guarded.find("aws_s3_bucket", "access-logs")["force_destroy"] is False


def test_each_environment_keeps_its_access_logs_as_long_as_its_load_balancer_is_protected(env_stack):
    protected = env_stack.config.load_balancer.deletion_protection
    assert env_stack.find("aws_s3_bucket", "access-logs")["force_destroy"] is (not protected)


def test_bucket_names_are_prefixes_so_that_each_account_gets_its_own(app_stack):
    assert app_stack.find("aws_s3_bucket", "access-logs")["bucket_prefix"] == f"{app_stack.config.prefix}-access-logs-"

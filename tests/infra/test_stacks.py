"""Stacks: the state bucket, the S3 backend with locking, outputs, and the emulator switch."""
import json

from infra import environments
from tests.stacks import EMULATOR


def test_state_bucket_is_versioned_encrypted_private_and_protected_from_destroy(bootstrap):
    bucket = bootstrap.one("aws_s3_bucket")
    assert bucket["bucket"] == environments.BOOTSTRAP.state_bucket
    assert bucket["lifecycle"] == {"prevent_destroy": True}
    assert bootstrap.one("aws_s3_bucket_versioning")["versioning_configuration"] == {"status": "Enabled"}
    (rule,) = bootstrap.one("aws_s3_bucket_server_side_encryption_configuration")["rule"]
    assert rule["apply_server_side_encryption_by_default"] == {
        "sse_algorithm": "aws:kms", "kms_master_key_id": bootstrap.ref("aws_kms_key", "state-key", "arn")}
    block = bootstrap.one("aws_s3_bucket_public_access_block")
    assert all(block[k] is True for k in ("block_public_acls", "block_public_policy", "ignore_public_acls",
                                          "restrict_public_buckets"))


def test_state_bucket_policy_denies_requests_without_tls(bootstrap):
    (statement,) = json.loads(bootstrap.one("aws_s3_bucket_policy")["policy"])["Statement"]
    assert statement["Effect"] == "Deny" and statement["Action"] == "s3:*"
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_state_bucket_sends_object_events_to_eventbridge(bootstrap):
    notification = bootstrap.one("aws_s3_bucket_notification")
    assert notification == {**notification, "bucket": bootstrap.ref("aws_s3_bucket", "state"), "eventbridge": True}


def test_old_state_versions_expire(bootstrap):
    (rule,) = bootstrap.one("aws_s3_bucket_lifecycle_configuration")["rule"]
    assert rule["status"] == "Enabled"
    assert rule["noncurrent_version_expiration"] == [{"noncurrent_days": 90}]


def test_bootstrap_stack_keeps_local_state_and_outputs_the_bucket_name(bootstrap):
    # Outside cdktf.out (which every synth replaces): at the repository root, the same on every machine.
    assert bootstrap.json["terraform"]["backend"] == {"local": {"path": "../../../terraform.bootstrap.tfstate"}}
    assert bootstrap.json["output"]["state_bucket"]["value"] == bootstrap.ref("aws_s3_bucket", "state", "bucket")


def test_state_bucket_is_in_the_bootstrap_region(bootstrap):
    (provider,) = bootstrap.json["provider"]["aws"]
    assert provider["region"] == environments.BOOTSTRAP.region


def test_each_environment_keeps_encrypted_locked_state_under_its_own_key(env_stack):
    """`encrypt` alone would send AES256 with every write, overriding the bucket's KMS default: the key is named."""
    backend = env_stack.json["terraform"]["backend"]["s3"]
    assert backend == {"bucket": environments.BOOTSTRAP.state_bucket, "key": f"{env_stack.name}/terraform.tfstate",
                       "region": environments.BOOTSTRAP.region, "encrypt": True, "use_lockfile": True,
                       "kms_key_id": environments.BOOTSTRAP.state_key_alias}


def test_each_environment_s_resources_are_in_its_region(env_stack):
    (provider,) = env_stack.json["provider"]["aws"]
    assert provider["region"] == env_stack.config.region


def test_stack_outputs_what_operators_need_and_never_a_secret_value(app_stack):
    outputs = app_stack.json["output"]
    assert set(outputs) == {"app_url", "load_balancer_url", "ecr_repository_url", "cluster_name", "service_name",
                            "migration_task_definition_arn", "task_subnet_ids", "task_security_group_id",
                            "database_endpoint", "database_secret_arn", "alarm_topic_arn"}
    assert outputs["database_secret_arn"]["value"] == app_stack.ref(
        "aws_db_instance", "instance", "master_user_secret[0].secret_arn")
    lb = app_stack.config.load_balancer
    assert outputs["load_balancer_url"]["value"] == ("http://" if lb.http_only else "https://") + \
        app_stack.ref("aws_lb", "alb", "dns_name")
    # Users arrive by the domain when there is one (its certificate never names the load balancer's DNS name).
    assert outputs["app_url"]["value"] == (f"https://{lb.domain_name}" if lb.domain_name
                                           else outputs["load_balancer_url"]["value"])
    values = json.dumps([o["value"] for o in outputs.values()]).lower()
    assert "password" not in values and "secret_string" not in values


def test_the_release_s_verified_mark_is_ignored_by_terraform(env_stack):
    """The release tags a revision it verified (release/aws.py mark_verified): not drift, never planned away."""
    from infra.config import VERIFIED_TAG

    (provider,) = env_stack.json["provider"]["aws"]
    assert provider["ignore_tags"] == [{"keys": [VERIFIED_TAG]}]


def test_resource_names_carry_project_and_environment(weakened):
    assert weakened.one("aws_ecs_cluster")["name"] == "notes-weakened"
    assert weakened.one("aws_db_instance")["identifier"] == "notes-weakened"


def test_each_environment_s_resource_names_start_with_its_prefix(env_stack):
    assert env_stack.one("aws_ecs_cluster")["name"] == env_stack.config.prefix
    assert env_stack.one("aws_db_instance")["identifier"] == env_stack.config.prefix


def test_without_an_endpoint_override_the_provider_targets_real_aws_untouched(env_stack):
    (provider,) = env_stack.json["provider"]["aws"]
    assert set(provider) == {"region", "default_tags", "ignore_tags"}


def test_aws_endpoint_url_points_provider_and_backend_at_the_emulator(emulated):
    (provider,) = emulated.json["provider"]["aws"]
    (endpoints,) = provider["endpoints"]
    assert set(endpoints.values()) == {EMULATOR}
    assert {"ec2", "rds", "ecs", "elbv2", "secretsmanager", "s3", "sts", "applicationautoscaling", "wafv2"} <= set(endpoints)
    assert provider["skip_credentials_validation"] is True and provider["s3_use_path_style"] is True
    assert "skip_requesting_account_id" not in provider
    backend = emulated.json["terraform"]["backend"]["s3"]
    assert backend["endpoints"] == {"s3": EMULATOR, "sts": EMULATOR}
    assert backend["use_path_style"] is True and backend["use_lockfile"] is True

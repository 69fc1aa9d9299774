"""Bad configuration fails with a message that names the field and what is allowed."""
import dataclasses

import pytest

from infra import environments
from infra.config import (
    AutoscalingConfig, BootstrapConfig, ConfigError, DatabaseConfig, EnvironmentConfig, LoadBalancerConfig,
    NetworkConfig, RegistryConfig, ServiceConfig,
)


@pytest.mark.parametrize("cidr, message", [
    ("10.0.0.0/33", r"network\.vpc_cidr: '10\.0\.0\.0/33' is not a valid IPv4 CIDR"),
    ("10.0.0.1/16", r"network\.vpc_cidr: '10\.0\.0\.1/16' is not a valid IPv4 CIDR"),
    ("not-a-cidr", r"network\.vpc_cidr: 'not-a-cidr' is not a valid"),
    ("10.0.0.0/24", r"network\.vpc_cidr: '10\.0\.0\.0/24' is too small .* /16 to /20"),
    ("10.0.0.0/8", r"network\.vpc_cidr: '10\.0\.0\.0/8' is too small or too large"),
    ("8.8.0.0/16", r"network\.vpc_cidr: '8\.8\.0\.0/16' must lie in 10\.0\.0\.0/8, 172\.16\.0\.0/12 or 192\.168"),
])
def test_invalid_or_too_small_vpc_cidr_is_refused(cidr, message):
    with pytest.raises(ConfigError, match=message):
        NetworkConfig(vpc_cidr=cidr)


@pytest.mark.parametrize("zones", [0, 1, 6])
def test_availability_zones_outside_two_to_five_are_refused(zones):
    with pytest.raises(ConfigError, match=rf"network\.az_count: {zones} is not allowed: use 2 to 5"):
        NetworkConfig(az_count=zones)


def test_unknown_nat_strategy_is_refused():
    with pytest.raises(ConfigError, match=r"network\.nat: 'double' is not allowed: use 'none', 'single' or 'per_az'"):
        NetworkConfig(nat="double")


@pytest.mark.parametrize("cpu, memory, message", [
    (256, 4096, r"service\.memory: 4096 MiB is not allowed with cpu=256: Fargate accepts 512 to 2048"),
    (1024, 1024, r"service\.memory: 1024 MiB is not allowed with cpu=1024: Fargate accepts 2048 to 8192 in steps of 1024"),
    (300, 512, r"service\.cpu: 300 is not a Fargate CPU size: use one of \[256, 512, 1024"),
])
def test_cpu_memory_pair_fargate_rejects_is_refused(cpu, memory, message):
    with pytest.raises(ConfigError, match=message):
        ServiceConfig(cpu=cpu, memory=memory)


def test_every_size_fargate_accepts_is_accepted():
    assert ServiceConfig(cpu=16384, memory=122880).memory == 122880
    assert ServiceConfig(cpu=512, memory=3072).cpu == 512


def test_desired_count_outside_the_autoscaling_bounds_is_refused():
    with pytest.raises(ConfigError, match=r"service\.desired_count: 9 is outside the autoscaling bounds 2 to 6"):
        ServiceConfig(migrations="task", desired_count=9, autoscaling=AutoscalingConfig(min_count=2, max_count=6))


def test_autoscaling_with_min_above_max_is_refused():
    with pytest.raises(ConfigError, match=r"service\.autoscaling\.min_count: 5 must be at least 1 and at most max_count \(3\)"):
        AutoscalingConfig(min_count=5, max_count=3)


def test_scaling_out_while_tasks_migrate_on_start_is_refused():
    with pytest.raises(ConfigError, match=r"service\.desired_count: 2 .* not allowed while migrations='on_start'"):
        ServiceConfig(desired_count=2)
    with pytest.raises(ConfigError, match=r"autoscaling=on is not allowed while migrations='on_start'"):
        ServiceConfig(autoscaling=AutoscalingConfig())


@pytest.mark.parametrize("tag", ["latest:1", "-starts-with-dash", "", "a" * 129, "sha256:abc", "has space"])
def test_image_tag_that_is_neither_a_tag_nor_a_digest_is_refused(tag):
    with pytest.raises(ConfigError, match=r"service\.image_tag: .* is neither an image tag .* nor a digest"):
        ServiceConfig(image_tag=tag)


@pytest.mark.parametrize("tag", ["1.4.2", "v2026-11-27_abc123", "sha256:" + "0" * 64])
def test_tags_and_digests_are_accepted(tag):
    assert ServiceConfig(image_tag=tag).image_tag == tag


def test_stack_with_remote_state_but_no_state_bucket_is_refused():
    with pytest.raises(ConfigError, match=r"state_bucket: is required for a stack with remote state"):
        EnvironmentConfig(name="dev")


def test_invalid_state_bucket_name_is_refused():
    with pytest.raises(ConfigError, match=r"state_bucket: 'My_Bucket' is not a valid S3 bucket name"):
        EnvironmentConfig(name="dev", state_bucket="My_Bucket")
    with pytest.raises(ConfigError, match=r"bootstrap\.state_bucket: 'x' is not a valid S3 bucket name"):
        BootstrapConfig(state_bucket="x")


def test_unknown_environment_is_refused_with_the_known_ones():
    with pytest.raises(ConfigError, match=r"environment: 'staging' is not defined; known environments: dev, prod"):
        environments.select("dev,staging")


@pytest.mark.parametrize("make, message", [
    (lambda: EnvironmentConfig(name="Dev", state_bucket="b-b-b"), r"^name: 'Dev' is not allowed"),
    (lambda: EnvironmentConfig(name="dev", region="mars-1", state_bucket="b-b-b"), r"^region: 'mars-1' is not an AWS region"),
    (lambda: DatabaseConfig(backup_retention_days=0), r"database\.backup_retention_days: 0 is not allowed: use 1 to 35"),
    (lambda: DatabaseConfig(engine_version="9.6"), r"database\.engine_version: '9\.6' is not allowed"),
    (lambda: DatabaseConfig(master_username="postgres"), r"database\.master_username: 'postgres' must be"),
    (lambda: DatabaseConfig(max_allocated_storage_gb=10), r"database\.max_allocated_storage_gb: 10 is below"),
    (lambda: ServiceConfig(log_retention_days=10), r"service\.log_retention_days: 10 is not a CloudWatch Logs retention"),
    (lambda: ServiceConfig(run_as_user="0"), r"service\.run_as_user: '0' must be a numeric UID other than 0"),
    (lambda: ServiceConfig(stop_timeout_seconds=300), r"service\.stop_timeout_seconds: 300 is not allowed: Fargate accepts 2 to 120"),
    (lambda: LoadBalancerConfig(certificate_arn="arn:aws:iam::1:cert"), r"load_balancer\.certificate_arn: .* is not an ACM certificate ARN"),
    (lambda: LoadBalancerConfig(request_log_retention_days=10), r"load_balancer\.request_log_retention_days: 10 is not a CloudWatch"),
    (lambda: RegistryConfig(keep_last_images=0), r"registry\.keep_last_images: 0 is not allowed"),
])
def test_other_invalid_settings_name_their_field(make, message):
    with pytest.raises(ConfigError, match=message):
        make()


def test_an_environment_serves_https_unless_it_is_http_only_by_name():
    with pytest.raises(ConfigError, match=r"^load_balancer\.certificate_arn: is required: the load balancer serves "
                                          r"HTTPS; .* or set load_balancer\.http_only=True"):
        EnvironmentConfig(name="stage", state_bucket="b-b-b")
    assert EnvironmentConfig(name="stage", state_bucket="b-b-b",
                             load_balancer=LoadBalancerConfig(http_only=True)).load_balancer.certificate_arn is None


def test_http_only_with_a_certificate_is_refused_naming_both():
    cert = "arn:aws:acm:us-east-1:123456789012:certificate/0a1b2c3d-1111-2222-3333-444455556666"
    with pytest.raises(ConfigError, match=r"load_balancer\.http_only: True contradicts certificate_arn"):
        LoadBalancerConfig(http_only=True, certificate_arn=cert)


@pytest.mark.parametrize("zones, message", [
    (("us-east-1a",), r"must name az_count \(2\) different zones"),
    (("us-east-1a", "us-east-1a"), r"must name az_count \(2\) different zones"),
    (("us-east-1a", "east"), r"'east' is not a zone name like 'us-east-1a'"),
])
def test_pinned_zones_must_be_az_count_different_zone_names(zones, message):
    with pytest.raises(ConfigError, match=rf"network\.availability_zones: .*{message}"):
        NetworkConfig(availability_zones=zones)


def test_pinned_zones_must_lie_in_the_environments_region():
    with pytest.raises(ConfigError, match=r"network\.availability_zones: 'eu-west-1b' is not a zone of region 'us-east-1'"):
        EnvironmentConfig(name="stage", state_bucket="b-b-b", load_balancer=LoadBalancerConfig(http_only=True),
                          network=NetworkConfig(availability_zones=("us-east-1a", "eu-west-1b")))


def test_zones_default_to_the_regions_first_letters_and_can_be_pinned():
    assert NetworkConfig(az_count=3).zone_names("us-west-2") == ["us-west-2a", "us-west-2b", "us-west-2c"]
    pinned = NetworkConfig(availability_zones=("ap-northeast-1a", "ap-northeast-1c"))
    assert pinned.zone_names("ap-northeast-1") == ["ap-northeast-1a", "ap-northeast-1c"]


def test_secure_defaults_need_no_setting():
    assert DatabaseConfig().multi_az is True and DatabaseConfig().deletion_protection is True
    lb = LoadBalancerConfig()
    assert lb.waf is True and lb.http_only is False and lb.deletion_protection is True
    assert NetworkConfig().flow_log_retention_days == DatabaseConfig().log_retention_days == \
        ServiceConfig().log_retention_days == lb.request_log_retention_days == 365


def test_settings_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        environments.ENVIRONMENTS["dev"].service.cpu = 512  # type: ignore[misc]


def test_subnets_are_carved_per_tier_and_zone():
    network = NetworkConfig(vpc_cidr="10.10.0.0/16", az_count=2)
    assert network.subnet_cidrs(0) == ["10.10.0.0/20", "10.10.16.0/20"]
    assert network.subnet_cidrs(2) == ["10.10.64.0/20", "10.10.80.0/20"]

"""Bad configuration fails with a message that names the field and what is allowed.

Each class of bad input has its tests: wrong types, values out of range (both edges), impossible
combinations inside an environment and between environments, and names AWS would refuse.
"""
import ast
import dataclasses
import re
import warnings
from pathlib import Path

import pytest

from infra import config
from infra.config import (
    APP_KEEP_ALIVE_SECONDS, FARGATE_SIZES, LOG_RETENTION_DAYS, PREFIX_MAX, AlarmsConfig, AutoscalingConfig, BootstrapConfig,
    CiConfig, ConfigError, ConfigWarning, DatabaseConfig, EnvironmentConfig, LoadBalancerConfig, NetworkConfig, RegistryConfig,
    ServiceConfig, check_environments, select,
)

CERT = "arn:aws:acm:{region}:123456789012:certificate/0a1b2c3d-1111-2222-3333-444455556666"


def env(**settings) -> EnvironmentConfig:
    """An environment that is valid unless `settings` make it invalid."""
    return EnvironmentConfig(**{"name": "stage", "load_balancer": LoadBalancerConfig(http_only=True), **settings})


# ---- types: checked by field name before any value is used ----

@pytest.mark.parametrize("make, message", [
    (lambda: LoadBalancerConfig(http_only="false"), r"^load_balancer\.http_only: 'false' is not allowed: input should be a valid boolean$"),
    (lambda: DatabaseConfig(multi_az="no"), r"^database\.multi_az: 'no' is not allowed: input should be a valid boolean$"),
    (lambda: ServiceConfig(desired_count=1.5), r"^service\.desired_count: 1\.5 is not allowed: input should be a valid integer$"),
    (lambda: ServiceConfig(container_port="8000"), r"^service\.container_port: '8000' is not allowed: input should be a valid integer$"),
    (lambda: NetworkConfig(az_count=True), r"^network\.az_count: True is not allowed: input should be a valid integer$"),
    (lambda: NetworkConfig(availability_zones=["us-east-1a", "us-east-1b"]), r"^network\.availability_zones: .* input should be a valid tuple$"),
    (lambda: NetworkConfig(nat="double"), r"^network\.nat: 'double' is not allowed: input should be 'none', 'single' or 'per_az'$"),
    (lambda: ServiceConfig(migrations="later"), r"^service\.migrations: 'later' is not allowed: input should be 'on_start' or 'task'$"),
    (lambda: AutoscalingConfig(min_count="2"), r"^service\.autoscaling\.min_count: '2' is not allowed"),
    (lambda: ServiceConfig(run_as_user=10001), r"^service\.run_as_user: 10001 is not allowed: input should be a valid string$"),
    (lambda: LoadBalancerConfig(certificate_arn=42), r"^load_balancer\.certificate_arn: 42 is not allowed"),
    (lambda: RegistryConfig(force_delete=None), r"^registry\.force_delete: None is not allowed"),
    (lambda: BootstrapConfig(state_bucket=["b"]), r"^bootstrap\.state_bucket: \['b'\] is not allowed"),
])
def test_a_value_of_the_wrong_type_is_refused_naming_its_field(make, message):
    with pytest.raises(ConfigError, match=message):
        make()


@pytest.mark.parametrize("section, value, cls", [
    ("service", {"memory": 1024}, "ServiceConfig"),
    ("network", {"vpc_cidr": "10.1.0.0/16"}, "NetworkConfig"),
    ("load_balancer", None, "LoadBalancerConfig"),
])
def test_a_section_given_as_a_dict_or_none_is_refused_naming_its_class(section, value, cls):
    with pytest.raises(ConfigError, match=rf"^{section}: .* is not allowed: input should be an instance of {cls}$"):
        env(**{section: value})


def test_an_autoscaling_section_given_as_a_dict_is_refused():
    with pytest.raises(ConfigError, match=r"^service\.autoscaling: \{'min_count': 2\} is not allowed: input should be"):
        ServiceConfig(migrations="task", autoscaling={"min_count": 2})


def test_a_misspelt_setting_is_refused_instead_of_ignored():
    with pytest.raises(ConfigError, match=r"^service\.desired_cont: is not a setting of ServiceConfig$"):
        ServiceConfig(desired_cont=2)


def test_settings_must_be_passed_by_name():
    with pytest.raises(ConfigError, match=r"^network: pass settings by name, e\.g\. NetworkConfig\(field=value\)$"):
        NetworkConfig("10.0.0.0/16")
    with pytest.raises(ConfigError, match=r"^EnvironmentConfig: pass settings by name"):
        EnvironmentConfig("dev")


def test_an_environment_without_a_name_is_refused():
    with pytest.raises(ConfigError, match=r"^name: is required$"):
        EnvironmentConfig()
    with pytest.raises(ConfigError, match=r"^bootstrap\.state_bucket: is required$"):
        BootstrapConfig()


def test_every_wrong_type_of_one_section_is_reported_at_once():
    with pytest.raises(ConfigError, match=r"^service\.cpu: '256' is not allowed: .*; service\.memory: '512' is not allowed"):
        ServiceConfig(cpu="256", memory="512")


def test_a_long_wrong_value_is_shortened_in_the_message():
    with pytest.raises(ConfigError) as error:
        env(service={"health_check_path": "x" * 200})
    shown = re.search(r"^service: (.*) is not allowed", str(error.value)).group(1)
    assert shown == repr({"health_check_path": "x" * 200})[:57] + "..."


@pytest.mark.parametrize("length, shown", [(60, "'" + "x" * 58 + "'"), (61, "'" + "x" * 56 + "...")])
def test_a_wrong_value_is_shown_whole_up_to_60_characters(length, shown):
    with pytest.raises(ConfigError, match=rf"^service\.cpu: {re.escape(shown)} is not allowed"):
        ServiceConfig(cpu="x" * (length - 2))


# ---- values: ranges checked at both edges ----

RANGES = [
    # (class, extra settings, field, lowest allowed, highest allowed)
    (NetworkConfig, {}, "az_count", 2, 5),
    (DatabaseConfig, {"max_allocated_storage_gb": 65536}, "allocated_storage_gb", 20, 65536),
    (DatabaseConfig, {}, "backup_retention_days", 1, 35),
    (RegistryConfig, {}, "keep_last_images", 1, 1000),
    (RegistryConfig, {}, "untagged_expiry_days", 1, 365),
    (AutoscalingConfig, {}, "cpu_target_percent", 10, 90),
    (AutoscalingConfig, {}, "requests_per_target", 1, 100000),
    (ServiceConfig, {}, "container_port", 1024, 65535),
    (ServiceConfig, {"migrations": "task"}, "desired_count", 0, 100),
    (ServiceConfig, {}, "health_check_grace_seconds", 0, 3600),
    (ServiceConfig, {}, "stop_timeout_seconds", 2, 120),
    (LoadBalancerConfig, {}, "rate_limit_per_ip", 10, 2_000_000_000),
    (LoadBalancerConfig, {}, "idle_timeout_seconds", 1, APP_KEEP_ALIVE_SECONDS - 1),
    (LoadBalancerConfig, {}, "deregistration_delay_seconds", 0, 3600),
    (BootstrapConfig, {"state_bucket": "b-b-b"}, "noncurrent_version_expiry_days", 1, 3650),
    (AlarmsConfig, {}, "error_rate_percent", 1, 100),
    (AlarmsConfig, {}, "latency_p99_ms", 10, 60000),
    (AlarmsConfig, {}, "service_cpu_percent", 1, 100),
    (AlarmsConfig, {}, "service_memory_percent", 1, 100),
    (AlarmsConfig, {}, "database_cpu_percent", 1, 100),
    (AlarmsConfig, {}, "database_free_storage_percent", 1, 50),
    (AlarmsConfig, {}, "database_freeable_memory_percent", 1, 50),
    (AlarmsConfig, {}, "database_connections_percent", 1, 100),
    (AlarmsConfig, {}, "app_errors_per_5_minutes", 1, 100000),
]
SECTIONS = {NetworkConfig: "network", DatabaseConfig: "database", RegistryConfig: "registry",
            AutoscalingConfig: "service.autoscaling", ServiceConfig: "service", LoadBalancerConfig: "load_balancer",
            BootstrapConfig: "bootstrap", AlarmsConfig: "alarms"}


@pytest.mark.parametrize("cls, extra, name, low, high", RANGES, ids=[r[2] for r in RANGES])
def test_a_number_is_accepted_at_both_ends_of_its_range_and_refused_just_outside(cls, extra, name, low, high):
    assert getattr(cls(**extra, **{name: low}), name) == low
    assert getattr(cls(**extra, **{name: high}), name) == high
    for bad in (low - 1, high + 1):
        with pytest.raises(ConfigError, match=rf"^{re.escape(SECTIONS[cls])}\.{name}: {bad} is not allowed"):
            cls(**extra, **{name: bad})


@pytest.mark.parametrize("make, field_name", [
    (lambda days: NetworkConfig(flow_log_retention_days=days), "network.flow_log_retention_days"),
    (lambda days: DatabaseConfig(log_retention_days=days), "database.log_retention_days"),
    (lambda days: ServiceConfig(log_retention_days=days), "service.log_retention_days"),
    (lambda days: LoadBalancerConfig(request_log_retention_days=days), "load_balancer.request_log_retention_days"),
])
def test_a_log_retention_is_one_cloudwatch_accepts(make, field_name):
    for days in (LOG_RETENTION_DAYS[0], LOG_RETENTION_DAYS[-1], 365):
        make(days)
    for days in (0, 10, 366, 3654):
        with pytest.raises(ConfigError, match=rf"^{re.escape(field_name)}: {days} is not a CloudWatch Logs retention: "
                                              r"use one of 1, 3, 5, .*, 3653$"):
            make(days)


@pytest.mark.parametrize("cpu", sorted(FARGATE_SIZES))
def test_every_fargate_size_row_accepts_its_edges_and_refuses_the_next_step(cpu):
    sizes = FARGATE_SIZES[cpu]
    assert ServiceConfig(cpu=cpu, memory=sizes[0]).memory == sizes[0]
    assert ServiceConfig(cpu=cpu, memory=sizes[-1]).memory == sizes[-1]
    for memory in (sizes[0] - 1, sizes[-1] + sizes[-1] - sizes[-2]):
        with pytest.raises(ConfigError, match=rf"^service\.memory: {memory} MiB is not allowed with cpu={cpu}"):
            ServiceConfig(cpu=cpu, memory=memory)


@pytest.mark.parametrize("cpu, memory, message", [
    (256, 4096, r"^service\.memory: 4096 MiB is not allowed with cpu=256: Fargate accepts 512, 1024, 2048$"),
    (512, 512, r"^service\.memory: 512 MiB is not allowed with cpu=512: Fargate accepts 1024 to 4096 in steps of 1024$"),
    (1024, 1024, r"^service\.memory: 1024 MiB is not allowed with cpu=1024: Fargate accepts 2048 to 8192 in steps of 1024$"),
    (300, 512, r"^service\.cpu: 300 is not a Fargate CPU size: use one of \[256, 512, 1024, 2048, 4096, 8192, 16384\]$"),
])
def test_a_cpu_memory_pair_fargate_rejects_is_refused_with_what_it_accepts(cpu, memory, message):
    with pytest.raises(ConfigError, match=message):
        ServiceConfig(cpu=cpu, memory=memory)


@pytest.mark.parametrize("cidr, message", [
    ("10.0.0.0/33", r"^network\.vpc_cidr: '10\.0\.0\.0/33' is not a valid IPv4 CIDR"),
    ("10.0.0.1/16", r"^network\.vpc_cidr: '10\.0\.0\.1/16' is not a valid IPv4 CIDR"),
    ("fd00::/16", r"^network\.vpc_cidr: 'fd00::/16' is not a valid IPv4 CIDR"),
    ("not-a-cidr", r"^network\.vpc_cidr: 'not-a-cidr' is not a valid"),
    ("10.0.0.0/21", r"^network\.vpc_cidr: '10\.0\.0\.0/21' is too small or too large: the prefix must be /16 to /20 "
                    r"so that every subnet \(prefix \+ 4\) holds at least a /24$"),
    ("10.0.0.0/15", r"^network\.vpc_cidr: '10\.0\.0\.0/15' is too small or too large"),
    ("8.8.0.0/16", r"^network\.vpc_cidr: '8\.8\.0\.0/16' must lie in 10\.0\.0\.0/8, 172\.16\.0\.0/12 or 192\.168"),
    ("172.32.0.0/16", r"^network\.vpc_cidr: '172\.32\.0\.0/16' must lie in"),
])
def test_an_invalid_public_or_wrongly_sized_vpc_cidr_is_refused(cidr, message):
    with pytest.raises(ConfigError, match=message):
        NetworkConfig(vpc_cidr=cidr)


@pytest.mark.parametrize("cidr", ["10.0.0.0/16", "10.0.0.0/20", "172.31.0.0/16", "192.168.0.0/16"])
def test_a_private_vpc_cidr_of_16_to_20_bits_is_accepted(cidr):
    assert NetworkConfig(vpc_cidr=cidr).vpc_cidr == cidr


def test_the_smallest_vpc_over_five_zones_still_gets_a_24_per_subnet():
    network = NetworkConfig(vpc_cidr="10.0.0.0/20", az_count=5)
    assert network.subnet_cidrs("public") == [f"10.0.{i}.0/24" for i in range(0, 5)]
    assert network.subnet_cidrs("private") == [f"10.0.{i}.0/24" for i in range(5, 10)]
    assert network.subnet_cidrs("isolated") == [f"10.0.{i}.0/24" for i in range(10, 15)]
    assert network.zone_names("eu-west-1") == [f"eu-west-1{z}" for z in "abcde"]


def test_subnets_are_carved_per_tier_and_zone():
    network = NetworkConfig(vpc_cidr="10.10.0.0/16", az_count=2)
    assert network.subnet_cidrs("public") == ["10.10.0.0/20", "10.10.16.0/20"]
    assert network.subnet_cidrs("isolated") == ["10.10.64.0/20", "10.10.80.0/20"]


@pytest.mark.parametrize("zones, message", [
    (("us-east-1a",), r"must name az_count \(2\) different zones"),
    (("us-east-1a", "us-east-1a"), r"must name az_count \(2\) different zones"),
    (("us-east-1a", "us-east-1b", "us-east-1c"), r"must name az_count \(2\) different zones"),
])
def test_pinned_zones_must_be_az_count_different_zones(zones, message):
    with pytest.raises(ConfigError, match=rf"^network\.availability_zones: .*{message}"):
        NetworkConfig(availability_zones=zones)


@pytest.mark.parametrize("zone", ["eu-west-1b", "east", "us-east-1", "us-east-11", "us-east-1-", "us-east-1B", ""])
def test_a_pinned_zone_that_is_not_a_zone_of_the_environments_region_is_refused(zone):
    with pytest.raises(ConfigError, match=rf"^network\.availability_zones: '{zone}' is not a zone of region 'us-east-1', "
                                          r"e\.g\. 'us-east-1a'$"):
        env(network=NetworkConfig(availability_zones=("us-east-1a", zone)))


def test_zones_default_to_the_regions_first_letters_and_can_be_pinned():
    assert NetworkConfig(az_count=3).zone_names("us-west-2") == ["us-west-2a", "us-west-2b", "us-west-2c"]
    pinned = NetworkConfig(availability_zones=("ap-northeast-1a", "ap-northeast-1c"))
    assert pinned.zone_names("ap-northeast-1") == ["ap-northeast-1a", "ap-northeast-1c"]
    assert env(region="ap-northeast-1", network=pinned).network.availability_zones == ("ap-northeast-1a", "ap-northeast-1c")


@pytest.mark.parametrize("instance_class", ["db.t4g.mirco", "db.c5.large", "t4g.micro", "db.t4g", "db.t4g.micro.x",
                                            "db.m5.larg", "DB.T4G.MICRO", "db..micro"])
def test_an_instance_class_rds_does_not_offer_is_refused(instance_class):
    with pytest.raises(ConfigError, match=rf"^database\.instance_class: '{re.escape(instance_class)}' is not an RDS for "
                                          r"PostgreSQL instance class: use db\.<family>\.<size>, e\.g\. 'db\.t4g\.micro', "
                                          r"with a family of m5, .*, x2iezn$"):
        DatabaseConfig(instance_class=instance_class)


@pytest.mark.parametrize("instance_class", ["db.m5.micro", "db.r7g.medium", "db.t4g.4xlarge", "db.t3.48xlarge"])
def test_a_size_its_family_does_not_come_in_is_refused(instance_class):
    with pytest.raises(ConfigError, match=rf"^database\.instance_class: '{re.escape(instance_class)}' does not exist: "
                                          r"the t families come in micro to 2xlarge, the others from large up$"):
        DatabaseConfig(instance_class=instance_class)


@pytest.mark.parametrize("emails, message", [
    (("oncall",), "'oncall' is not an email address"),
    (("a@b",), "'a@b' is not an email address"),
    (("a b@example.com",), "'a b@example.com' is not an email address"),
    (("x@example.com", "x@example.com"), "lists an address twice"),
    (tuple(f"p{i}@example.com" for i in range(11)), "11 addresses: at most 10"),
])
def test_alarm_emails_are_addresses_sns_takes_each_once_ten_at_most(emails, message):
    with pytest.raises(ConfigError, match=rf"^alarms\.emails: {re.escape(message)}"):
        AlarmsConfig(emails=emails)


def test_alarm_emails_are_a_tuple_not_a_single_string():
    with pytest.raises(ConfigError, match=r"^alarms\.emails: 'oncall@example.com' is not allowed"):
        AlarmsConfig(emails="oncall@example.com")


@pytest.mark.parametrize("instance_class", ["db.t3.micro", "db.t4g.medium", "db.r7g.2xlarge", "db.m6i.48xlarge"])
def test_instance_classes_of_known_families_and_sizes_are_accepted(instance_class):
    assert DatabaseConfig(instance_class=instance_class).instance_class == instance_class


@pytest.mark.parametrize("version, family", [("13", "postgres13"), ("17", "postgres17"), ("16.4", "postgres16")])
def test_postgresql_majors_13_to_17_are_accepted_and_name_the_parameter_family(version, family):
    assert DatabaseConfig(engine_version=version).parameter_group_family == family


@pytest.mark.parametrize("version", ["12", "18", "9.6", "16.", "16.x", "latest"])
def test_another_postgresql_version_is_refused(version):
    with pytest.raises(ConfigError, match=rf"^database\.engine_version: '{re.escape(version)}' is not allowed: "
                                          r"use a PostgreSQL major 13 to 17"):
        DatabaseConfig(engine_version=version)


def test_the_storage_ceiling_lies_between_the_allocated_storage_and_what_gp3_holds():
    assert DatabaseConfig(allocated_storage_gb=100, max_allocated_storage_gb=100).max_allocated_storage_gb == 100
    with pytest.raises(ConfigError, match=r"^database\.max_allocated_storage_gb: 99 is not allowed: use "
                                          r"allocated_storage_gb \(100\) to 65536, the gp3 ceiling$"):
        DatabaseConfig(allocated_storage_gb=100, max_allocated_storage_gb=99)
    with pytest.raises(ConfigError, match=r"^database\.max_allocated_storage_gb: 65537 is not allowed"):
        DatabaseConfig(max_allocated_storage_gb=65537)


@pytest.mark.parametrize("field_name, good, bad", [
    ("database_name", ["a", "app_2", "a" * 63], ["", "1app", "App", "a-b", "a" * 64]),
    ("master_username", ["a", "app_admin", "a" * 16], ["", "1a", "Admin", "a" * 17, "admin", "postgres", "rdsadmin"]),
])
def test_database_names_follow_postgresql_and_rds_rules(field_name, good, bad):
    for value in good:
        assert getattr(DatabaseConfig(**{field_name: value}), field_name) == value
    for value in bad:
        with pytest.raises(ConfigError, match=rf"^database\.{field_name}: '{value}' must be 1-(63|16) lowercase letters, "
                                              r"digits or _, starting with a letter(, and not a reserved name "
                                              r"\(admin, postgres, rdsadmin\))?$"):
            DatabaseConfig(**{field_name: value})


@pytest.mark.parametrize("user", ["0", "-1", "abc", "1e3", "١٠", "4294967295", "00000000000"])
def test_the_task_user_must_be_a_numeric_uid_other_than_root(user):
    with pytest.raises(ConfigError, match=rf"^service\.run_as_user: '{user}' must be a numeric UID from 1 to 4294967294"):
        ServiceConfig(run_as_user=user)


@pytest.mark.parametrize("user", ["1", "10001", "4294967294"])
def test_numeric_uids_other_than_root_are_accepted(user):
    assert ServiceConfig(run_as_user=user).run_as_user == user


@pytest.mark.parametrize("path", ["health", "", "/a b", "/" + "a" * 1024, "/health?x=1"])
def test_a_health_check_path_that_is_not_a_url_path_is_refused(path):
    with pytest.raises(ConfigError, match=rf"^service\.health_check_path: {re.escape(repr(path)[:57])}.* must be a URL "
                                          r"path: '/' then at most 1023 letters, digits or /\._~%!\$&'\(\)\*\+,;=:@-$"):
        ServiceConfig(health_check_path=path)


@pytest.mark.parametrize("path", ["/", "/health", "/api/v1/health-check", "/" + "a" * 1023])
def test_url_paths_up_to_1024_characters_are_accepted_as_health_check_path(path):
    assert ServiceConfig(health_check_path=path).health_check_path == path


@pytest.mark.parametrize("port", [22, 80, 443, 1023, 5432, 65536])
def test_a_privileged_port_or_the_database_port_is_refused_for_the_container(port):
    with pytest.raises(ConfigError, match=rf"^service\.container_port: {port} is not allowed: use 1024-65535 .* not 5432$"):
        ServiceConfig(container_port=port)


@pytest.mark.parametrize("tag", ["latest:1", "-starts-with-dash", "", "a" * 129, "sha256:abc", "has space",
                                 "sha256:" + "A" * 64])
def test_image_tag_that_is_neither_a_tag_nor_a_digest_is_refused(tag):
    with pytest.raises(ConfigError, match=r"^service\.image_tag: .* is neither an image tag .* nor a digest"):
        ServiceConfig(image_tag=tag)


@pytest.mark.parametrize("tag", ["1.4.2", "v2026-11-27_abc123", "a" * 128, "sha256:" + "0" * 64, "latest-1"])
def test_tags_and_digests_are_accepted(tag):
    assert ServiceConfig(image_tag=tag).image_tag == tag
    assert ServiceConfig(image_tag=tag).is_digest is tag.startswith("sha256:")


@pytest.mark.parametrize("tag", ["latest", "LATEST", "Latest"])
def test_a_moving_tag_on_an_immutable_repository_is_refused(tag):
    # Refused, not warned: the repository's tags are immutable, so the second release would fail at push.
    with pytest.raises(ConfigError, match=rf"^service\.image_tag: '{tag}' looks like a moving tag, but the "
                                          r"repository's tags are immutable"):
        ServiceConfig(image_tag=tag)


# ---- combinations inside a section or an environment ----

def test_autoscaling_min_count_must_be_from_1_to_max_count():
    assert AutoscalingConfig(min_count=6, max_count=6).min_count == 6
    for low, high in ((0, 6), (7, 6)):
        with pytest.raises(ConfigError, match=rf"^service\.autoscaling\.min_count: {low} must be at least 1 and at most "
                                              rf"max_count \({high}\)$"):
            AutoscalingConfig(min_count=low, max_count=high)


def test_autoscaling_max_count_is_at_most_100():
    assert AutoscalingConfig(max_count=100).max_count == 100
    with pytest.raises(ConfigError, match=r"^service\.autoscaling\.max_count: 101 is not allowed: use at most 100$"):
        AutoscalingConfig(max_count=101)


def test_desired_count_must_lie_within_the_autoscaling_bounds():
    scaling = AutoscalingConfig(min_count=2, max_count=6)
    for count in (2, 6):
        assert ServiceConfig(migrations="task", desired_count=count, autoscaling=scaling).desired_count == count
    for count in (1, 7):
        with pytest.raises(ConfigError, match=rf"^service\.desired_count: {count} is outside the autoscaling bounds 2 to 6$"):
            ServiceConfig(migrations="task", desired_count=count, autoscaling=scaling)


def test_scaling_out_while_tasks_migrate_on_start_is_refused():
    assert ServiceConfig(desired_count=0).desired_count == 0
    with pytest.raises(ConfigError, match=r"^service\.desired_count: 2 with autoscaling=off is not allowed while "
                                          r"migrations='on_start'"):
        ServiceConfig(desired_count=2)
    with pytest.raises(ConfigError, match=r"^service\.desired_count: 1 with autoscaling=on is not allowed while "
                                          r"migrations='on_start': run one task without autoscaling, or set "
                                          r"migrations='task' to scale out$"):
        ServiceConfig(autoscaling=AutoscalingConfig(min_count=1))


def test_an_environment_serves_https_unless_it_is_http_only_by_name():
    with pytest.raises(ConfigError, match=r"^load_balancer\.certificate_arn: is required: the load balancer serves "
                                          r"HTTPS; set it to an ACM certificate ARN, or set load_balancer\.http_only="
                                          r"True to serve plain HTTP \(dev only\)$"):
        EnvironmentConfig(name="stage")
    assert env().load_balancer.certificate_arn is None
    https = env(load_balancer=LoadBalancerConfig(certificate_arn=CERT.format(region="us-east-1"), domain_name="notes.example.com"))
    assert https.load_balancer.certificate_region == "us-east-1"


def test_http_only_with_a_certificate_is_refused_naming_both():
    with pytest.raises(ConfigError, match=r"^load_balancer\.http_only: True contradicts certificate_arn: with a "
                                          r"certificate the load balancer serves HTTPS and redirects HTTP; remove one "
                                          r"of the two$"):
        LoadBalancerConfig(http_only=True, certificate_arn=CERT.format(region="us-east-1"))


@pytest.mark.parametrize("arn", ["arn:aws:iam::1:cert", "arn:aws:acm:us-east-1:12345:certificate/x",
                                 CERT.format(region="us-east-1") + "/extra", " " + CERT.format(region="us-east-1")])
def test_a_certificate_arn_that_is_not_an_acm_certificate_is_refused(arn):
    with pytest.raises(ConfigError, match=r"^load_balancer\.certificate_arn: .* is not an ACM certificate ARN "
                                          r"\(arn:aws:acm:<region>:<account>:certificate/<id>\)$"):
        LoadBalancerConfig(certificate_arn=arn)


def test_a_certificate_from_another_region_is_refused():
    with pytest.raises(ConfigError, match=r"^load_balancer\.certificate_arn: is in 'eu-west-1', but a load balancer can "
                                          r"use only a certificate of its own region 'us-east-1'"):
        env(load_balancer=LoadBalancerConfig(certificate_arn=CERT.format(region="eu-west-1"), domain_name="notes.example.com"))
    assert env(region="eu-west-1", load_balancer=LoadBalancerConfig(certificate_arn=CERT.format(region="eu-west-1"), domain_name="notes.example.com"))


def test_a_certificate_needs_the_domain_name_it_is_for():
    with pytest.raises(ConfigError, match=r"^load_balancer\.domain_name: is required with certificate_arn: the name the "
                                          r"certificate is for"):
        LoadBalancerConfig(certificate_arn=CERT.format(region="us-east-1"))


@pytest.mark.parametrize("name", ["Notes.example.com", "notes.example.com.", "*.example.com", "localhost",
                                  "notes..example.com", "-notes.example.com", "notes-.example.com", "notes.example.123",
                                  "notes example.com", "nötes.example.com", "a" * 64 + ".example.com",
                                  ".".join(["abcdefghi"] * 26) + ".com", "https://notes.example.com", ""])
def test_a_domain_name_that_is_not_a_host_name_is_refused(name):
    with pytest.raises(ConfigError, match=r"^load_balancer\.domain_name: .* is not a host name: dot-separated labels"):
        LoadBalancerConfig(http_only=True, domain_name=name)


@pytest.mark.parametrize("name", ["notes.example.com", "a.b.co", "x1.notes-eu.example.io", "a" * 63 + ".example.com"])
def test_a_host_name_is_a_domain_name(name):
    assert LoadBalancerConfig(http_only=True, domain_name=name).domain_name == name


def test_the_deregistration_delay_must_be_shorter_than_the_stop_timeout():
    lb = LoadBalancerConfig(http_only=True, deregistration_delay_seconds=30)
    assert env(load_balancer=lb, service=ServiceConfig(stop_timeout_seconds=31))
    with pytest.raises(ConfigError, match=r"^load_balancer\.deregistration_delay_seconds: 30 is not allowed: it must be "
                                          r"shorter than service\.stop_timeout_seconds \(30\), or ECS kills a task "
                                          r"that is still being sent requests$"):
        env(load_balancer=lb, service=ServiceConfig(stop_timeout_seconds=30))


def test_the_load_balancer_closes_idle_connections_before_the_app_does():
    with pytest.raises(ConfigError, match=r"^load_balancer\.idle_timeout_seconds: 65 is not allowed: use 1 to 64, "
                                          r"below the app's 65 s keep-alive$"):
        LoadBalancerConfig(idle_timeout_seconds=65)


def test_the_keep_alive_the_rule_assumes_is_the_apps():
    from app.__main__ import KEEP_ALIVE_SECONDS
    assert APP_KEEP_ALIVE_SECONDS == KEEP_ALIVE_SECONDS


# ---- names AWS would refuse ----

@pytest.mark.parametrize("name", ["Dev", "d", "1dev", "a" * 11, "dev-1", "bootstrap"])
def test_an_environment_name_that_is_not_a_valid_stack_name_is_refused(name):
    with pytest.raises(ConfigError, match=rf"^name: '{name}' is not allowed: use 2-10 characters a-z and 0-9, starting "
                                          r"with a letter, other than 'bootstrap'$"):
        env(name=name)


@pytest.mark.parametrize("project", ["a", "-ab", "ab-", "My", "a" * 21, "my--app", "internal", "xn--ab", "sthree-x",
                                     "amzn-s3-demo-x"])
def test_a_project_aws_would_refuse_in_a_name_is_refused(project):
    with pytest.raises(ConfigError, match=rf"^project: '{project}' is not allowed: use 2-20 characters a-z, 0-9 and "
                                          r"'-', starting with a letter, without '--', not 'internal' nor starting "
                                          r"with xn--, sthree- or amzn-s3-demo- \(names AWS reserves\)$"):
        env(project=project)


def test_the_resource_name_prefix_must_fit_the_shortest_aws_name_it_is_part_of():
    longest = env(project="p" * (PREFIX_MAX - len("-stage")))
    assert len(longest.prefix) == PREFIX_MAX == 24
    assert len(f"{longest.prefix}-alb") <= 32 and len(f"{longest.prefix}-access-logs-") == 37
    with pytest.raises(ConfigError, match=r"^project: 'p{19}-stage' \(project-name\) has 25 characters: at most 24 fit "
                                          r"the access-log bucket's prefix"):
        env(project="p" * (PREFIX_MAX - len("-stage") + 1))


@pytest.mark.parametrize("region", ["us-east-1", "eu-west-1", "ap-southeast-2", "us-gov-west-1", "cn-north-1"])
def test_regions_botocore_knows_are_accepted(region):
    assert env(region=region).region == region
    assert BootstrapConfig(state_bucket="b-b-b", region=region).region == region


@pytest.mark.parametrize("region", ["mars-1", "us-east-7", "US-EAST-1", "eu-west", "us-east-1a", "aws-global", ""])
def test_a_region_botocore_does_not_know_is_refused(region):
    with pytest.raises(ConfigError, match=rf"^region: '{region}' is not an AWS region botocore knows"):
        env(region=region)
    with pytest.raises(ConfigError, match=rf"^bootstrap\.region: '{region}' is not an AWS region botocore knows"):
        BootstrapConfig(state_bucket="b-b-b", region=region)


@pytest.mark.parametrize("bucket", ["My_Bucket", "x", "ab", "a" * 64, "a..b", "-abc", "abc-"])
def test_an_invalid_state_bucket_name_is_refused(bucket):
    with pytest.raises(ConfigError, match=rf"^bootstrap\.state_bucket: '{bucket}' is not a valid S3 bucket name: "
                                          r"3-63 of a-z, 0-9, '\.', '-', starting and ending with a letter or digit$"):
        BootstrapConfig(state_bucket=bucket)


# Amazon S3 User Guide, "General purpose bucket naming rules": reserved prefixes and suffixes, and no IP address.
@pytest.mark.parametrize("bucket, why", [
    ("xn--abc", "S3 reserves the prefixes xn--, sthree-, amzn-s3-demo-"), ("sthree-abc", "S3 reserves the prefixes"),
    ("amzn-s3-demo-abc", "S3 reserves the prefixes"), ("abc-s3alias", "S3 reserves the suffixes -s3alias, --ol-s3"),
    ("abc--ol-s3", "S3 reserves the suffixes"), ("abc.mrap", "S3 reserves the suffixes"),
    ("abc--x-s3", "S3 reserves the suffixes"), ("abc--table-s3", "S3 reserves the suffixes"),
    ("192.168.5.4", "S3 refuses a name formatted as an IP address"), ("10.0.0.1", "S3 refuses a name formatted as an IP address"),
])
def test_a_state_bucket_name_s3_reserves_or_reads_as_an_ip_address_is_refused_saying_why(bucket, why):
    with pytest.raises(ConfigError, match=rf"^bootstrap\.state_bucket: '{re.escape(bucket)}' is not a valid S3 bucket "
                                          rf"name: {re.escape(why)}"):
        BootstrapConfig(state_bucket=bucket)


@pytest.mark.parametrize("bucket", ["abc", "a" * 63, "my.state-bucket-1", "192.168.5.4x", "1.2.3.4.5"])
def test_valid_state_bucket_names_are_accepted(bucket):
    assert BootstrapConfig(state_bucket=bucket).state_bucket == bucket


@pytest.mark.parametrize("settings", [
    dict(github_repository="a/b"), dict(github_repository="A" + "b" * 38 + "/" + "r" * 100),
    dict(github_repository="o/r", branch="release/1.2"), dict(github_repository="o/r", branch="b" * 200),
    dict(github_repository="o/r", environments=()), dict(github_repository="o/r", environments=("staging-2",)),
    dict(github_repository="o/r", project="my-app"),
])
def test_ci_settings_of_one_repository_branch_and_named_environments_are_accepted(settings):
    ci = CiConfig(**settings)
    assert all(getattr(ci, name) == value for name, value in settings.items())
    assert BootstrapConfig(state_bucket="b-b-b", ci=ci).ci is ci


@pytest.mark.parametrize("repository", ["notes-service", "-org/r", "o" * 40 + "/r", "org/" + "r" * 101, "org/r/",
                                        "org/r.", "org/r p", "org/*"])
def test_a_ci_repository_that_is_not_one_owner_and_name_is_refused(repository):
    with pytest.raises(ConfigError, match=rf"^bootstrap\.ci\.github_repository: {re.escape(repr(repository))} is not "
                                          r"allowed: use owner/name as in the repository's GitHub URL, e\.g\. "
                                          r"'example-org/notes-service'$"):
        CiConfig(github_repository=repository)


@pytest.mark.parametrize("branch", ["", "release/*", "refs/heads/main", "/main", "a..b", "b" * 201, "ma in"])
def test_a_ci_branch_that_is_not_one_exact_branch_name_is_refused(branch):
    with pytest.raises(ConfigError, match=rf"^bootstrap\.ci\.branch: {re.escape(repr(branch))} is not allowed: give "
                                          r"one branch's name, e\.g\. 'main' \(no wildcards, no refs/heads/ prefix\)$"):
        CiConfig(github_repository="o/r", branch=branch)


@pytest.mark.parametrize("environment", ["prod*", "a/b", "", "pr od"])
def test_a_ci_environment_that_is_not_one_github_environment_name_is_refused(environment):
    with pytest.raises(ConfigError, match=rf"^bootstrap\.ci\.environments: {re.escape(repr(environment))} is not "
                                          r"allowed: a GitHub environment's name, e\.g\. 'prod'$"):
        CiConfig(github_repository="o/r", environments=("dev", environment))


def test_a_ci_project_must_be_a_project_name():
    with pytest.raises(ConfigError, match=r"^bootstrap\.ci\.project: 'Notes' is not allowed: use the environments' "
                                          r"`project`, e\.g\. 'notes'$"):
        CiConfig(github_repository="o/r", project="Notes")


# ---- between environments ----

def test_the_shipped_environments_pass_every_rule_without_a_warning():
    from infra import environments  # here, not at the top: `make mutation` leaves the "shipped" tests out
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_environments(environments.ENVIRONMENTS)


def test_an_environment_listed_under_another_name_is_refused():
    with pytest.raises(ConfigError, match=r"^stage\.name: 'prod' differs from its key 'stage' in ENVIRONMENTS: use the "
                                          r"same name for both$"):
        check_environments({"stage": env(name="prod")})


def test_two_entries_with_the_same_name_are_refused():
    with pytest.raises(ConfigError, match=r"^dev2\.name: 'dev' differs from its key 'dev2'"):
        check_environments({"dev": env(name="dev"), "dev2": env(name="dev")})


def test_an_environment_given_as_a_dict_is_refused():
    with pytest.raises(ConfigError, match=r"^dev: is a dict: define it as EnvironmentConfig\(name='dev', \.\.\.\)$"):
        check_environments({"dev": {"name": "dev"}})


def test_no_environment_at_all_is_refused():
    with pytest.raises(ConfigError, match=r"^ENVIRONMENTS: is empty: define at least one environment$"):
        check_environments({})


def test_overlapping_vpc_ranges_of_two_environments_are_a_warning_not_an_error():
    first = env(name="one", network=NetworkConfig(vpc_cidr="10.0.0.0/16"))
    second = env(name="two", network=NetworkConfig(vpc_cidr="10.0.128.0/17"))
    third = env(name="three", network=NetworkConfig(vpc_cidr="10.1.0.0/16"))
    with pytest.warns(ConfigWarning) as caught:
        check_environments({"one": first, "two": second, "three": third})
    assert [str(w.message) for w in caught] == [
        "two.network.vpc_cidr: 10.0.128.0/17 overlaps one's 10.0.0.0/16: the two VPCs can never be peered or reached "
        "over one VPN; give each environment its own range"]


def test_environments_are_selected_by_name_in_the_order_given():
    envs = {"dev": env(name="dev"), "prod": env(name="prod")}
    assert select(envs, None) == select(envs, "") == [envs["dev"], envs["prod"]]
    assert select(envs, " prod , dev") == [envs["prod"], envs["dev"]]


def test_an_unknown_environment_is_refused_with_the_known_ones():
    with pytest.raises(ConfigError, match=r"^ENVIRONMENTS: 'staging' is not defined; known environments: dev, prod$"):
        select({"dev": env(name="dev"), "prod": env(name="prod")}, "dev,staging")


def test_an_environment_named_twice_is_refused():
    with pytest.raises(ConfigError, match=r"^ENVIRONMENTS: 'dev' is named twice: name each environment once$"):
        select({"dev": env(name="dev"), "prod": env(name="prod")}, "dev,dev")


def test_every_shipped_environment_keeps_its_state_under_its_own_key_in_one_bucket():
    from infra import environments
    keys = [e.state_key for e in environments.ENVIRONMENTS.values()]
    assert keys == [f"{name}/terraform.tfstate" for name in environments.ENVIRONMENTS]
    assert not any(f.name == "state_bucket" for f in dataclasses.fields(EnvironmentConfig))


# ---- defaults and documentation ----

def test_secure_defaults_need_no_setting():
    assert DatabaseConfig().multi_az is True and DatabaseConfig().deletion_protection is True
    lb = LoadBalancerConfig()
    assert lb.waf is True and lb.http_only is False and lb.deletion_protection is True
    assert NetworkConfig().flow_log_retention_days == DatabaseConfig().log_retention_days == \
        ServiceConfig().log_retention_days == lb.request_log_retention_days == 365


def test_the_default_delays_are_ordered_as_the_rules_require():
    assert LoadBalancerConfig().deregistration_delay_seconds < ServiceConfig().stop_timeout_seconds
    assert LoadBalancerConfig().idle_timeout_seconds < APP_KEEP_ALIVE_SECONDS


def test_settings_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        env().service.cpu = 512  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        env().name = "other"  # type: ignore[misc]


def test_replacing_a_setting_validates_it_again():
    with pytest.raises(ConfigError, match=r"^service\.image_tag: 'not a tag' is neither"):
        dataclasses.replace(ServiceConfig(), image_tag="not a tag")


def test_every_setting_has_a_doc_right_after_it():
    tree = ast.parse(Path(config.__file__).read_text())
    undocumented = []
    for cls in (n for n in tree.body if isinstance(n, ast.ClassDef) and n.name.endswith("Config")):
        for statement, following in zip(cls.body, cls.body[1:] + [None]):
            if isinstance(statement, ast.AnnAssign) and not (
                    isinstance(following, ast.Expr) and isinstance(following.value, ast.Constant)
                    and isinstance(following.value.value, str) and following.value.value.strip()):
                undocumented.append(f"{cls.name}.{statement.target.id}")
    assert undocumented == []


def test_the_shipped_environments_file_imports_every_section_a_user_may_set():
    from infra import environments
    for cls in (NetworkConfig, DatabaseConfig, RegistryConfig, ServiceConfig, AutoscalingConfig, LoadBalancerConfig,
                EnvironmentConfig, BootstrapConfig, CiConfig):
        assert getattr(environments, cls.__name__) is cls

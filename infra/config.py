"""Typed settings for every environment, their documented defaults, and their validation.

Types are checked by pydantic (strict mode: no coercion, so `'8000'`, `1.5`, `'false'` or a dict where a
section belongs are refused, as is a misspelt field name); the rules on values, between fields and between
environments are the `__post_init__` checks below. Every error is a ConfigError whose message starts
with the setting's dotted name. This module imports nothing from cdktf, so bad configuration fails in
a fraction of a second, before any provider code loads and before anything is written.
"""
from __future__ import annotations

import functools
import ipaddress
import re
import warnings
from dataclasses import field
from typing import Literal

import pydantic
from pydantic.dataclasses import dataclass

from infra.aws_limits import (
    FARGATE_SIZES, LOG_RETENTION_DAYS, RDS_FAMILIES, RDS_SIZES, RESERVED_BUCKET_PREFIXES, STORAGE_GB, WAF_RATE_LIMIT,
    bucket_name_problem, known_regions, rds_memory_gib,
)


class ConfigError(ValueError):
    """A setting is invalid. The message starts with the field's dotted name."""


class ConfigWarning(UserWarning):
    """A setting is valid but risky; main.py prints it and carries on."""


def _fail(field_name: str, message: str) -> None:
    raise ConfigError(f"{field_name}: {message}")


def _check_range(field_name: str, value: int, low: int, high: int, allowed: str | None = None) -> None:
    """ConfigError unless low <= value <= high, saying `allowed` (default `use <low> to <high>`)."""
    if not low <= value <= high:
        _fail(field_name, f"{value!r} is not allowed: {allowed or f'use {low} to {high}'}")


# The stack that holds the state bucket; no environment may take its name.
BOOTSTRAP_STACK = "bootstrap"
BOOTSTRAP_STATE = "terraform.bootstrap.tfstate"
"""The bootstrap stack's local state file, beside the folder the stacks are synthesized into (cdktf.out/)."""
SUBNET_TIERS = ("public", "private", "isolated")
"""Subnet tiers, in the order their blocks are carved from the VPC range: load balancer and NAT, tasks, database."""
# app/__main__.py's uvicorn keep-alive: the load balancer must close idle connections before the app does,
# or a request sent on a connection the app is closing gets a 502.
APP_KEEP_ALIVE_SECONDS = 65
# The shortest AWS name limit that `<project>-<name>` is part of: the access-log bucket's `bucket_prefix`
# (at most 37 characters) is `<project>-<name>-access-logs-`. The load balancer and target group names
# (`<project>-<name>-alb`, `-app`, at most 32) and IAM roles (64) fit when this does.
PREFIX_MAX = 37 - len("-access-logs-")

# The tag the release puts on a task definition revision once the service was steady on it and the app answered
# where users arrive (release/): what `rollback` goes back to. Terraform ignores it (the provider's ignore_tags).
VERIFIED_TAG = "release:verified"
_NAME = re.compile(r"[a-z][a-z0-9]{1,9}")
_PROJECT = re.compile(r"[a-z][a-z0-9-]{0,18}[a-z0-9]")
_IMAGE_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_IMAGE_DIGEST = re.compile(r"sha256:[a-f0-9]{64}")
_CERT_ARN = re.compile(r"arn:(aws[a-z-]*):acm:([a-z0-9-]+):\d{12}:certificate/[A-Za-z0-9-]+")
# A host name as DNS and certificates write it: dot-separated labels of a-z, 0-9 and inner '-', at least two.
_DOMAIN = re.compile(r"(?=.{4,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?")
# An address as SNS's email protocol takes it: one @, a dot in the domain, no spaces; 254 characters at most.
_EMAIL = re.compile(r"(?=.{3,254}$)[^@\s]+@[^@\s.]+(?:\.[^@\s.]+)+")
_PATH = re.compile(r"/[A-Za-z0-9/._~%!$&'()*+,;=:@-]{0,1023}")
_PRIVATE_RANGES = [ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")]
# Tags that every tool treats as moving. The repository's tags are immutable: such a tag can be pushed
# once and never again, so the second release would fail at `docker push`.
MUTABLE_LOOKING_TAGS = frozenset({"latest"})

NatStrategy = Literal["none", "single", "per_az"]
MigrationStrategy = Literal["on_start", "task"]


def _settings(section: str):  # pragma: no mutate block (it runs at import: a mutant would crash the import)
    """A frozen, keyword-only pydantic dataclass whose errors are ConfigErrors naming `section.field`.

    Strict mode refuses what Python would otherwise let through or crash on later ('8000' for an int,
    'false' for a bool, a dict for a section); `extra='forbid'` refuses a misspelt field.
    """
    def decorate(cls):
        cls = dataclass(frozen=True, kw_only=True,
                        config=pydantic.ConfigDict(strict=True, extra="forbid"))(cls)
        validated_init = cls.__init__

        @functools.wraps(validated_init)
        def __init__(self, *args, **kwargs) -> None:
            try:
                validated_init(self, *args, **kwargs)
            except pydantic.ValidationError as exc:
                raise _config_error(section, cls.__name__, exc) from None

        cls.__init__ = __init__
        return cls
    return decorate


def _config_error(section: str, class_name: str, exc: pydantic.ValidationError) -> ConfigError:
    problems = []
    for error in exc.errors():
        cause = error.get("ctx", {}).get("error")
        if isinstance(cause, ConfigError):
            return cause  # raised by __post_init__, which runs only once every type is right
        path = ".".join(p for p in (section, *map(str, error["loc"])) if p)
        if error["type"] == "unexpected_keyword_argument":
            problems.append(f"{path}: is not a setting of {class_name}")
        elif error["type"] == "missing":
            problems.append(f"{path}: is required")
        elif error["type"] == "unexpected_positional_argument":
            return ConfigError(f"{section or class_name}: pass settings by name, e.g. {class_name}(field=value)")
        else:
            problems.append(f"{path}: {_short(error['input'])} is not allowed: {error['msg'][0].lower()}{error['msg'][1:]}")
    return ConfigError("; ".join(problems))


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


@_settings("network")
class NetworkConfig:
    """The VPC. Subnets are carved from `vpc_cidr` at synth: three tiers x `az_count` blocks of /(prefix+4)."""

    vpc_cidr: str = "10.0.0.0/16"
    """Private IPv4 range for the VPC (within 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16), /16 to /20:
    each subnet gets a /20 to /24."""
    az_count: int = 2
    """Availability zones to spread over, 2 to 5."""
    nat: NatStrategy = "single"
    """One of `single` (one NAT gateway, cheaper), `per_az` (one per zone, survives a zone outage) or `none`
    (no internet egress from tasks; VPC endpoints for ECR, S3, Logs and Secrets Manager instead)."""
    availability_zones: tuple[str, ...] = ()
    """The zones to use, a tuple of `az_count` different zones of the environment's region, e.g.
    `("us-east-1a", "us-east-1b")`. Empty: the region's zones `a`, `b`, `c`... in order. Pinned either way,
    so that a zone AWS adds later never moves a subnet; set them where the region lacks a letter
    (ap-northeast-1 has no `b`)."""
    flow_log_retention_days: int = 365
    """Retention of the VPC flow log group, a CloudWatch Logs retention (one year: enough to investigate an
    incident found late)."""

    def __post_init__(self) -> None:
        try:
            net = ipaddress.IPv4Network(self.vpc_cidr)  # strict: host bits set are an error
        except ValueError as exc:
            _fail("network.vpc_cidr", f"{self.vpc_cidr!r} is not a valid IPv4 CIDR block ({exc})")
        if not any(net.subnet_of(r) for r in _PRIVATE_RANGES):
            _fail("network.vpc_cidr", f"{self.vpc_cidr!r} must lie in 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16")
        if not 16 <= net.prefixlen <= 20:
            _fail("network.vpc_cidr", f"{self.vpc_cidr!r} is too small or too large: the prefix must be /16 to /20 "
                  "so that every subnet (prefix + 4) holds at least a /24")
        _check_range("network.az_count", self.az_count, 2, 5, "use 2 to 5 availability zones")
        _check_retention("network.flow_log_retention_days", self.flow_log_retention_days)
        if self.availability_zones:
            zones = self.availability_zones
            if len(zones) != self.az_count or len(set(zones)) != len(zones):
                _fail("network.availability_zones", f"{zones!r} must name az_count ({self.az_count}) different zones")

    def zone_names(self, region: str) -> list[str]:
        """The pinned zone names: `availability_zones`, or the region's first `az_count` letters."""
        return list(self.availability_zones) or [f"{region}{letter}" for letter in "abcde"[:self.az_count]]

    def subnet_cidrs(self, tier: str) -> list[str]:
        """CIDRs of one tier's subnets (a name in SUBNET_TIERS), one per AZ, in the tiers' order."""
        blocks = list(ipaddress.ip_network(self.vpc_cidr).subnets(prefixlen_diff=4))
        start = SUBNET_TIERS.index(tier) * self.az_count
        return [str(block) for block in blocks[start:start + self.az_count]]


@_settings("database")
class DatabaseConfig:
    """RDS PostgreSQL. The master password is generated and held by RDS in Secrets Manager."""

    instance_class: str = "db.t4g.micro"
    """RDS instance class `db.<family>.<size>`, of a family RDS for PostgreSQL offers (RDS_FAMILIES) and a
    known size (RDS_SIZES), e.g. `db.t4g.medium`, `db.r7g.xlarge`."""
    engine_version: str = "16"
    """PostgreSQL major version, `13` to `17` (optionally with a minor, e.g. `16.4`); RDS picks the minor
    and upgrades it (`auto_minor_version_upgrade`)."""
    allocated_storage_gb: int = 20
    """gp3 storage in GiB, 20 to 65536."""
    max_allocated_storage_gb: int = 100
    """Storage autoscaling ceiling in GiB, from `allocated_storage_gb` (equal turns autoscaling off) to 65536."""
    backup_retention_days: int = 7
    """Automated backups, 1 to 35 days (0, which disables backups, is refused)."""
    multi_az: bool = True
    """A standby in a second zone that takes over on failure. Secure default; dev turns it off by name."""
    deletion_protection: bool = True
    """Refuse `destroy` and keep a final snapshot. Secure default; dev turns it off by name."""
    database_name: str = "app"
    """The database the app uses: 1 to 63 of a-z, 0-9 and `_`, starting with a letter."""
    master_username: str = "app_admin"
    """RDS master user: 1 to 16 of a-z, 0-9 and `_`, starting with a letter; not `admin`, `postgres` or
    `rdsadmin` (reserved by RDS)."""
    log_retention_days: int = 365
    """Retention of the exported PostgreSQL log groups (connections, DDL, slow statements), a CloudWatch
    Logs retention."""

    def __post_init__(self) -> None:
        parts = self.instance_class.split(".")
        if len(parts) != 3 or parts[0] != "db" or parts[1] not in RDS_FAMILIES or parts[2] not in RDS_SIZES:
            _fail("database.instance_class", f"{self.instance_class!r} is not an RDS for PostgreSQL instance class: "
                  f"use db.<family>.<size>, e.g. 'db.t4g.micro', with a family of {', '.join(sorted(RDS_FAMILIES))}")
        if rds_memory_gib(self.instance_class) is None:
            _fail("database.instance_class", f"{self.instance_class!r} does not exist: the t families come in micro to "
                  "2xlarge, the others from large up")
        if not re.fullmatch(r"1[3-7](\.\d+)?", self.engine_version):
            _fail("database.engine_version", f"{self.engine_version!r} is not allowed: use a PostgreSQL major 13 to 17, e.g. '16'")
        low, high = STORAGE_GB
        _check_range("database.allocated_storage_gb", self.allocated_storage_gb, low, high)
        _check_range("database.max_allocated_storage_gb", self.max_allocated_storage_gb, self.allocated_storage_gb, high,
                     f"use allocated_storage_gb ({self.allocated_storage_gb}) to {high}, the gp3 ceiling")
        _check_range("database.backup_retention_days", self.backup_retention_days, 1, 35, "use 1 to 35 days")
        if not re.fullmatch(r"[a-z][a-z0-9_]{0,62}", self.database_name):
            _fail("database.database_name", f"{self.database_name!r} must be 1-63 lowercase letters, digits or _, "
                  "starting with a letter")
        if not re.fullmatch(r"[a-z][a-z0-9_]{0,15}", self.master_username) or self.master_username in ("admin", "postgres", "rdsadmin"):
            _fail("database.master_username", f"{self.master_username!r} must be 1-16 lowercase letters, digits or _, "
                  "starting with a letter, and not a reserved name (admin, postgres, rdsadmin)")
        _check_retention("database.log_retention_days", self.log_retention_days)

    @property
    def parameter_group_family(self) -> str:
        return "postgres" + self.engine_version.split(".")[0]


@_settings("registry")
class RegistryConfig:
    """The ECR repository for the app image. Tags are immutable; images are scanned on push."""

    keep_last_images: int = 30
    """Tagged images kept, 1 to 1000; older ones expire."""
    untagged_expiry_days: int = 7
    """Days before an untagged image (a failed or superseded push) expires, 1 to 365."""
    force_delete: bool = False
    """Let `destroy` delete a repository that still holds images. Off by default; dev turns it on."""

    def __post_init__(self) -> None:
        _check_range("registry.keep_last_images", self.keep_last_images, 1, 1000)
        _check_range("registry.untagged_expiry_days", self.untagged_expiry_days, 1, 365)


@_settings("service.autoscaling")
class AutoscalingConfig:
    """Application Auto Scaling of the service's task count (target tracking)."""

    min_count: int = 2
    """Fewest tasks, 1 to `max_count`."""
    max_count: int = 6
    """Most tasks, `min_count` to 100."""
    cpu_target_percent: int = 60
    """Average CPU use that target tracking keeps the tasks at, 10 to 90 percent."""
    requests_per_target: int = 500
    """ALB requests per target per minute that trigger a scale-out, 1 to 100000."""

    def __post_init__(self) -> None:
        if not 1 <= self.min_count <= self.max_count:
            _fail("service.autoscaling.min_count", f"{self.min_count!r} must be at least 1 and at most max_count ({self.max_count})")
        _check_range("service.autoscaling.max_count", self.max_count, self.min_count, 100, "use at most 100")
        _check_range("service.autoscaling.cpu_target_percent", self.cpu_target_percent, 10, 90)
        _check_range("service.autoscaling.requests_per_target", self.requests_per_target, 1, 100000)


@_settings("service")
class ServiceConfig:
    """The ECS Fargate service and its task definitions (app and one-off migration)."""

    image_tag: str = "0.1.0"
    """Tag (`[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`, not `latest`: tags are immutable) or `sha256:` digest of the
    image in this environment's repository. Override with `IMAGE_TAG`."""
    cpu: int = 256
    """Task CPU units, one of 256, 512, 1024, 2048, 4096, 8192, 16384."""
    memory: int = 512
    """Task memory in MiB, a size Fargate accepts for `cpu` (FARGATE_SIZES; 256 CPU: 512, 1024 or 2048)."""
    container_port: int = 8000
    """Port the app listens on, 1024 to 65535 (it runs as a non-root user without capabilities, so it cannot
    bind a lower one), not 5432 (the database's)."""
    desired_count: int = 1
    """Tasks to run, 0 (service stopped) to 100: 0 or 1 while `migrations` is `on_start`; within the
    autoscaling bounds when autoscaling is on."""
    migrations: MigrationStrategy = "on_start"
    """One of `on_start`: the service's task migrates before serving (then desired_count is at most 1, no
    autoscaling); `task`: the pipeline runs the migration task definition once before each deploy; the
    service may scale."""
    autoscaling: AutoscalingConfig | None = None
    """An `AutoscalingConfig`, or None: off (the default; one task while migrations run in the service)."""
    health_check_path: str = "/health"
    """Path the load balancer checks (the app's shallow liveness endpoint): starts with `/`, at most 1024
    characters of a URL path."""
    health_check_grace_seconds: int = 60
    """Seconds ECS ignores failed load-balancer health checks of a new task, 0 to 3600."""
    stop_timeout_seconds: int = 30
    """Seconds ECS waits after SIGTERM before killing a task, 2 to 120 (Fargate's range); the app drains in
    less. Longer than `load_balancer.deregistration_delay_seconds`."""
    log_retention_days: int = 365
    """Retention of the app's log group, a CloudWatch Logs retention."""
    run_as_user: str = "10001"
    """Numeric UID of the image's non-root user, 1 to 4294967294 (0, root, is refused)."""

    def __post_init__(self) -> None:
        if not (_IMAGE_TAG.fullmatch(self.image_tag) or _IMAGE_DIGEST.fullmatch(self.image_tag)):
            _fail("service.image_tag", f"{self.image_tag!r} is neither an image tag ([A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}}) "
                  "nor a digest (sha256: and 64 hex digits)")
        if self.image_tag.lower() in MUTABLE_LOOKING_TAGS:
            _fail("service.image_tag", f"{self.image_tag!r} looks like a moving tag, but the repository's tags are "
                  "immutable: it could be pushed only once; tag each release with its own version or use its digest")
        if self.cpu not in FARGATE_SIZES:
            _fail("service.cpu", f"{self.cpu!r} is not a Fargate CPU size: use one of {sorted(FARGATE_SIZES)}")
        allowed = FARGATE_SIZES[self.cpu]
        if self.memory not in allowed:
            steps = {b - a for a, b in zip(allowed, allowed[1:])}
            sizes = f"{allowed[0]} to {allowed[-1]} in steps of {steps.pop()}" if len(steps) == 1 else \
                ", ".join(map(str, allowed))
            _fail("service.memory", f"{self.memory!r} MiB is not allowed with cpu={self.cpu}: Fargate accepts {sizes}")
        if not 1024 <= self.container_port <= 65535 or self.container_port == 5432:
            _fail("service.container_port", f"{self.container_port!r} is not allowed: use 1024-65535 (the app cannot "
                  "bind a privileged port), not 5432")
        _check_range("service.desired_count", self.desired_count, 0, 100)
        if self.migrations == "on_start" and (self.desired_count > 1 or self.autoscaling is not None):
            _fail("service.desired_count", f"{self.desired_count!r} with autoscaling={'on' if self.autoscaling else 'off'} "
                  "is not allowed while migrations='on_start': run one task without autoscaling, "
                  "or set migrations='task' to scale out")
        if self.autoscaling and not self.autoscaling.min_count <= self.desired_count <= self.autoscaling.max_count:
            _fail("service.desired_count", f"{self.desired_count!r} is outside the autoscaling bounds "
                  f"{self.autoscaling.min_count} to {self.autoscaling.max_count}")
        if not _PATH.fullmatch(self.health_check_path):
            _fail("service.health_check_path", f"{_short(self.health_check_path)} must be a URL path: '/' then at most "
                  "1023 letters, digits or /._~%!$&'()*+,;=:@-")
        _check_range("service.health_check_grace_seconds", self.health_check_grace_seconds, 0, 3600)
        _check_range("service.stop_timeout_seconds", self.stop_timeout_seconds, 2, 120, "Fargate accepts 2 to 120")
        if not re.fullmatch(r"[0-9]{1,10}", self.run_as_user) or not 0 < int(self.run_as_user) < 2**32 - 1:
            _fail("service.run_as_user", f"{self.run_as_user!r} must be a numeric UID from 1 to 4294967294 (0 is root)")
        _check_retention("service.log_retention_days", self.log_retention_days)

    @property
    def is_digest(self) -> bool:
        return bool(_IMAGE_DIGEST.fullmatch(self.image_tag))

    @property
    def least_tasks(self) -> int:
        """The fewest tasks this configuration gives the service: autoscaling's minimum, else `desired_count`."""
        return self.autoscaling.min_count if self.autoscaling else self.desired_count


@_settings("load_balancer")
class LoadBalancerConfig:
    """The internet-facing Application Load Balancer."""

    certificate_arn: str | None = None
    """ACM certificate ARN in the environment's region: HTTPS on 443 (TLS 1.2+) and HTTP on 80 redirects to
    it. Required by an environment unless `http_only` is set."""
    domain_name: str | None = None
    """The name users reach the app by, which the certificate names (e.g. `notes.example.com`; lower case, no
    trailing dot, no wildcard). Required with `certificate_arn`: the load balancer's own DNS name is never on
    the certificate, so the release verifies through the load balancer with TLS to this name. Point its DNS
    record at the load balancer (the stack's `load_balancer_url` output)."""
    http_only: bool = False
    """Serve plain HTTP on 80 with no certificate: traffic to the load balancer is unencrypted. For an
    environment without a domain (dev); never set together with `certificate_arn`."""
    waf: bool = True
    """AWS WAF in front of the load balancer, blocking what the AWS managed rule groups (core rule set,
    known bad inputs, IP reputation) match and clients over `rate_limit_per_ip`. On in every environment,
    so that a rule that blocks the app shows up in dev before prod."""
    rate_limit_per_ip: int = 2000
    """Requests one client IP may send in any 5 minutes before the WAF blocks it (rate-based rule), 10 to
    2000000000 (AWS WAF's range). 2000 is about 7 requests per second, sustained."""
    request_log_retention_days: int = 365
    """How long the access logs (in S3) and the WAF logs (in CloudWatch Logs) are kept, a CloudWatch Logs
    retention."""
    deletion_protection: bool = True
    """Refuse `destroy` of the load balancer. Secure default; dev turns it off by name."""
    idle_timeout_seconds: int = 60
    """Seconds an idle client connection stays open, 1 to 64: below the app's 65 s keep-alive, so that the
    load balancer, not the app, closes idle connections."""
    deregistration_delay_seconds: int = 20
    """Time the load balancer lets a stopping task finish in-flight requests, 0 to 3600 seconds; shorter
    than `service.stop_timeout_seconds` (20: the app's own graceful shutdown, GRACEFUL_SHUTDOWN_SECONDS)."""

    def __post_init__(self) -> None:
        if self.certificate_arn is not None and not _CERT_ARN.fullmatch(self.certificate_arn):
            _fail("load_balancer.certificate_arn", f"{self.certificate_arn!r} is not an ACM certificate ARN "
                  "(arn:aws:acm:<region>:<account>:certificate/<id>)")
        if self.domain_name is not None and not _DOMAIN.fullmatch(self.domain_name):
            _fail("load_balancer.domain_name", f"{self.domain_name!r} is not a host name: dot-separated labels of "
                  "a-z, 0-9 and inner '-', at least two, lower case, no trailing dot or wildcard (notes.example.com)")
        if self.http_only and self.certificate_arn is not None:
            _fail("load_balancer.http_only", "True contradicts certificate_arn: with a certificate the load balancer "
                  "serves HTTPS and redirects HTTP; remove one of the two")
        if self.certificate_arn is not None and self.domain_name is None:
            _fail("load_balancer.domain_name", "is required with certificate_arn: the name the certificate is for, "
                  "which users reach the app by and the release verifies through (e.g. notes.example.com)")
        low, high = WAF_RATE_LIMIT
        _check_range("load_balancer.rate_limit_per_ip", self.rate_limit_per_ip, low, high, f"AWS WAF accepts {low} to {high}")
        _check_retention("load_balancer.request_log_retention_days", self.request_log_retention_days)
        _check_range("load_balancer.idle_timeout_seconds", self.idle_timeout_seconds, 1, APP_KEEP_ALIVE_SECONDS - 1,
                     f"use 1 to {APP_KEEP_ALIVE_SECONDS - 1}, below the app's {APP_KEEP_ALIVE_SECONDS} s keep-alive")
        _check_range("load_balancer.deregistration_delay_seconds", self.deregistration_delay_seconds, 0, 3600)

    @property
    def certificate_region(self) -> str | None:
        match = _CERT_ARN.fullmatch(self.certificate_arn or "")
        return match.group(2) if match else None


@_settings("alarms")
class AlarmsConfig:
    """CloudWatch alarms on the load balancer, the service, the database and the app's own error lines, each
    notifying the environment's alarm topic (infra/monitoring.py has each alarm's period, datapoints and what a
    missing datapoint means). The alarms that mean "this version is bad" (5xx shares, p99 latency, unhealthy
    hosts) also roll back an ECS deployment that sets them off."""

    emails: tuple[str, ...] = ()
    """Addresses the alarm topic emails, e.g. `("oncall@example.com",)`; at most 10. Each address receives a
    confirmation link from AWS and gets nothing until it is followed. Empty: subscribe to the topic otherwise
    (its ARN is the stack's `alarm_topic_arn` output)."""
    error_rate_percent: int = 5
    """Share of requests answered 5xx, by the tasks or by the load balancer itself, that sets off an alarm:
    1 to 100 (percent of the requests of each minute, 3 minutes out of 5)."""
    latency_p99_ms: int = 2000
    """The latency objective: the 99th percentile of the tasks' response time above it, 5 minutes in a row, sets
    off an alarm; 10 to 60000 ms."""
    service_cpu_percent: int = 90
    """Average CPU of the service's tasks above it, 5 minutes in a row: 1 to 100."""
    service_memory_percent: int = 90
    """Average memory of the service's tasks above it, 5 minutes in a row: 1 to 100."""
    database_cpu_percent: int = 90
    """Database CPU above it, 5 minutes in a row: 1 to 100."""
    database_free_storage_percent: int = 10
    """Free storage below this share of `database.allocated_storage_gb`, 5 minutes in a row: 1 to 50."""
    database_freeable_memory_percent: int = 25
    """Freeable memory below this share of the instance class's memory, 15 minutes in a row: 1 to 50."""
    database_connections_percent: int = 90
    """Connections above this share of the instance class's default `max_connections`
    (LEAST(memory / 9531392, 5000)), 5 minutes in a row: 1 to 100."""
    app_errors_per_5_minutes: int = 1
    """ERROR lines in the app's log (its JSON `level`) within 5 minutes that set off an alarm: 1 to 100000."""

    def __post_init__(self) -> None:
        if len(self.emails) > 10:
            _fail("alarms.emails", f"{len(self.emails)} addresses: at most 10 (subscribe a list address instead)")
        for email in self.emails:
            if not _EMAIL.fullmatch(email):
                _fail("alarms.emails", f"{_short(email)} is not an email address (name@example.com)")
        if len(set(self.emails)) != len(self.emails):
            _fail("alarms.emails", "lists an address twice")
        for name, low, high in (("error_rate_percent", 1, 100), ("latency_p99_ms", 10, 60000),
                                ("service_cpu_percent", 1, 100), ("service_memory_percent", 1, 100),
                                ("database_cpu_percent", 1, 100), ("database_free_storage_percent", 1, 50),
                                ("database_freeable_memory_percent", 1, 50), ("database_connections_percent", 1, 100),
                                ("app_errors_per_5_minutes", 1, 100000)):
            _check_range(f"alarms.{name}", getattr(self, name), low, high)


@_settings("")
class EnvironmentConfig:
    """Everything one application stack needs. One instance per environment, in `ENVIRONMENTS`."""

    name: str
    """The environment: also its stack's name and its state key's folder. 2-10 of a-z and 0-9, starting with
    a letter; not `bootstrap` (the state bucket's stack)."""
    project: str = "notes"
    """Prefix of every resource name, with `name`: `<project>-<name>-...`. 2-20 of a-z, 0-9 and '-', starting
    with a letter, no `--`; `<project>-<name>` at most 24 characters (the shortest AWS name it is part of)."""
    region: str = "us-east-1"
    """AWS region of every resource of this environment: a region botocore knows, e.g. `eu-west-1`. The
    Terraform state stays in the bootstrap stack's bucket and region."""
    network: NetworkConfig = field(default_factory=NetworkConfig)
    """A `NetworkConfig`: the VPC, subnets and NAT."""
    database: DatabaseConfig = field(default_factory=DatabaseConfig)
    """A `DatabaseConfig`: RDS PostgreSQL."""
    registry: RegistryConfig = field(default_factory=RegistryConfig)
    """A `RegistryConfig`: the ECR repository."""
    service: ServiceConfig = field(default_factory=ServiceConfig)
    """A `ServiceConfig`: the ECS Fargate service and its tasks."""
    load_balancer: LoadBalancerConfig = field(default_factory=LoadBalancerConfig)
    """A `LoadBalancerConfig`: the ALB, its certificate and its WAF."""
    alarms: AlarmsConfig = field(default_factory=AlarmsConfig)
    """An `AlarmsConfig`: what sets off the alarms, and who is told."""

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.name) or self.name == BOOTSTRAP_STACK:
            _fail("name", f"{self.name!r} is not allowed: use 2-10 characters a-z and 0-9, starting with a letter, "
                  f"other than {BOOTSTRAP_STACK!r}")
        if not _PROJECT.fullmatch(self.project) or "--" in self.project or \
                self.project.startswith(RESERVED_BUCKET_PREFIXES) or self.project == "internal":
            _fail("project", f"{self.project!r} is not allowed: use 2-20 characters a-z, 0-9 and '-', starting with a "
                  "letter, without '--', not 'internal' nor starting with xn--, sthree- or amzn-s3-demo- "
                  "(names AWS reserves)")
        if len(self.prefix) > PREFIX_MAX:
            _fail("project", f"{self.prefix!r} (project-name) has {len(self.prefix)} characters: at most {PREFIX_MAX} fit "
                  f"the access-log bucket's prefix ({self.prefix}-access-logs-, at most 37); shorten project or name")
        _check_region("region", self.region)
        lb = self.load_balancer
        if lb.certificate_arn is None and not lb.http_only:
            _fail("load_balancer.certificate_arn", "is required: the load balancer serves HTTPS; set it to an ACM "
                  "certificate ARN, or set load_balancer.http_only=True to serve plain HTTP (dev only)")
        if lb.certificate_arn is not None and lb.certificate_region != self.region:
            _fail("load_balancer.certificate_arn", f"is in {lb.certificate_region!r}, but a load balancer can use only "
                  f"a certificate of its own region {self.region!r}: request or import one there")
        wrong = [z for z in self.network.availability_zones if not re.fullmatch(re.escape(self.region) + "[a-z]", z)]
        if wrong:
            _fail("network.availability_zones", f"{wrong[0]!r} is not a zone of region {self.region!r}, "
                  f"e.g. '{self.region}a'")
        if lb.deregistration_delay_seconds >= self.service.stop_timeout_seconds:
            _fail("load_balancer.deregistration_delay_seconds", f"{lb.deregistration_delay_seconds!r} is not allowed: "
                  f"it must be shorter than service.stop_timeout_seconds ({self.service.stop_timeout_seconds}), "
                  "or ECS kills a task that is still being sent requests")

    @property
    def prefix(self) -> str:
        """Start of every resource name in this environment, e.g. `notes-dev`."""
        return resource_prefix(self.project, self.name)

    @property
    def state_key(self) -> str:
        """Where this environment's state lives in the state bucket."""
        return state_key(self.name)


def resource_prefix(project: str, environment: str) -> str:
    """Start of every resource name of an environment (its own resources and its CI deploy role's scope)."""
    return f"{project}-{environment}"


def state_key(environment: str) -> str:
    """An environment's state object in the state bucket (its lock file is this + `.tflock`)."""
    return f"{environment}/terraform.tfstate"


OIDC_PROVIDER_CHOICES = ("create", "existing")
_GITHUB_REPOSITORY = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}")
_BRANCH = re.compile(r"[A-Za-z0-9._/-]{1,200}")


@_settings("bootstrap.ci")
class CiConfig:
    """GitHub Actions' identity in AWS (infra/ci_identity.py): GitHub's OIDC provider, one deploy role per
    environment that only that GitHub environment's jobs of this repository can assume, and a read-only plan
    role for its pull requests and the scheduled drift check."""

    github_repository: str
    """`owner/name` of the GitHub repository whose workflows may deploy, e.g. `example-org/notes-service`."""
    branch: str = "main"
    """The branch releases run from: the scheduled drift check's runs on it may assume the plan role (subject
    `repo:<owner/name>:ref:refs/heads/<branch>`), and the README restricts each GitHub environment to it
    (deployment branches); an exact name: no wildcards."""
    environments: tuple[str, ...] = ()
    """The environments CI deploys, each through a role of its own that only jobs in the GitHub environment of
    that name may assume (subject `repo:<owner/name>:environment:<name>`) and that reaches only that
    environment's resources (`<project>-<name>`...); give prod required reviewers and the `branch` as its only
    deployment branch in GitHub (README, Release)."""
    project: str = "notes"
    """The `project` of the environments it deploys: the roles reach only resources named `<project>-...`."""
    oidc_provider: str = "create"
    """`create`: this stack creates GitHub's OIDC identity provider; `existing`: the account already has one for
    token.actions.githubusercontent.com (IAM allows one per issuer URL: creating a second fails with
    EntityAlreadyExists), and the roles trust that one."""
    session_hours: int = 2
    """How long CI's AWS credentials last (the roles' maximum session duration, and what the workflows ask for):
    2-12 hours. A release may wait 30 minutes for its migration and 30 for its rollout, and a rollback as long
    again; a session that ends first fails the step with ExpiredToken."""

    def __post_init__(self) -> None:
        if not _GITHUB_REPOSITORY.fullmatch(self.github_repository) or self.github_repository.endswith((".", "/")):
            _fail("bootstrap.ci.github_repository", f"{self.github_repository!r} is not allowed: use owner/name as in "
                  "the repository's GitHub URL, e.g. 'example-org/notes-service'")
        if not _BRANCH.fullmatch(self.branch) or ".." in self.branch or self.branch.startswith(("/", "refs/")):
            _fail("bootstrap.ci.branch", f"{self.branch!r} is not allowed: give one branch's name, e.g. 'main' "
                  "(no wildcards, no refs/heads/ prefix)")
        for name in self.environments:
            if not _BRANCH.fullmatch(name) or "/" in name:
                _fail("bootstrap.ci.environments", f"{name!r} is not allowed: a GitHub environment's name, e.g. 'prod'")
        if not _PROJECT.fullmatch(self.project):
            _fail("bootstrap.ci.project", f"{self.project!r} is not allowed: use the environments' `project`, e.g. 'notes'")
        if self.oidc_provider not in OIDC_PROVIDER_CHOICES:
            _fail("bootstrap.ci.oidc_provider", f"{self.oidc_provider!r} is not allowed: use "
                  f"{' or '.join(map(repr, OIDC_PROVIDER_CHOICES))} (an account has at most one provider per issuer)")
        _check_range("bootstrap.ci.session_hours", self.session_hours, 2, 12,
                     "2-12 hours (IAM's maximum session duration is 1-12; a release needs more than 1)")


@_settings("bootstrap")
class BootstrapConfig:
    """The stack that creates the state bucket (local state; applied once per account and region).
    Every environment's Terraform state lives in this bucket, in this region."""

    state_bucket: str
    """Name of the S3 bucket for every stack's Terraform state: 3-63 of a-z, 0-9, '.', '-', starting and
    ending with a letter or digit (S3 names are global: pick one your account can own)."""
    region: str = "us-east-1"
    """Region of the state bucket, a region botocore knows; every environment's S3 backend uses it."""
    noncurrent_version_expiry_days: int = 90
    """Old versions of state files are kept this long, 1 to 3650 days, then expire."""
    ci: CiConfig | None = None
    """A `CiConfig`: the GitHub Actions OIDC provider, the environments' deploy roles and the plan role in this
    stack; None: none (deploy by hand)."""

    @property
    def state_key_alias(self) -> str:
        """The alias of the KMS key that encrypts the state objects (every backend names it: `kms_key_id`)."""
        return f"alias/tfstate-{self.state_bucket.replace('.', '-')}"

    def __post_init__(self) -> None:
        _check_bucket("bootstrap.state_bucket", self.state_bucket)
        _check_region("bootstrap.region", self.region)
        _check_range("bootstrap.noncurrent_version_expiry_days", self.noncurrent_version_expiry_days, 1, 3650)


def check_environments(environments: dict[str, EnvironmentConfig]) -> None:
    """Rules between environments: ConfigError for a wrong entry, ConfigWarning for a risky one.

    Names are unique because each must equal its dictionary key; state keys derive from names.
    """
    if not environments:
        _fail("ENVIRONMENTS", "is empty: define at least one environment")
    for key, env in environments.items():
        if not isinstance(env, EnvironmentConfig):
            _fail(str(key), f"is a {type(env).__name__}: define it as EnvironmentConfig(name={key!r}, ...)")
        if env.name != key:
            _fail(f"{key}.name", f"{env.name!r} differs from its key {key!r} in ENVIRONMENTS: use the same name for both")
    envs = list(environments.values())
    for i, env in enumerate(envs):
        for other in envs[i + 1:]:
            if ipaddress.ip_network(env.network.vpc_cidr).overlaps(ipaddress.ip_network(other.network.vpc_cidr)):
                # Valid (the VPCs are separate) but they could never be peered or share a VPN: warn, not refuse.
                warnings.warn(ConfigWarning(
                    f"{other.name}.network.vpc_cidr: {other.network.vpc_cidr} overlaps {env.name}'s "
                    f"{env.network.vpc_cidr}: the two VPCs can never be peered or reached over one VPN; "
                    "give each environment its own range"))


def select(environments: dict[str, EnvironmentConfig], names: str | None) -> list[EnvironmentConfig]:
    """Environments named in the comma-separated `ENVIRONMENTS` value (all when empty), or ConfigError."""
    if not names:
        return list(environments.values())
    chosen: list[EnvironmentConfig] = []
    for name in (n.strip() for n in names.split(",")):
        if name not in environments:
            _fail("ENVIRONMENTS", f"{name!r} is not defined; known environments: {', '.join(environments)}")
        if environments[name] in chosen:
            _fail("ENVIRONMENTS", f"{name!r} is named twice: name each environment once")
        chosen.append(environments[name])
    return chosen


def _check_retention(field_name: str, days: int) -> None:
    if days not in LOG_RETENTION_DAYS:
        _fail(field_name, f"{days!r} is not a CloudWatch Logs retention: use one of {', '.join(map(str, LOG_RETENTION_DAYS))}")


def _check_region(field_name: str, region: str) -> None:
    if region not in known_regions():
        _fail(field_name, f"{region!r} is not an AWS region botocore knows, e.g. 'us-east-1' or 'eu-west-1'")


def _check_bucket(field_name: str, bucket: str) -> None:
    problem = bucket_name_problem(bucket)
    if problem:
        _fail(field_name, f"{bucket!r} is not a valid S3 bucket name: {problem}")

"""Typed settings for every environment, their documented defaults, and their validation.

This module imports nothing from cdktf, so bad configuration fails in a fraction of a second,
before any provider code loads and before anything is written.
"""
from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import Literal


class ConfigError(ValueError):
    """A setting is invalid. The message starts with the field's dotted name."""


def _fail(field_name: str, message: str) -> None:
    raise ConfigError(f"{field_name}: {message}")


_NAME = re.compile(r"^[a-z][a-z0-9]{1,9}$")
_PROJECT = re.compile(r"^[a-z][a-z0-9-]{0,10}[a-z0-9]$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_REGION = re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-\d$")
_ZONE = re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-\d[a-z]$")
_IMAGE_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_IMAGE_DIGEST = re.compile(r"^sha256:[a-f0-9]{64}$")
_CERT_ARN = re.compile(r"^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate/[A-Za-z0-9-]+$")
_PRIVATE_RANGES = [ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")]

# CloudWatch Logs accepts only these retention periods (days).
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096,
                      1827, 2192, 2557, 2922, 3288, 3653)

# Task sizes Fargate accepts: CPU units -> allowed memory (MiB).
FARGATE_SIZES: dict[int, tuple[int, ...]] = {
    256: (512, 1024, 2048),
    512: tuple(range(1024, 4097, 1024)),
    1024: tuple(range(2048, 8193, 1024)),
    2048: tuple(range(4096, 16385, 1024)),
    4096: tuple(range(8192, 30721, 1024)),
    8192: tuple(range(16384, 61441, 4096)),
    16384: tuple(range(32768, 122881, 8192)),
}

NatStrategy = Literal["none", "single", "per_az"]
MigrationStrategy = Literal["on_start", "task"]


@dataclass(frozen=True)
class NetworkConfig:
    """The VPC. Subnets are carved from `vpc_cidr` at synth: three tiers x `az_count` blocks of /(prefix+4)."""

    vpc_cidr: str = "10.0.0.0/16"
    """Private IPv4 range for the VPC, /16 to /20 (each subnet gets a /20 to /24)."""
    az_count: int = 2
    """Availability zones to spread over, 2 to 5."""
    nat: NatStrategy = "single"
    """`single` (one NAT gateway, cheaper), `per_az` (one per zone, survives a zone outage) or `none`
    (no internet egress from tasks; VPC endpoints for ECR, S3, Logs and Secrets Manager instead)."""
    availability_zones: tuple[str, ...] = ()
    """The zones to use, `az_count` of them, e.g. `("us-east-1a", "us-east-1b")`. Empty: the region's
    zones `a`, `b`, `c`... in order. Pinned either way, so that a zone AWS adds later never moves a subnet;
    set them where the region lacks a letter (ap-northeast-1 has no `b`)."""
    flow_log_retention_days: int = 365
    """Retention of the VPC flow log group (one year: enough to investigate an incident found late)."""

    def __post_init__(self) -> None:
        try:
            net = ipaddress.ip_network(self.vpc_cidr, strict=True)
        except ValueError as exc:
            _fail("network.vpc_cidr", f"{self.vpc_cidr!r} is not a valid IPv4 CIDR block ({exc})")
        if net.version != 4 or not any(net.subnet_of(r) for r in _PRIVATE_RANGES):
            _fail("network.vpc_cidr", f"{self.vpc_cidr!r} must lie in 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16")
        if not 16 <= net.prefixlen <= 20:
            _fail("network.vpc_cidr", f"{self.vpc_cidr!r} is too small or too large: the prefix must be /16 to /20 "
                  "so that every subnet (prefix + 4) holds at least a /24")
        if not isinstance(self.az_count, int) or not 2 <= self.az_count <= 5:
            _fail("network.az_count", f"{self.az_count!r} is not allowed: use 2 to 5 availability zones")
        if self.nat not in ("none", "single", "per_az"):
            _fail("network.nat", f"{self.nat!r} is not allowed: use 'none', 'single' or 'per_az'")
        _check_retention("network.flow_log_retention_days", self.flow_log_retention_days)
        if self.availability_zones:
            zones = self.availability_zones
            if len(zones) != self.az_count or len(set(zones)) != len(zones):
                _fail("network.availability_zones", f"{zones!r} must name az_count ({self.az_count}) different zones")
            bad = [z for z in zones if not isinstance(z, str) or not _ZONE.fullmatch(z)]
            if bad:
                _fail("network.availability_zones", f"{bad[0]!r} is not a zone name like 'us-east-1a'")

    def zone_names(self, region: str) -> list[str]:
        """The pinned zone names: `availability_zones`, or the region's first `az_count` letters."""
        return list(self.availability_zones) or [f"{region}{letter}" for letter in "abcde"[:self.az_count]]

    def subnet_cidrs(self, tier: int) -> list[str]:
        """CIDRs of one tier's subnets (0 public, 1 private, 2 isolated), one per AZ."""
        blocks = list(ipaddress.ip_network(self.vpc_cidr).subnets(prefixlen_diff=4))
        return [str(blocks[tier * self.az_count + i]) for i in range(self.az_count)]


@dataclass(frozen=True)
class DatabaseConfig:
    """RDS PostgreSQL. The master password is generated and held by RDS in Secrets Manager."""

    instance_class: str = "db.t4g.micro"
    engine_version: str = "16"
    """Major version; RDS picks the minor and upgrades it (`auto_minor_version_upgrade`)."""
    allocated_storage_gb: int = 20
    max_allocated_storage_gb: int = 100
    """Storage autoscaling ceiling; equal to `allocated_storage_gb` turns it off."""
    backup_retention_days: int = 7
    """Automated backups, 1 to 35 days (0, which disables backups, is refused)."""
    multi_az: bool = True
    """A standby in a second zone that takes over on failure. Secure default; dev turns it off by name."""
    deletion_protection: bool = True
    """Refuse `destroy` and keep a final snapshot. Secure default; dev turns it off by name."""
    database_name: str = "app"
    master_username: str = "app_admin"
    log_retention_days: int = 365
    """Retention of the exported PostgreSQL log groups (connections, DDL, slow statements)."""

    def __post_init__(self) -> None:
        if not re.fullmatch(r"db\.[a-z0-9]+\.[a-z0-9]+", self.instance_class):
            _fail("database.instance_class", f"{self.instance_class!r} is not an RDS class like 'db.t4g.micro'")
        if not re.fullmatch(r"1[3-7](\.\d+)?", self.engine_version):
            _fail("database.engine_version", f"{self.engine_version!r} is not allowed: use a PostgreSQL major 13 to 17, e.g. '16'")
        if not 20 <= self.allocated_storage_gb <= 65536:
            _fail("database.allocated_storage_gb", f"{self.allocated_storage_gb!r} is not allowed: use 20 to 65536")
        if self.max_allocated_storage_gb < self.allocated_storage_gb:
            _fail("database.max_allocated_storage_gb",
                  f"{self.max_allocated_storage_gb!r} is below allocated_storage_gb ({self.allocated_storage_gb})")
        if not 1 <= self.backup_retention_days <= 35:
            _fail("database.backup_retention_days", f"{self.backup_retention_days!r} is not allowed: use 1 to 35 days")
        if not re.fullmatch(r"[a-z][a-z0-9_]{0,62}", self.database_name):
            _fail("database.database_name", f"{self.database_name!r} must start with a letter, then letters, digits or _")
        if not re.fullmatch(r"[a-z][a-z0-9_]{0,15}", self.master_username) or self.master_username in ("admin", "postgres", "rdsadmin"):
            _fail("database.master_username", f"{self.master_username!r} must be 1-16 lowercase letters, digits or _, "
                  "starting with a letter, and not a reserved name")
        _check_retention("database.log_retention_days", self.log_retention_days)

    @property
    def parameter_group_family(self) -> str:
        return "postgres" + self.engine_version.split(".")[0]


@dataclass(frozen=True)
class RegistryConfig:
    """The ECR repository for the app image. Tags are immutable; images are scanned on push."""

    keep_last_images: int = 30
    """Tagged images kept; older ones expire."""
    untagged_expiry_days: int = 7
    force_delete: bool = False
    """Let `destroy` delete a repository that still holds images. Off by default; dev turns it on."""

    def __post_init__(self) -> None:
        if not 1 <= self.keep_last_images <= 1000:
            _fail("registry.keep_last_images", f"{self.keep_last_images!r} is not allowed: use 1 to 1000")
        if not 1 <= self.untagged_expiry_days <= 365:
            _fail("registry.untagged_expiry_days", f"{self.untagged_expiry_days!r} is not allowed: use 1 to 365")


@dataclass(frozen=True)
class AutoscalingConfig:
    """Application Auto Scaling of the service's task count (target tracking)."""

    min_count: int = 2
    max_count: int = 6
    cpu_target_percent: int = 60
    requests_per_target: int = 500
    """ALB requests per target per minute that trigger a scale-out."""

    def __post_init__(self) -> None:
        if not 1 <= self.min_count <= self.max_count:
            _fail("service.autoscaling.min_count", f"{self.min_count!r} must be at least 1 and at most max_count ({self.max_count})")
        if self.max_count > 100:
            _fail("service.autoscaling.max_count", f"{self.max_count!r} is not allowed: use at most 100")
        if not 10 <= self.cpu_target_percent <= 90:
            _fail("service.autoscaling.cpu_target_percent", f"{self.cpu_target_percent!r} is not allowed: use 10 to 90")
        if self.requests_per_target < 1:
            _fail("service.autoscaling.requests_per_target", f"{self.requests_per_target!r} must be at least 1")


@dataclass(frozen=True)
class ServiceConfig:
    """The ECS Fargate service and its task definitions (app and one-off migration)."""

    image_tag: str = "0.1.0"
    """Tag (or `sha256:` digest) of the image in this environment's repository. Override with `IMAGE_TAG`."""
    cpu: int = 256
    memory: int = 512
    """MiB; must be a size Fargate accepts for `cpu` (see FARGATE_SIZES)."""
    container_port: int = 8000
    desired_count: int = 1
    migrations: MigrationStrategy = "on_start"
    """`on_start`: the service's task migrates before serving (then desired_count must be 1, no autoscaling).
    `task`: the pipeline runs the migration task definition once before each deploy; the service may scale."""
    autoscaling: AutoscalingConfig | None = None
    """Off by default (one task while migrations run in the service)."""
    health_check_path: str = "/health"
    health_check_grace_seconds: int = 60
    stop_timeout_seconds: int = 30
    """Seconds ECS waits after SIGTERM; the app drains in less."""
    log_retention_days: int = 365
    """Retention of the app's log group."""
    run_as_user: str = "10001"
    """Numeric UID of the image's non-root user."""

    def __post_init__(self) -> None:
        if not (_IMAGE_TAG.fullmatch(self.image_tag) or _IMAGE_DIGEST.fullmatch(self.image_tag)):
            _fail("service.image_tag", f"{self.image_tag!r} is neither an image tag ([A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}}) "
                  "nor a digest (sha256: and 64 hex digits)")
        if self.cpu not in FARGATE_SIZES:
            _fail("service.cpu", f"{self.cpu!r} is not a Fargate CPU size: use one of {sorted(FARGATE_SIZES)}")
        if self.memory not in FARGATE_SIZES[self.cpu]:
            allowed = FARGATE_SIZES[self.cpu]
            _fail("service.memory", f"{self.memory!r} MiB is not allowed with cpu={self.cpu}: "
                  f"Fargate accepts {allowed[0]} to {allowed[-1]} in steps of {allowed[1] - allowed[0] if len(allowed) > 1 else 0}")
        if not 1 <= self.container_port <= 65535 or self.container_port in (22, 5432):
            _fail("service.container_port", f"{self.container_port!r} is not allowed: use 1-65535, not 22 or 5432")
        if self.migrations not in ("on_start", "task"):
            _fail("service.migrations", f"{self.migrations!r} is not allowed: use 'on_start' or 'task'")
        if self.desired_count < 0:
            _fail("service.desired_count", f"{self.desired_count!r} must be 0 or more")
        if self.migrations == "on_start" and (self.desired_count > 1 or self.autoscaling is not None):
            _fail("service.desired_count", f"{self.desired_count!r} with autoscaling={'on' if self.autoscaling else 'off'} "
                  "is not allowed while migrations='on_start': run one task without autoscaling, "
                  "or set migrations='task' to scale out")
        if self.autoscaling and not self.autoscaling.min_count <= self.desired_count <= self.autoscaling.max_count:
            _fail("service.desired_count", f"{self.desired_count!r} is outside the autoscaling bounds "
                  f"{self.autoscaling.min_count} to {self.autoscaling.max_count}")
        if not self.health_check_path.startswith("/"):
            _fail("service.health_check_path", f"{self.health_check_path!r} must start with '/'")
        if not 2 <= self.stop_timeout_seconds <= 120:
            _fail("service.stop_timeout_seconds", f"{self.stop_timeout_seconds!r} is not allowed: Fargate accepts 2 to 120")
        if not self.run_as_user.isdigit() or self.run_as_user == "0":
            _fail("service.run_as_user", f"{self.run_as_user!r} must be a numeric UID other than 0 (root)")
        _check_retention("service.log_retention_days", self.log_retention_days)

    @property
    def is_digest(self) -> bool:
        return bool(_IMAGE_DIGEST.fullmatch(self.image_tag))


@dataclass(frozen=True)
class LoadBalancerConfig:
    """The internet-facing Application Load Balancer."""

    certificate_arn: str | None = None
    """ACM certificate: HTTPS on 443 (TLS 1.2+) and HTTP on 80 redirects to it. Required by an
    environment unless `http_only` is set."""
    http_only: bool = False
    """Serve plain HTTP on 80 with no certificate: traffic to the load balancer is unencrypted. For an
    environment without a domain (dev); never set together with `certificate_arn`."""
    waf: bool = True
    """AWS WAF in front of the load balancer, blocking what the AWS managed rule groups (core rule set,
    known bad inputs, IP reputation) match. On in every environment, so that a rule that blocks the app
    shows up in dev before prod."""
    request_log_retention_days: int = 365
    """How long the access logs (in S3) and the WAF logs (in CloudWatch Logs) are kept."""
    deletion_protection: bool = True
    """Refuse `destroy` of the load balancer. Secure default; dev turns it off by name."""
    idle_timeout_seconds: int = 60
    deregistration_delay_seconds: int = 30
    """Time a stopping task keeps receiving in-flight traffic; shorter than the task's stop timeout."""

    def __post_init__(self) -> None:
        if self.certificate_arn is not None and not _CERT_ARN.fullmatch(self.certificate_arn):
            _fail("load_balancer.certificate_arn", f"{self.certificate_arn!r} is not an ACM certificate ARN "
                  "(arn:aws:acm:<region>:<account>:certificate/<id>)")
        if self.http_only and self.certificate_arn is not None:
            _fail("load_balancer.http_only", "True contradicts certificate_arn: with a certificate the load balancer "
                  "serves HTTPS and redirects HTTP; remove one of the two")
        _check_retention("load_balancer.request_log_retention_days", self.request_log_retention_days)
        if not 1 <= self.idle_timeout_seconds <= 4000:
            _fail("load_balancer.idle_timeout_seconds", f"{self.idle_timeout_seconds!r} is not allowed: use 1 to 4000")
        if not 0 <= self.deregistration_delay_seconds <= 3600:
            _fail("load_balancer.deregistration_delay_seconds", f"{self.deregistration_delay_seconds!r} is not allowed: use 0 to 3600")


@dataclass(frozen=True)
class EnvironmentConfig:
    """Everything one application stack needs. One instance per environment, in `ENVIRONMENTS`."""

    name: str
    """The environment: also the stack's name. 2-10 of a-z and 0-9, starting with a letter."""
    project: str = "notes"
    """Prefix of every resource name, with `name`: `<project>-<name>-...`. 2-12 of a-z, 0-9, '-'."""
    region: str = "us-east-1"
    state_bucket: str | None = None
    """S3 bucket holding this stack's Terraform state (made by the bootstrap stack). Required."""
    network: NetworkConfig = field(default_factory=NetworkConfig)
    database: DatabaseConfig = field(default_factory=DatabaseConfig)
    registry: RegistryConfig = field(default_factory=RegistryConfig)
    service: ServiceConfig = field(default_factory=ServiceConfig)
    load_balancer: LoadBalancerConfig = field(default_factory=LoadBalancerConfig)

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.name):
            _fail("name", f"{self.name!r} is not allowed: use 2-10 characters a-z and 0-9, starting with a letter")
        if not _PROJECT.fullmatch(self.project):
            _fail("project", f"{self.project!r} is not allowed: use 2-12 characters a-z, 0-9 and '-', starting with a letter")
        _check_region("region", self.region)
        if not self.state_bucket:
            _fail("state_bucket", "is required for a stack with remote state: set it to the bucket the bootstrap stack creates")
        _check_bucket("state_bucket", self.state_bucket)
        if self.load_balancer.certificate_arn is None and not self.load_balancer.http_only:
            _fail("load_balancer.certificate_arn", "is required: the load balancer serves HTTPS; set it to an ACM "
                  "certificate ARN, or set load_balancer.http_only=True to serve plain HTTP (dev only)")
        wrong = [z for z in self.network.availability_zones if z[:-1] != self.region]
        if wrong:
            _fail("network.availability_zones", f"{wrong[0]!r} is not a zone of region {self.region!r}")

    @property
    def prefix(self) -> str:
        """Start of every resource name in this environment, e.g. `notes-dev`."""
        return f"{self.project}-{self.name}"

    @property
    def state_key(self) -> str:
        return f"{self.name}/terraform.tfstate"


@dataclass(frozen=True)
class BootstrapConfig:
    """The stack that creates the state bucket (local state; applied once per account and region)."""

    state_bucket: str
    region: str = "us-east-1"
    noncurrent_version_expiry_days: int = 90
    """Old versions of state files are kept this long, then expire."""

    def __post_init__(self) -> None:
        _check_bucket("bootstrap.state_bucket", self.state_bucket)
        _check_region("bootstrap.region", self.region)
        if not 1 <= self.noncurrent_version_expiry_days <= 3650:
            _fail("bootstrap.noncurrent_version_expiry_days", f"{self.noncurrent_version_expiry_days!r} is not allowed: use 1 to 3650")


def _check_retention(field_name: str, days: int) -> None:
    if days not in LOG_RETENTION_DAYS:
        _fail(field_name, f"{days!r} is not a CloudWatch Logs retention: use one of {', '.join(map(str, LOG_RETENTION_DAYS))}")


def _check_region(field_name: str, region: str) -> None:
    if not _REGION.fullmatch(region):
        _fail(field_name, f"{region!r} is not an AWS region name like 'us-east-1'")


def _check_bucket(field_name: str, bucket: str) -> None:
    if not _BUCKET.fullmatch(bucket) or ".." in bucket or bucket.startswith("xn--"):
        _fail(field_name, f"{bucket!r} is not a valid S3 bucket name: 3-63 of a-z, 0-9, '.', '-', "
              "starting and ending with a letter or digit")

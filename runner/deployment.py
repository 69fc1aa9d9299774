"""Read what the emulator says is deployed (service, task definitions, target group, listener, secrets)
through the AWS APIs, as plain frozen values the rest of the runner works from.

Only (endpoint, cluster, service, registry) come from the caller: everything else is read, so that the
local system and the deployed one cannot drift.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from local import EMULATOR_BOTO

# <account>.dkr.ecr.<region>.amazonaws.com/<repository>[:tag|@digest]
ECR_IMAGE = re.compile(r"^\d{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(\.cn)?/(?P<rest>.+)$")


class DeploymentError(Exception):
    """What was asked for is not deployed on the emulator, or cannot be run; the message says what to do."""


@dataclass(frozen=True)
class HealthCheck:
    """The target group's health check (the ALB's), in seconds and counts."""

    path: str = "/health"
    interval: int = 30
    timeout: int = 5
    healthy_threshold: int = 5
    unhealthy_threshold: int = 2
    matcher: str = "200"


@dataclass(frozen=True)
class TaskSpec:
    """One container of one task definition revision, with its secrets resolved."""

    arn: str
    family: str
    revision: int
    image: str
    """The local registry's reference the ECR URI maps to."""
    command: tuple[str, ...]
    environment: dict[str, str]
    secrets: dict[str, str] = field(repr=False)
    user: str | None
    read_only: bool
    tmpfs: tuple[str, ...]
    """Container paths of task-local scratch volumes (a volume without a host path)."""
    stop_timeout: int
    port: int | None
    init: bool
    cap_drop: tuple[str, ...]


@dataclass(frozen=True)
class Deployment:
    endpoint: str
    region: str
    cluster: str
    service: str
    desired_count: int
    minimum_healthy_percent: int
    maximum_percent: int
    task: TaskSpec
    container_port: int
    health: HealthCheck
    deregistration_delay: int
    listener_port: int
    secret_arns: tuple[str, ...]
    certificate_arn: str | None = None
    """The ACM certificate of the listener when it serves HTTPS (None: plain HTTP)."""
    circuit_breaker: bool = False
    """deploymentCircuitBreaker.enable: stop a rollout whose new tasks keep failing to start."""
    rollback: bool = False
    """deploymentCircuitBreaker.rollback: then go back to the tasks of the previous deployment."""


def client(service: str, endpoint: str, region: str = "us-east-1"):
    return boto3.client(service, endpoint_url=endpoint, region_name=region, **EMULATOR_BOTO)


def local_image(image: str, registry: str) -> str:
    """An ECR image URI as the same repository and tag (or digest) in the local registry."""
    match = ECR_IMAGE.match(image)
    if not match:
        raise DeploymentError(f"image {image!r} is not an ECR image URI (<account>.dkr.ecr.<region>.amazonaws.com/"
                              "<repository>:<tag>): the runner only maps ECR images to the local registry")
    return f"{registry}/{match['rest']}"


def split_value_from(value_from: str) -> tuple[str, str | None]:
    """`<secret arn>[:<json-key>:<version-stage>:<version-id>]` -> (arn, json key or None)."""
    parts = value_from.split(":")
    if len(parts) < 7 or parts[2] != "secretsmanager":
        raise DeploymentError(f"secret valueFrom {value_from!r} is not a Secrets Manager ARN: "
                              "the runner resolves only Secrets Manager secrets")
    return ":".join(parts[:7]), (parts[7] or None) if len(parts) > 7 else None


def resolve_secrets(entries: list[dict], endpoint: str, region: str) -> dict[str, str]:
    """Each `secrets` entry's value, read as ECS does at task start: the whole string, or one JSON key."""
    sm = client("secretsmanager", endpoint, region)
    values: dict[str, str] = {}
    for entry in entries:
        arn, key = split_value_from(entry["valueFrom"])
        try:
            text = sm.get_secret_value(SecretId=arn)["SecretString"]
        except ClientError as error:
            raise DeploymentError(f"secret {entry['name']}: {arn} cannot be read from the emulator "
                                  f"({error.response['Error']['Code']}): is the database deployed?") from None
        if key is None:
            values[entry["name"]] = text
            continue
        try:
            values[entry["name"]] = str(json.loads(text)[key])
        except (ValueError, KeyError):
            raise DeploymentError(f"secret {entry['name']}: {arn} has no JSON key {key!r}") from None
    return values


def read_task(arn: str, endpoint: str, region: str, registry: str) -> TaskSpec:
    ecs = client("ecs", endpoint, region)
    definition = ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"]
    containers = definition["containerDefinitions"]
    if len(containers) != 1:
        raise DeploymentError(f"task definition {arn} has {len(containers)} containers: the runner runs one")
    c = containers[0]
    scratch = {v["name"] for v in definition.get("volumes", []) if not (v.get("host") or {}).get("sourcePath")}
    linux = c.get("linuxParameters") or {}
    ports = c.get("portMappings") or []
    return TaskSpec(
        arn=definition["taskDefinitionArn"], family=definition["family"], revision=definition["revision"],
        image=local_image(c["image"], registry), command=tuple(c.get("command") or ()),
        environment={e["name"]: e["value"] for e in c.get("environment", [])},
        secrets=resolve_secrets(c.get("secrets", []), endpoint, region),
        user=c.get("user"), read_only=bool(c.get("readonlyRootFilesystem")),
        tmpfs=tuple(m["containerPath"] for m in c.get("mountPoints", []) if m["sourceVolume"] in scratch),
        # ECS's default stop timeout for Fargate is 30 s.
        stop_timeout=int(c.get("stopTimeout") or 30),
        port=ports[0]["containerPort"] if ports else None,
        init=bool(linux.get("initProcessEnabled")),
        cap_drop=tuple((linux.get("capabilities") or {}).get("drop") or ()),
    )


def _one_service(ecs, cluster: str, service: str) -> dict:
    try:
        found = ecs.describe_services(cluster=cluster, services=[service])
    except ClientError as error:
        raise DeploymentError(f"cluster {cluster!r} cannot be read on the emulator "
                              f"({error.response['Error']['Code']}): is it deployed (make demo)?") from None
    active = [s for s in found.get("services", []) if s.get("status") == "ACTIVE"]
    if not active:
        raise DeploymentError(f"service {service!r} does not exist in cluster {cluster!r} on the emulator: "
                              "deploy it first (make demo), or check --cluster and --service")
    return active[0]


def desired_count(endpoint: str, cluster: str, service: str, region: str = "us-east-1") -> int:
    """The service's desired count as the emulator has it now (an apply or Application Auto Scaling sets it)."""
    try:
        return _one_service(client("ecs", endpoint, region), cluster, service)["desiredCount"]
    except (BotoCoreError, ClientError) as error:
        raise DeploymentError(f"the emulator at {endpoint} cannot be read ({error}): is it running?") from None


def read(endpoint: str, cluster: str, service: str, registry: str, region: str = "us-east-1") -> Deployment:
    """The service as deployed: its task definition, deployment settings, target group and listener."""
    try:
        ecs = client("ecs", endpoint, region)
        elb = client("elbv2", endpoint, region)
        svc = _one_service(ecs, cluster, service)
        balancers = svc.get("loadBalancers") or []
        if not balancers:
            raise DeploymentError(f"service {service!r} has no load balancer: the runner serves through one")
        target = balancers[0]
        group = elb.describe_target_groups(TargetGroupArns=[target["targetGroupArn"]])["TargetGroups"][0]
        attributes = {a["Key"]: a["Value"] for a in
                      elb.describe_target_group_attributes(TargetGroupArn=group["TargetGroupArn"])["Attributes"]}
        listeners = [listener for arn in group.get("LoadBalancerArns", [])
                     for listener in elb.describe_listeners(LoadBalancerArn=arn)["Listeners"]
                     if any(a.get("TargetGroupArn") == group["TargetGroupArn"] for a in listener["DefaultActions"])]
        deployment = svc.get("deploymentConfiguration") or {}
        task = read_task(svc["taskDefinition"], endpoint, region, registry)
    except (BotoCoreError, ClientError) as error:
        raise DeploymentError(f"the emulator at {endpoint} cannot be read ({error}): is it running?") from None
    return Deployment(
        endpoint=endpoint, region=region, cluster=cluster, service=service,
        desired_count=svc["desiredCount"],
        # ECS's defaults for a rolling update.
        minimum_healthy_percent=deployment.get("minimumHealthyPercent", 100),
        maximum_percent=deployment.get("maximumPercent", 200),
        task=task, container_port=target["containerPort"],
        health=HealthCheck(path=group.get("HealthCheckPath", "/"),
                           interval=group.get("HealthCheckIntervalSeconds", 30),
                           timeout=group.get("HealthCheckTimeoutSeconds", 5),
                           healthy_threshold=group.get("HealthyThresholdCount", 5),
                           unhealthy_threshold=group.get("UnhealthyThresholdCount", 2),
                           matcher=(group.get("Matcher") or {}).get("HttpCode", "200")),
        deregistration_delay=int(attributes.get("deregistration_delay.timeout_seconds", 300)),
        listener_port=listeners[0]["Port"] if listeners else 80,
        certificate_arn=next((listener["Certificates"][0]["CertificateArn"] for listener in listeners
                              if listener.get("Protocol") == "HTTPS" and listener.get("Certificates")), None),
        secret_arns=tuple(sorted({split_value_from(v)[0] for v in _value_froms(ecs, svc["taskDefinition"])})),
        circuit_breaker=bool((deployment.get("deploymentCircuitBreaker") or {}).get("enable")),
        rollback=bool((deployment.get("deploymentCircuitBreaker") or {}).get("rollback")),
    )


def certificate_body(endpoint: str, arn: str, region: str = "us-east-1") -> str:
    """The certificate ACM holds under `arn` (PEM; ACM never gives out an imported certificate's key)."""
    try:
        return client("acm", endpoint, region).get_certificate(CertificateArn=arn)["Certificate"]
    except (BotoCoreError, ClientError) as error:
        raise DeploymentError(f"the listener's certificate {arn} cannot be read from ACM ({error})") from None


def _value_froms(ecs, arn: str) -> list[str]:
    definition = ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"]
    return [s["valueFrom"] for c in definition["containerDefinitions"] for s in c.get("secrets", [])]


def migration_task(deployment: Deployment, registry: str, family: str | None = None) -> TaskSpec:
    """The latest revision of the migration task definition: by default the service's family with its
    `-app` suffix replaced by `-migrate` (infra/service.py names them so)."""
    family = family or deployment.task.family.removesuffix("-app") + "-migrate"
    try:
        return read_task(family, deployment.endpoint, deployment.region, registry)
    except ClientError:
        raise DeploymentError(f"no task definition {family!r} on the emulator: is migrations = \"task\" "
                              "deployed? (or pass --migration-family)") from None

"""Fixtures for the release tests: one emulator per session and, per test, what a deployed AppStack leaves on
it (network, cluster, migration and app task definitions, service, repository, log group) with the stack
outputs that name them.

moto runs no containers and rolls out nothing (../shared/FIELD-NOTES.md): a test plays ECS's part by
setting the task's or the service's state on the emulator's model (`ecs_model`, `finish_task`).
"""
from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field

import boto3
import pytest

from emulator import Emulator
from release.aws import AwsTarget
from local import EMULATOR_BOTO
from release.model import Image
from release.outputs import StackOutputs

REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's default account
LOG_PREFIX = "migrate"


@pytest.fixture(scope="session")
def emu():
    with Emulator(port=0) as running:
        # moto advances a task's status on every DescribeTasks (RUNNING ... STOPPED, exit 0): keep each task
        # where a test puts it, as a real task stays RUNNING until its container exits.
        from moto.moto_api import state_manager
        state_manager.set_transition(model_name="ecs::task", transition={"progression": "manual", "times": 10**9})
        yield running
        state_manager.unset_transition(model_name="ecs::task")


@pytest.fixture
def client(emu):
    clients: dict[str, object] = {}

    def make(service: str):
        if service not in clients:
            clients[service] = boto3.client(service, endpoint_url=emu.endpoint, region_name=REGION,
                                            **EMULATOR_BOTO)
        return clients[service]

    return make


def ecs_model():
    from moto.ecs.models import ecs_backends

    return ecs_backends[ACCOUNT][REGION]


def finish_task(cluster: str, task_id: str, exit_code: int | None, reason: str = "Essential container in task exited",
                container_reason: str | None = None) -> None:
    """Play the task's end: what ECS reports once the container has stopped."""
    task = next(t for arn, t in ecs_model().tasks[cluster].items() if arn.endswith(task_id))
    task.last_status = task.desired_status = "STOPPED"
    task.stopped_reason = reason
    task.containers[0].exitCode = exit_code
    if container_reason is not None:
        task.containers[0].reason = container_reason


def set_deployments(cluster: str, service: str, *deployments: dict) -> None:
    """Play the rollout: the service's deployments as ECS would describe them."""
    ecs_model().services[f"{cluster}:{service}"].deployments = [
        {"id": f"ecs-svc/{uuid.uuid4().hex[:12]}", "desiredCount": 1, "runningCount": 1, "pendingCount": 0,
         "failedTasks": 0, "launchType": "FARGATE", **d} for d in deployments]


def _service_task_definition_before(stack) -> str:
    deployments = ecs_model().services[f"{stack.outputs.cluster}:{stack.outputs.service}"].deployments
    return next(d["taskDefinition"] for d in deployments if d["status"] == "PRIMARY")


def _container(name: str, image: str, command: list[str], log_group: str, prefix: str) -> dict:
    # As infra/service.py writes it: no container-level memory, awslogs with a stream prefix.
    return {"name": "app", "image": image, "essential": True, "command": command,
            "logConfiguration": {"logDriver": "awslogs", "options": {
                "awslogs-group": log_group, "awslogs-region": REGION, "awslogs-stream-prefix": prefix}}}


@dataclass
class Stack:
    outputs: StackOutputs
    log_group: str
    app_family: str
    old_task_definition: str
    applied: list = field(default_factory=list)
    pushed: list = field(default_factory=list)


@pytest.fixture
def stack(client) -> Stack:
    name = f"t{uuid.uuid4().hex[:8]}"
    ec2, ecs, ecr, logs = client("ec2"), client("ecs"), client("ecr"), client("logs")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"{REGION}{z}")["Subnet"]["SubnetId"]
               for i, z in ((1, "a"), (2, "b"))]
    group = ec2.create_security_group(GroupName=f"{name}-tasks", Description="tasks", VpcId=vpc)["GroupId"]
    ecs.create_cluster(clusterName=name)
    log_group = f"/ecs/{name}/app"
    logs.create_log_group(logGroupName=log_group)
    repository = ecr.create_repository(repositoryName=f"{name}/app", imageTagMutability="IMMUTABLE")["repository"]
    common = dict(networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="256", memory="512")
    old_image = f"{repository['repositoryUri']}:0.1.0"
    migrate = ecs.register_task_definition(
        family=f"{name}-migrate", containerDefinitions=[_container("app", old_image, ["migrate"], log_group, LOG_PREFIX)],
        **common)["taskDefinition"]["taskDefinitionArn"]
    app = ecs.register_task_definition(
        family=f"{name}-app", containerDefinitions=[_container("app", old_image, ["serve"], log_group, "app")],
        **common)["taskDefinition"]["taskDefinitionArn"]
    ecs.create_service(cluster=name, serviceName=f"{name}-app", taskDefinition=app, desiredCount=1,
                       launchType="FARGATE", networkConfiguration={"awsvpcConfiguration": {
                           "subnets": subnets, "securityGroups": [group], "assignPublicIp": "DISABLED"}})
    outputs = StackOutputs(cluster=name, service=f"{name}-app", migration_task_definition=migrate,
                           subnets=tuple(subnets), security_group=group, repository_url=repository["repositoryUri"])
    return Stack(outputs=outputs, log_group=log_group, app_family=f"{name}-app", old_task_definition=app)


@pytest.fixture
def target(client, stack) -> AwsTarget:
    """The AWS target on the emulator. Its applier does what Terraform's apply does to the service (a new
    revision of the app family on the image, UpdateService); its pusher records what it was given."""

    def apply(environment: str, image: Image) -> None:
        ecs = client("ecs")
        current = ecs.describe_task_definition(taskDefinition=stack.old_task_definition)["taskDefinition"]
        containers = [dict(c, image=image.pinned) for c in current["containerDefinitions"]]
        arn = ecs.register_task_definition(family=stack.app_family, containerDefinitions=containers,
                                           networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="256",
                                           memory="512")["taskDefinition"]["taskDefinitionArn"]
        ecs.update_service(cluster=stack.outputs.cluster, service=stack.outputs.service, taskDefinition=arn)
        # ECS's answer to UpdateService: a new PRIMARY deployment, the old one ACTIVE until drained.
        previous = _service_task_definition_before(stack)
        set_deployments(stack.outputs.cluster, stack.outputs.service,
                        {"status": "PRIMARY", "taskDefinition": arn, "rolloutState": "IN_PROGRESS", "runningCount": 0},
                        {"status": "ACTIVE", "taskDefinition": previous, "rolloutState": "COMPLETED"})
        stack.applied.append(image)

    def push(tag: str, destination: str, auth: dict) -> str:
        stack.pushed.append((tag, destination, auth))
        return "sha256:" + "ab" * 32

    return AwsTarget(environment="dev", outputs=stack.outputs, client=client, pusher=push, applier=apply)


def an_image(stack: Stack, tag: str = "0123456789ab", digest: str = "sha256:" + "cd" * 32) -> Image:
    return Image(repository_url=stack.outputs.repository_url, tag=tag, digest=digest)


def manifest() -> str:
    return json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                       "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 2,
                                  "digest": "sha256:" + "ef" * 32}, "layers": []})

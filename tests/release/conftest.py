"""Fixtures for the release tests: one emulator per session and, per test, what a deployed AppStack leaves on
it (network, cluster, migration and app task definitions, service, repository, log group) with the stack
outputs that name them, for an environment of the test's own (`notes-t<8 hex>`).

The release signs its calls with DEPLOY_KEY; after each test, every call it made is judged against the deploy
role CI gives that environment (infra/ci_identity.py, as the bootstrap stack synthesizes it), as AWS would
judge it (security/authorization.py): a call the role does not allow fails the test, naming the call.

moto runs no containers and rolls out nothing (../shared/FIELD-NOTES.md): a test plays ECS's part by
setting the task's or the service's state on the emulator's model (`ecs_model`, `finish_task`).
"""
from __future__ import annotations

import hashlib
import http.server
import io
import json
import tarfile
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import boto3
import pytest

from emulator import Emulator
from emulator.record import read
from infra.config import resource_prefix
from infra.environments import BOOTSTRAP
from security.authorization import call_of, judge
from tests.http_stand_in import answer_json
from tests.stacks import resolve_references
from release.aws import AwsTarget
from local import EMULATOR_BOTO
from image.archive import Archive, read as read_archive
from image.registry import Registry, RegistrySettings
from release.model import Image
from release.outputs import StackOutputs

REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's default account
LOG_PREFIX = "migrate"
# The access key the release's calls sign with (the tests' own set-up signs with EMULATOR_BOTO's): which calls
# are judged against the deploy role.
DEPLOY_KEY = "ci-deploy"
DEPLOY_BOTO = {"aws_access_key_id": DEPLOY_KEY, "aws_secret_access_key": DEPLOY_KEY}
DEPLOY_ENV = {"AWS_ACCESS_KEY_ID": DEPLOY_KEY, "AWS_SECRET_ACCESS_KEY": DEPLOY_KEY}
# The configured environment whose deploy role stands for each test's own environment (same shape, other name).
MODEL_ENVIRONMENT = "dev"
# The stack of the running test (one per test), for judging its calls after the `stack` fixture is torn down.
STACKS: list = []


@pytest.fixture(scope="session")
def emulator_requests(tmp_path_factory):
    return tmp_path_factory.mktemp("release-emulator") / "requests.jsonl"


@pytest.fixture(scope="session")
def emu(emulator_requests):
    with Emulator(port=0, record=emulator_requests) as running:
        # moto advances a task's status on every DescribeTasks (RUNNING ... STOPPED, exit 0): keep each task
        # where a test puts it, as a real task stays RUNNING until its container exits.
        from moto.moto_api import state_manager
        state_manager.set_transition(model_name="ecs::task", transition={"progression": "manual", "times": 10**9})
        yield running
        state_manager.unset_transition(model_name="ecs::task")


class App:
    """The app where users arrive, for the emulator's tests (moto runs no containers): answers the release's
    verification as the app would; `answers` sets what each request gets, `calls` records what was asked."""

    def __init__(self) -> None:
        self.answers: dict[str, tuple[int, dict]] = {}
        self.calls: list[str] = []
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _answer(self) -> None:
                key = f"{self.command} {self.path}"
                owner.calls.append(key)
                answer_json(self, *owner.answers.get(key, (200, {"status": "ok"})))

            do_GET = do_POST = _answer

            def log_message(self, *args) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture(scope="session")
def app_server():
    app = App()
    yield app
    app.server.shutdown()


@pytest.fixture
def site(app_server):
    app_server.answers.clear()
    app_server.calls.clear()
    return app_server


@pytest.fixture(scope="session")
def local_registry(tmp_path_factory):
    """The registry that stands in for ECR's (moto serves none)."""
    registry = Registry(RegistrySettings(workdir=tmp_path_factory.mktemp("registry-work")))
    registry.start()
    yield registry
    registry.stop()


def tiny_archive(path: Path, tag: str, content: str = "") -> Archive:
    """A real OCI archive of a one-file image (what `python -m release build` writes, only smaller):
    `content` changes its digest."""
    def blob(data: bytes) -> tuple[str, bytes]:
        return "sha256:" + hashlib.sha256(data).hexdigest(), data

    layer_tar = io.BytesIO()
    with tarfile.open(fileobj=layer_tar, mode="w") as layer:
        data = (content or tag).encode()
        info = tarfile.TarInfo("marker")
        info.size = len(data)
        layer.addfile(info, io.BytesIO(data))
    layer_digest, layer_data = blob(layer_tar.getvalue())
    diff_id = layer_digest
    config_digest, config = blob(json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                                             "rootfs": {"type": "layers", "diff_ids": [diff_id]}}).encode())
    manifest_digest, manifest_data = blob(json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest,
                   "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer_digest,
                    "size": len(layer_data)}]}).encode())
    index = json.dumps({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": manifest_digest,
        "size": len(manifest_data), "annotations": {"org.opencontainers.image.ref.name": tag}}]}).encode()
    with tarfile.open(path, "w") as tar:
        for name, data in [("oci-layout", b'{"imageLayoutVersion": "1.0.0"}'), ("index.json", index)] + [
                (f"blobs/sha256/{d.split(':')[1]}", b) for d, b in
                ((layer_digest, layer_data), (config_digest, config), (manifest_digest, manifest_data))]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return read_archive(path)


def _clients(emu, credentials: dict):
    clients: dict[str, object] = {}

    def make(service: str):
        if service not in clients:
            clients[service] = boto3.client(service, endpoint_url=emu.endpoint, region_name=REGION, **credentials)
        return clients[service]

    return make


@pytest.fixture
def client(emu):
    """The tests' own clients: set-up, playing Terraform's apply, reading what the release did."""
    return _clients(emu, EMULATOR_BOTO)


@pytest.fixture
def deploy_client(emu):
    """The release's clients, signing with DEPLOY_KEY (judged against the deploy role)."""
    return _clients(emu, DEPLOY_BOTO)


@pytest.fixture(scope="session")
def deploy_policy_text(outdir) -> str:
    """The deploy role's policy of MODEL_ENVIRONMENT as the bootstrap stack synthesizes it, account and state
    bucket resolved as on the emulator."""
    stack = json.loads((outdir / "stacks" / "bootstrap" / "cdk.tf.json").read_text())
    (policy,) = [r["policy"] for name, r in stack["resource"]["aws_iam_role_policy"].items()
                 if name.startswith(f"ci_deploy-policy-{MODEL_ENVIRONMENT}_")]
    return resolve_references(policy, account=ACCOUNT, state_bucket=BOOTSTRAP.state_bucket,
                              state_key=f"arn:aws:kms:{REGION}:{ACCOUNT}:key/state")


def last_request(emulator_requests) -> int:
    return max((r["seq"] for r in read(emulator_requests)), default=0)


def release_denials(emulator_requests, since: int, stack: "Stack", policy_text: str):
    """The release's calls (DEPLOY_KEY) recorded after `since`, judged against the deploy role of the stack's
    environment: (denials, unmapped calls, calls)."""
    calls = [call for r in read(emulator_requests) if r["seq"] > since and r["key"] == DEPLOY_KEY
             for call in [call_of(r, "deploy")] if call is not None]
    model = resource_prefix(BOOTSTRAP.ci.project, MODEL_ENVIRONMENT)
    policy = json.loads(policy_text.replace(model, stack.outputs.cluster))
    denials, unmapped, _ = judge(calls, {"deploy": [policy]}, lambda call: "deploy",
                                 {"project": BOOTSTRAP.ci.project, "environment": stack.environment})
    return denials, unmapped, calls


@pytest.fixture(autouse=True)
def calls_allowed_to_the_deploy_role(emu, emulator_requests, deploy_policy_text):
    """After each test: every call the release made (DEPLOY_KEY) is one the test's environment's deploy role
    may make on AWS; else the test fails naming the call, the ARN and the role."""
    before = last_request(emulator_requests)
    STACKS.clear()
    yield
    if not STACKS:
        if any(r["seq"] > before and r["key"] == DEPLOY_KEY for r in read(emulator_requests)):
            pytest.fail("release calls without a `stack` fixture to judge them by", pytrace=False)
        return
    (stack,) = STACKS
    denials, unmapped, _ = release_denials(emulator_requests, before, stack, deploy_policy_text)
    if denials or unmapped:
        lines = [f"  {d}" for d in denials] + [f"  unmapped: {u}" for u in unmapped]
        pytest.fail(f"the release made calls its deploy role ({stack.environment}) may not make on AWS:\n"
                    + "\n".join(lines), pytrace=False)


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
class RecordedGate:
    """The compatibility gate of the emulator tests, whose images are tiny archives that run nothing: it records
    what it is asked (both references and the registry auth) and answers `answer`. The real gate runs in
    tests/release/test_release_local.py: on the local system, and as against AWS (pulling with the ECR token's auth)."""
    answer: str | None = None
    calls: list = field(default_factory=list)

    def missing(self) -> str | None:
        return None

    def __call__(self, running: str, new: str, auth: dict) -> str | None:
        self.calls.append((running, new, auth))
        return self.answer


@dataclass
class Stack:
    environment: str
    outputs: StackOutputs
    log_group: str
    app_family: str
    old_task_definition: str
    applied: list = field(default_factory=list)
    pushed: list = field(default_factory=list)
    created: list = field(default_factory=list)
    desired_count: int = 1
    """The task count the configuration gives the service (what a normal apply sets)."""
    gate: RecordedGate = field(default_factory=RecordedGate)


@pytest.fixture
def stack(client, site) -> Stack:
    environment = f"t{uuid.uuid4().hex[:8]}"
    name = resource_prefix(BOOTSTRAP.ci.project, environment)
    ec2, ecs, ecr, logs = client("ec2"), client("ecs"), client("ecr"), client("logs")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"{REGION}{z}")["Subnet"]["SubnetId"]
               for i, z in ((1, "a"), (2, "b"))]
    group = ec2.create_security_group(GroupName=f"{name}-tasks", Description="tasks", VpcId=vpc)["GroupId"]
    ecs.create_cluster(clusterName=name)
    log_group = f"/ecs/{name}/app"
    logs.create_log_group(logGroupName=log_group)
    repository = ecr.create_repository(repositoryName=f"{name}/app", imageTagMutability="IMMUTABLE")["repository"]
    # As infra/service.py registers them: the environment's task and execution roles (passed to ECS tasks).
    common = dict(networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="256", memory="512",
                  taskRoleArn=f"arn:aws:iam::{ACCOUNT}:role/{name}-task",
                  executionRoleArn=f"arn:aws:iam::{ACCOUNT}:role/{name}-task-execution")
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
                           subnets=tuple(subnets), security_group=group, repository_url=repository["repositoryUri"],
                           load_balancer_url=site.url)
    STACKS.append(Stack(environment=environment, outputs=outputs, log_group=log_group, app_family=f"{name}-app",
                        old_task_definition=app))
    return STACKS[-1]


@pytest.fixture
def target(client, deploy_client, stack) -> AwsTarget:
    """The AWS target on the emulator. Its applier does what Terraform's apply does to the service (a new
    revision of the app family on the image, UpdateService; with `stopped`, main.py's SERVICE_STOPPED: the
    service at 0 tasks); its pusher records what it was given."""

    def apply(environment: str, image: Image, stopped: bool = False) -> None:
        ecs = client("ecs")
        if stopped:
            ecs.update_service(cluster=stack.outputs.cluster, service=stack.outputs.service, desiredCount=0)
            stack.created.append(image)
            return
        current = ecs.describe_task_definition(taskDefinition=stack.old_task_definition)["taskDefinition"]
        containers = [dict(c, image=image.pinned) for c in current["containerDefinitions"]]
        arn = ecs.register_task_definition(family=stack.app_family, containerDefinitions=containers,
                                           networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="256",
                                           memory="512")["taskDefinition"]["taskDefinitionArn"]
        ecs.update_service(cluster=stack.outputs.cluster, service=stack.outputs.service, taskDefinition=arn,
                           desiredCount=stack.desired_count)
        # ECS's answer to UpdateService: a new PRIMARY deployment, the old one ACTIVE until drained.
        previous = _service_task_definition_before(stack)
        set_deployments(stack.outputs.cluster, stack.outputs.service,
                        {"status": "PRIMARY", "taskDefinition": arn, "rolloutState": "IN_PROGRESS", "runningCount": 0},
                        {"status": "ACTIVE", "taskDefinition": previous, "rolloutState": "COMPLETED"})
        stack.applied.append(image)

    def push(archive: Archive, destination: str, auth: dict) -> str:
        stack.pushed.append((archive.tag, destination, auth))
        return archive.digest

    return AwsTarget(environment="dev", outputs=stack.outputs, client=deploy_client, pusher=push, applier=apply,
                     gate=stack.gate)


def an_image(stack: Stack, tag: str = "0123456789ab", digest: str = "sha256:" + "cd" * 32) -> Image:
    return Image(repository_url=stack.outputs.repository_url, tag=tag, digest=digest)


def manifest() -> str:
    return json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                       "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 2,
                                  "digest": "sha256:" + "ef" * 32}, "layers": []})

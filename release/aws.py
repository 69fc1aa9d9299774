"""The AWS target: ECR for the image, ECS for the migration task and the service, CloudWatch Logs for its log.

Tested against the local emulator (moto, emulator/); the same calls go to AWS when no endpoint is set.
"""
from __future__ import annotations

import base64
import datetime
import json
import os
import subprocess
import sys
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Protocol

from botocore.exceptions import ClientError

from image.archive import Archive, copy as archive_copy
from infra.config import VERIFIED_TAG
from image.registry import RegistryError, manifest_digest, registry_request
from local.progress import say
from release.model import (BadInput, Deployment, Image, Release, ReleaseError, ServiceStatus,
                           TaskOutcome)
from release.outputs import FIRST_DEPLOY, StackOutputs
from release.verify import Endpoint

ROOT = Path(__file__).resolve().parents[1]
MIGRATION_COMMAND = ["migrate"]  # app/__main__.py's subcommand; also the task definition's own command
# The fields of DescribeTaskDefinition that RegisterTaskDefinition takes back.
REGISTERABLE = ("family", "taskRoleArn", "executionRoleArn", "networkMode", "containerDefinitions", "volumes",
                "placementConstraints", "requiresCompatibilities", "cpu", "memory", "runtimePlatform",
                "ephemeralStorage", "pidMode", "ipcMode", "proxyConfiguration")
STOPPED_TASKS_SHOWN = 5
# ECS is eventually consistent: right after RunTask, DescribeTasks may answer the task as MISSING with an empty
# `tasks` list (ECS API reference, RunTask: "Amazon ECS API follows an eventual consistency model ... run
# DescribeTasks ... use an exponential backoff"). A task ECS still does not know after this long never started.
MISSING_GRACE_SECONDS = 120.0
HISTORY_REVISIONS = 25
"""How many revisions of the service's family `status` shows and `rollback` looks back through."""


class Pusher(Protocol):
    def __call__(self, archive: Archive, destination: str, auth: dict) -> str:
        """Copy the image archive to `destination` (host/repository:tag) with the registry credentials `auth`
        ({"auths": {host: {"auth": base64 user:password}}}); return the digest the registry stored."""


class Applier(Protocol):
    def __call__(self, environment: str, image: Image, stopped: bool = False) -> None:
        """Apply the environment's stack with the service on `image` (raise ReleaseError on failure); `stopped`:
        with the service at 0 tasks and no autoscaling (main.py's SERVICE_STOPPED), before a first migration."""


def skopeo_pusher(registry_tls: bool = True) -> Pusher:
    """image/archive.py's copy by digest (skopeo, an auth file: never credentials on a command line)."""
    return lambda archive, destination, auth: archive_copy(archive, destination, auth, tls=registry_tls)


@dataclass(frozen=True)
class PodmanGate:
    """The compatibility gate (release/gate.py) on the machine the release runs on, pulling both images from the
    environment's repository with the ECR token's auth."""
    registry_tls: bool = True
    """False for the local registry that stands in for ECR next to the emulator (plain HTTP)."""

    def missing(self) -> str | None:
        from release import gate

        return gate.missing()

    def __call__(self, running: str, new: str, auth: dict) -> str | None:
        from release import gate

        return gate.check_pulling(running, new, auth, tls=self.registry_tls)


def cdktf_applier(root: Path = ROOT) -> Applier:
    """`npx cdktf deploy ENV --auto-approve` with IMAGE_TAG set to the image's digest (main.py reads it), and
    SERVICE_STOPPED=1 only when asked (never the shell's: it would stop a running service)."""

    def apply(environment: str, image: Image, stopped: bool = False) -> None:
        env = {k: v for k, v in os.environ.items() if k != "SERVICE_STOPPED"} | {
            "IMAGE_TAG": image.digest, "ENVIRONMENTS": environment, "CHECKPOINT_DISABLE": "1"}
        if stopped:
            env["SERVICE_STOPPED"] = "1"
        argv = ["npx", "cdktf", "deploy", environment, "--auto-approve"]
        print(f"==> {' '.join(argv)} (IMAGE_TAG={image.digest}{', SERVICE_STOPPED=1' if stopped else ''})",
              file=sys.stderr, flush=True)
        if subprocess.run(argv, cwd=root, env=env).returncode != 0:
            raise ReleaseError(f"`{' '.join(argv)}` failed (its output is above); the migration already ran. "
                               "Fix the cause and run `python -m release deploy --env "
                               f"{environment}` to deploy the same image again", changed=True)

    return apply


class Images(Protocol):
    def digest_of(self, tag: str) -> str | None:
        """The digest the repository holds under `tag`, or None."""

    def tags_of(self, digest: str) -> list[str] | None:
        """The tags of the image with `digest` ([] untagged), or None when the repository does not hold it."""


@dataclass(frozen=True)
class EcrImages:
    ecr: object
    repository: str

    def _describe(self, image_id: dict) -> dict | None:
        try:
            return self.ecr.describe_images(repositoryName=self.repository, imageIds=[image_id])["imageDetails"][0]
        except ClientError as error:
            if _code(error) == "ImageNotFoundException":
                return None
            if _code(error) == "RepositoryNotFoundException":
                raise BadInput(f"the repository {self.repository} does not exist: deploy the environment's stack "
                               f"first. {FIRST_DEPLOY}") from None
            raise

    def digest_of(self, tag: str) -> str | None:
        found = self._describe({"imageTag": tag})
        return None if found is None else found["imageDigest"]

    def tags_of(self, digest: str) -> list[str] | None:
        found = self._describe({"imageDigest": digest})
        return None if found is None else list(found.get("imageTags", []))


@dataclass(frozen=True)
class RegistryImages:
    """A registry that stands in for ECR (the local one, beside the emulator)."""

    address: str
    repository: str

    def digest_of(self, tag: str) -> str | None:
        try:
            return manifest_digest(self.address, self.repository, tag)
        except RegistryError as error:
            raise ReleaseError(str(error)) from None

    def tags_of(self, digest: str) -> list[str] | None:
        if self.digest_of(digest) is None:
            return None
        try:
            tags = json.loads(registry_request(self.address, f"/v2/{self.repository}/tags/list") or "{}").get("tags")
        except RegistryError as error:
            raise ReleaseError(str(error)) from None
        return [tag for tag in tags or [] if self.digest_of(tag) == digest]


def _code(error: ClientError) -> str:
    return error.response.get("Error", {}).get("Code", "")


@dataclass
class AwsTarget:
    environment: str
    outputs: StackOutputs
    client: Callable[[str], object]
    """boto3 client factory: client("ecs"), client("ecr"), client("logs")."""
    pusher: Pusher = field(default_factory=skopeo_pusher)
    applier: Applier = field(default_factory=cdktf_applier)
    gate: PodmanGate = field(default_factory=PodmanGate)
    """Checks that the running release works on the schema after a new image's migrations (`missing()`: why it
    cannot run here; called with both images' references and the registry's auth)."""
    registry: str | None = None
    """host:port to push to instead of ECR's proxy endpoint: the local registry when ECS and ECR are the
    emulator's (moto serves no registry). None on AWS."""
    reread_outputs: Callable[[], StackOutputs] | None = None
    """Reads the stack's outputs again after an apply (a first deploy creates the cluster and service)."""
    domain: str | None = None
    """The environment's load_balancer.domain_name: the release verifies through the load balancer with TLS to it."""
    least_tasks: int = 0
    """The fewest tasks the environment's configuration gives the service: a rollout with fewer running is not
    steady (right after a first release's apply the count is still 0 until Application Auto Scaling raises it)."""
    missing_grace: float = MISSING_GRACE_SECONDS
    """Seconds a started task may be unknown to DescribeTasks (MISSING) before the migration is failed."""
    clock: Callable[[], float] = time.monotonic
    _logs: dict[str, dict] = field(default_factory=dict)
    _rolling_to: str | None = None
    """The task definition the last apply moved the service to: whose stopped tasks a failed rollout names."""

    @property
    def selector(self) -> str:
        return f"--env {self.environment}"

    # -- the image ----------------------------------------------------------------------------------
    @property
    def images(self) -> "Images":
        """Where the environment's images are: its ECR repository, or the registry that stands in for it."""
        name = self.outputs.repository_name
        return RegistryImages(self.registry, name) if self.registry else EcrImages(self.client("ecr"), name)

    def find_image(self, tag: str) -> Image | None:
        """The image the repository holds under `tag` (the repository is the record that outlives any machine)."""
        digest = self.images.digest_of(tag)
        return None if digest is None else Image(repository_url=self.outputs.repository_url, tag=tag, digest=digest)

    def image_by_digest(self, digest: str) -> Image | None:
        """The image the repository holds with `digest` (tagged with one of its tags), or None."""
        tags = self.images.tags_of(digest)
        return None if tags is None else Image(self.outputs.repository_url, sorted(tags)[0] if tags else "", digest)

    def push(self, archive: Archive) -> Image:
        """Copy the archive into the repository by digest, unless its tag already holds exactly that image
        (a re-run): then reuse it. A tag that holds other content is refused (tags are immutable)."""
        held = self.find_image(archive.tag)
        if held is not None and held.digest == archive.digest:
            say(f"==> {self.outputs.repository_name}:{archive.tag} already holds {archive.digest}: reusing it")
            return held
        if held is not None:
            raise BadInput(f"the tag {archive.tag} in {self.outputs.repository_name} holds {held.digest}, not this "
                           f"archive's {archive.digest} (tags are immutable): release the image that tag holds "
                           f"(`python -m release deploy {self.selector} --tag {archive.tag}`), or commit a change "
                           "and build again")
        host, auth = self._registry_auth()
        digest = self.pusher(archive, f"{host}/{self.outputs.repository_name}:{archive.tag}", auth)
        if digest != archive.digest:
            raise ReleaseError(f"the repository stored {digest}, not the archive's {archive.digest}: nothing was "
                               "deployed; run the same command again", changed=True)
        return Image(repository_url=self.outputs.repository_url, tag=archive.tag, digest=digest)

    def _registry_auth(self) -> tuple[str, dict]:
        """The repository's registry host and a registry auth file's JSON for it, from the ECR token."""
        data = self.client("ecr").get_authorization_token()["authorizationData"][0]
        host = self.registry or urllib.parse.urlparse(data["proxyEndpoint"]).netloc
        # The token is base64("AWS:<password>"), valid 12 hours: exactly what a registry auth file holds.
        auth = {"auths": {host: {"auth": data["authorizationToken"]}}}
        user = base64.b64decode(data["authorizationToken"]).decode().split(":", 1)[0]
        expires = data.get("expiresAt")
        # The emulator's token carries a fixed date in the past: say nothing rather than something alarming.
        fresh = isinstance(expires, datetime.datetime) and expires > datetime.datetime.now(expires.tzinfo)
        until = f" (ECR token until {expires:%Y-%m-%d %H:%M %Z})" if fresh else ""
        say(f"==> authenticated to {host} as {user}{until}")
        return host, auth

    # -- what runs and ran: the service's task definition revisions ---------------------------------------
    def releases(self, limit: int = HISTORY_REVISIONS) -> list[Release]:
        """The service's current revision, then the earlier revisions of its family (deregistered ones too),
        newest first, each with the image it pins: ECS's own record of what ran, readable from any machine."""
        ecs = self.client("ecs")
        current = self._service()["taskDefinition"]
        family, revision = current.rsplit("/", 1)[-1].rsplit(":", 1)
        earlier = set()
        for status in ("ACTIVE", "INACTIVE"):
            for page in ecs.get_paginator("list_task_definitions").paginate(familyPrefix=family, status=status):
                for arn in page["taskDefinitionArns"]:
                    name, number = arn.rsplit("/", 1)[-1].rsplit(":", 1)
                    if name == family and int(number) < int(revision):
                        earlier.add((int(number), arn))
        found = [current] + [arn for _, arn in sorted(earlier, reverse=True)][:limit - 1]
        return [_release_of(ecs.describe_task_definition(taskDefinition=arn, include=["TAGS"])) for arn in found]

    def running_image(self) -> Image | None:
        """The image the service runs now, as the repository holds it; None before the first release (no service,
        or an image the repository does not hold)."""
        if not self.outputs.exists:
            return None
        current = self.releases(limit=1)[0]
        if current.digest:
            return self.image_by_digest(current.digest)
        _, _, tag = current.image.rpartition(":")
        return self.find_image(tag) if tag and "/" not in tag else None

    def gate_missing(self) -> str | None:
        return self.gate.missing()

    def check_compatibility(self, running: Image, new: Image) -> str | None:
        """release/gate.py where this release runs, both images pulled by digest from the environment's repository."""
        host, auth = self._registry_auth()
        say(f"==> compatibility gate: does {running.tag or running.digest} still work on the schema after the "
            f"migrations of {new.tag or new.digest}? (a throw-away PostgreSQL on this machine)")
        return self.gate(*(f"{host}/{self.outputs.repository_name}@{image.digest}" for image in (running, new)), auth)

    def mark_verified(self) -> None:
        """Tag the revision the service runs as verified (infra.config.VERIFIED_TAG): what a rollback returns to."""
        arn = self._service()["taskDefinition"]
        moment = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        self.client("ecs").tag_resource(resourceArn=arn, tags=[{"key": VERIFIED_TAG, "value": moment}])

    def rollback_image(self, to: str | None = None) -> Image:
        """The image to go back to: `to` (a tag or a sha256 digest in the repository), else that of the newest
        earlier revision a release verified whose image differs from the current one's (a revision whose rollout
        failed was never verified: never a rollback's target)."""
        if to:
            image = self.image_by_digest(to) if to.startswith("sha256:") else self.find_image(to)
            if image is None:
                raise BadInput(f"{self.outputs.repository_name} holds no image {to}: give a tag or digest it holds "
                               f"(`python -m release status {self.selector}` lists what ran)")
            return image
        history = self.releases()
        now = history[0]
        for earlier in history[1:]:
            if earlier.verified and earlier.digest and earlier.digest != now.digest:
                image = self.image_by_digest(earlier.digest)
                if image is None:
                    raise BadInput(f"{earlier.task_definition} ran {earlier.digest}, which "
                                   f"{self.outputs.repository_name} no longer holds (its lifecycle policy expired "
                                   f"it?): give one it holds with `--to TAG`")
                return image
        raise BadInput(f"no earlier revision of {now.task_definition.rsplit('/', 1)[-1]} that a release verified "
                       f"runs another image (of {len(history)} read): nothing to roll back to; give one with "
                       f"`python -m release rollback {self.selector} --to TAG` (`python -m release status "
                       f"{self.selector}` lists what ran)")

    # -- the migration ------------------------------------------------------------------------------
    def register_migration(self, image: Image) -> dict:
        """A revision of the migration family on the new image (the registered definition). The service must not
        see the new image before its migration has succeeded, so Terraform's apply comes after."""
        ecs = self.client("ecs")
        current = ecs.describe_task_definition(taskDefinition=self.outputs.migration_task_definition)["taskDefinition"]
        containers = [dict(c, image=image.pinned) for c in current["containerDefinitions"]]
        fields = {k: current[k] for k in REGISTERABLE if k in current} | {"containerDefinitions": containers}
        return ecs.register_task_definition(**fields)["taskDefinition"]

    def deregister(self, revision: str) -> None:
        """A one-off revision is removed once its task stopped: Terraform owns the family."""
        self.client("ecs").deregister_task_definition(taskDefinition=revision)

    def start_migration(self, image: Image) -> str:
        ecs = self.client("ecs")
        revision = self.register_migration(image)
        try:
            return self._run_migration(ecs, revision, image)
        except BaseException:
            # The one-off revision never outlives a migration that did not start (RunTask refused, throttled...).
            self.deregister(revision["taskDefinitionArn"])
            raise

    def _run_migration(self, ecs, revision: dict, image: Image) -> str:
        containers = revision["containerDefinitions"]
        essential = next(c for c in containers if c.get("essential", True))
        started = ecs.run_task(
            cluster=self.outputs.cluster, taskDefinition=revision["taskDefinitionArn"], count=1,
            launchType="FARGATE", startedBy=f"release-{image.tag}"[:36],
            networkConfiguration={"awsvpcConfiguration": {"subnets": list(self.outputs.subnets),
                                                          "securityGroups": [self.outputs.security_group],
                                                          "assignPublicIp": "DISABLED"}},
            overrides={"containerOverrides": [{"name": essential["name"], "command": MIGRATION_COMMAND}]})
        if started.get("failures") or not started.get("tasks"):
            raise ReleaseError(f"ECS did not start the migration task: {started.get('failures')}; the service was "
                               "not changed. Check the cluster's capacity and the subnets, then run "
                               f"`python -m release migrate --env {self.environment}` again")
        task = started["tasks"][0]
        task_id = task["taskArn"].rsplit("/", 1)[-1]
        options = (essential.get("logConfiguration") or {}).get("options", {})
        self._logs[task_id] = {"arn": task["taskArn"], "revision": revision["taskDefinitionArn"],
                               "container": essential["name"], "group": options.get("awslogs-group"),
                               "stream": f"{options.get('awslogs-stream-prefix')}/{essential['name']}/{task_id}",
                               "token": None, "started": self.clock()}
        return task_id

    def migration_outcome(self, task_id: str) -> TaskOutcome | None:
        run = self._logs[task_id]
        ecs = self.client("ecs")
        found = ecs.describe_tasks(cluster=self.outputs.cluster, tasks=[run["arn"]])
        if not found.get("tasks"):
            waited = self.clock() - run["started"]
            if waited < self.missing_grace:
                return None  # not known yet: ECS's eventual consistency (MISSING_GRACE_SECONDS)
            self.deregister(run["revision"])
            reasons = sorted({f.get("reason", "?") for f in found.get("failures", [])}) or ["no task, no failure"]
            raise ReleaseError(f"ECS still does not know the migration task {task_id} {waited:.0f} s after RunTask "
                               f"started it ({', '.join(reasons)}); the service was not changed. Look for the task "
                               "in the ECS console (stopped tasks are kept about an hour), then run "
                               f"`python -m release migrate --env {self.environment}` again", changed=False)
        task = found["tasks"][0]
        if task.get("lastStatus") != "STOPPED":
            return None
        self.deregister(run["revision"])
        return _outcome(task, run["container"])

    def abandon_migration(self, task_id: str) -> None:
        """The release stopped waiting (timeout): the one-off revision goes; the task itself may still run."""
        run = self._logs.get(task_id)
        if run is not None:
            self.deregister(run["revision"])

    def migration_logs(self, task_id: str) -> Iterable[str]:
        run = self._logs[task_id]
        if not run["group"]:
            return []
        logs, lines = self.client("logs"), []
        while True:
            args = {"logGroupName": run["group"], "logStreamName": run["stream"], "startFromHead": True}
            if run["token"]:
                args["nextToken"] = run["token"]
            try:
                page = logs.get_log_events(**args)
            except ClientError as error:
                if _code(error) == "ResourceNotFoundException":  # the task has not written yet
                    return lines
                raise
            lines += [event["message"] for event in page["events"]]
            if page.get("nextForwardToken") in (None, run["token"]):
                return lines
            run["token"] = page["nextForwardToken"]

    # -- the service --------------------------------------------------------------------------------
    def _service(self) -> dict:
        found = self.client("ecs").describe_services(cluster=self.outputs.cluster, services=[self.outputs.service])
        if not found["services"]:
            raise ReleaseError(f"the service {self.outputs.service} is not in cluster {self.outputs.cluster}: "
                               f"deploy the {self.environment} stack first", changed=False)
        return found["services"][0]

    def create(self, image: Image) -> None:
        self.applier(self.environment, image, stopped=True)
        if self.reread_outputs is not None:
            self.outputs = self.reread_outputs()

    def apply(self, image: Image) -> str:
        self.applier(self.environment, image)
        if self.reread_outputs is not None:
            self.outputs = self.reread_outputs()
        arn = self._service()["taskDefinition"]
        definition = self.client("ecs").describe_task_definition(taskDefinition=arn)["taskDefinition"]
        images = {c["image"] for c in definition["containerDefinitions"]}
        if image.pinned not in images:
            raise ReleaseError(f"the apply finished but the service's task definition {arn} runs {sorted(images)}, "
                               f"not {image.pinned}: was IMAGE_TAG read? (python main.py prints the synthesized "
                               "stacks; check service.image_tag)", changed=True)
        self._rolling_to = arn
        return arn

    def endpoint(self) -> Endpoint:
        if not self.outputs.load_balancer_url:
            raise BadInput(f"the {self.environment} stack's outputs lack load_balancer_url: apply the stack from this "
                           "commit (`npx cdktf deploy ENV`), whose infra/stacks.py declares it")
        return Endpoint(self.outputs.load_balancer_url, server_name=self.domain)

    def alarms_in_alarm(self) -> dict[str, str]:
        """The service's deployment alarms (infra/monitoring.py DEPLOYMENT_ALARMS) in ALARM now: name -> reason. None
        before the stack's first apply: no service watches any yet, and the alarms the apply makes start without data."""
        if not self.outputs.exists:
            return {}
        names = ((self._service().get("deploymentConfiguration") or {}).get("alarms") or {}).get("alarmNames") or []
        if not names:
            return {}
        found = self.client("cloudwatch").describe_alarms(AlarmNames=list(names))["MetricAlarms"]
        return {a["AlarmName"]: a.get("StateReason") or "no reason given" for a in found if a.get("StateValue") == "ALARM"}

    def service_status(self) -> ServiceStatus:
        service = self._service()
        deployments = tuple(Deployment(
            status=d.get("status", ""), task_definition=d.get("taskDefinition", ""),
            rollout_state=d.get("rolloutState", ""), rollout_reason=d.get("rolloutStateReason", ""),
            desired=d.get("desiredCount", 0), running=d.get("runningCount", 0), failed_tasks=d.get("failedTasks", 0))
            for d in service.get("deployments", []))
        ecs = self.client("ecs")
        # ListTasks' order is unspecified and it keeps tasks stopped up to an hour before: ask for a page and
        # keep this deployment's (DescribeTasks takes 100 at most).
        arns = ecs.list_tasks(cluster=self.outputs.cluster, serviceName=self.outputs.service,
                              desiredStatus="STOPPED")["taskArns"][:100]
        stopped = ecs.describe_tasks(cluster=self.outputs.cluster, tasks=arns)["tasks"] if arns else []
        ids = {d.get("id") for d in service.get("deployments", []) if d.get("taskDefinition") == self._rolling_to}
        mine = this_deployments_stopped(stopped, self._rolling_to, ids)
        return ServiceStatus(deployments=deployments, stopped_tasks=tuple(_outcome(t, None) for t in mine))


def this_deployments_stopped(tasks: list[dict], task_definition: str | None, deployment_ids: set) -> list[dict]:
    """The stopped tasks of the rollout to `task_definition` (its revision, or started by its deployment: ECS
    sets a service task's startedBy to the deployment's id), newest first, STOPPED_TASKS_SHOWN at most. Without a
    rollout (None), every task given."""
    def when(task: dict) -> float:
        moment = task.get("stoppedAt") or task.get("createdAt")
        return moment.timestamp() if isinstance(moment, datetime.datetime) else 0.0

    ours = [t for t in tasks if task_definition is None or t.get("taskDefinitionArn") == task_definition
            or t.get("startedBy") in deployment_ids]
    return sorted(ours, key=when, reverse=True)[:STOPPED_TASKS_SHOWN]


def _release_of(described: dict) -> Release:
    """A DescribeTaskDefinition answer (with its tags) as a Release."""
    definition, tags = described["taskDefinition"], {t["key"]: t["value"] for t in described.get("tags", [])}
    containers = definition["containerDefinitions"]
    essential = next((c for c in containers if c.get("essential", True)), containers[0])
    return Release(task_definition=definition["taskDefinitionArn"], image=essential["image"],
                   verified=tags.get(VERIFIED_TAG, ""))


def _outcome(task: dict, container_name: str | None) -> TaskOutcome:
    containers = task.get("containers", [])
    container = next((c for c in containers if container_name in (None, c.get("name"))), {})
    return TaskOutcome(task_id=task["taskArn"].rsplit("/", 1)[-1], exit_code=container.get("exitCode"),
                       stopped_reason=task.get("stoppedReason", ""), container_reason=container.get("reason", ""))

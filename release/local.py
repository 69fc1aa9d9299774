"""The local target: the system `make demo` runs on this machine, released by the same flow as AWS.

What AWS keeps in its APIs stays in the emulator's, through `AwsTarget` and the same calls: the ECR token,
the migration's task-definition revision on the new image, the service's configuration (`apply`). What runs
is the runner's (runner/): the local registry holds the images, `python -m runner migrate` runs the
migration container once against the local PostgreSQL, and the runner's supervisor rolls the service's
tasks behind HAProxy (and trips the deployment circuit breaker as ECS would). This module only maps the
`Target` questions onto those: it decides nothing that release/flow.py does not decide for AWS too.
"""
from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from local.progress import say
from release.aws import AwsTarget
from image.archive import Archive
from release.model import BadInput, Deployment, Image, Release, ReleaseError, ServiceStatus, TaskOutcome
from release.outputs import StackOutputs
from release.verify import Endpoint
from runner.layout import Layout

ROOT = Path(__file__).resolve().parents[1]
LIVE = ("starting", "serving", "draining")


def running_system(workdir: Path) -> dict:
    """What `python -m runner up` recorded in `workdir`: endpoint, cluster, service, registry, region."""
    layout = Layout(workdir=Path(workdir))
    desired = layout.read(layout.desired_file)
    if desired is None:
        raise BadInput(f"nothing runs in {workdir} (no {layout.desired_file}): start the local system with "
                       "`make demo` first, or pass the --workdir it used")
    return desired


@dataclass
class LocalTarget:
    control: AwsTarget
    """The emulator's APIs, with `registry` set to the local registry (push, task definitions, the service)."""
    workdir: Path
    """The runner's work folder (`make demo`: .local-deploy)."""
    _runs: dict[str, dict] = field(default_factory=dict)
    _expected: str = ""

    @property
    def environment(self) -> str:
        return self.control.environment

    @property
    def least_tasks(self) -> int:
        return self.control.least_tasks

    @property
    def selector(self) -> str:
        return f"--local --env {self.environment}"

    @property
    def outputs(self) -> StackOutputs:
        return self.control.outputs

    @property
    def _layout(self) -> Layout:
        return Layout(workdir=Path(self.workdir))

    @cached_property
    def _system(self) -> dict:
        """Where the running system is; it does not move while a release runs."""
        return running_system(self.workdir)

    def _runner(self, command: str, *extra: str) -> list[str]:
        """`python -m runner COMMAND` aimed at the running system."""
        system = self._system
        return [sys.executable, "-m", "runner", command, "--workdir", str(self.workdir), "--endpoint",
                system["endpoint"], "--region", system["region"], "--cluster", system["cluster"],
                "--service", system["service"], "--registry", system["registry"], *extra]

    # -- the image and the history: the emulator's ECS and the local registry, through the AWS target --------
    def find_image(self, tag: str) -> Image | None:
        return self.control.find_image(tag)

    def image_by_digest(self, digest: str) -> Image | None:
        return self.control.image_by_digest(digest)

    def push(self, archive: Archive) -> Image:
        return self.control.push(archive)

    def releases(self) -> list[Release]:
        return self.control.releases()

    def rollback_image(self, to: str | None) -> Image:
        return self.control.rollback_image(to)

    def mark_verified(self) -> None:
        self.control.mark_verified()

    def alarms_in_alarm(self) -> dict[str, str]:
        return self.control.alarms_in_alarm()

    def running_image(self) -> Image | None:
        return self.control.running_image()

    def gate_missing(self) -> str | None:
        from release import gate

        return gate.missing()

    def check_compatibility(self, running: Image, new: Image) -> str | None:
        """release/gate.py on this machine: the images from the local registry, the runner's podman storage."""
        from release import gate

        def reference(image: Image) -> str:
            return f"{self.control.registry}/{image.repository_url.split('/', 1)[1]}@{image.digest}"

        say(f"==> compatibility gate: does {running.tag or running.digest} still work on the schema after the "
            f"migrations of {new.tag or new.digest}? (a throw-away PostgreSQL on this machine)")
        return gate.check(self._layout.podman(), reference(running), reference(new), self._layout.folder)

    def endpoint(self) -> Endpoint:
        """The local load balancer (HAProxy on loopback): plain HTTP, or, for an environment that serves HTTPS,
        TLS to its domain with the local certificate (local/certificate.py) as the only one trusted."""
        settings = self._layout.read(self._layout.settings_file, {}) or {}
        if not settings.get("port"):
            raise BadInput(f"the local system in {self.workdir} has no load balancer port ({self._layout.settings_file}): "
                           "start it with `make demo`")
        if settings.get("certificate"):
            return Endpoint(f"https://127.0.0.1:{settings['port']}", server_name=self.control.domain,
                            cafile=settings["certificate"])
        return Endpoint(f"http://127.0.0.1:{settings['port']}")

    # -- the migration: one container, run by the runner ------------------------------------------------
    def start_migration(self, image: Image) -> str:
        revision = self.control.register_migration(image)["taskDefinitionArn"]
        task_id = f"local-{image.tag}-{len(self._runs) + 1}"
        log = self._layout.folder / f"{task_id}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(self._runner("migrate", "--migration-family", revision), cwd=ROOT,
                                       stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
        self._runs[task_id] = {"process": process, "log": log, "offset": 0, "revision": revision}
        return task_id

    def migration_outcome(self, task_id: str) -> TaskOutcome | None:
        run = self._runs[task_id]
        code = run["process"].poll()
        if code is None:
            return None
        self.control.deregister(run["revision"])
        return TaskOutcome(task_id=task_id, exit_code=code, stopped_reason=TaskOutcome.NORMAL_STOP)

    def abandon_migration(self, task_id: str) -> None:
        self.control.deregister(self._runs[task_id]["revision"])

    def migration_logs(self, task_id: str) -> list[str]:
        run = self._runs[task_id]
        with run["log"].open("rb") as log:
            log.seek(run["offset"])
            data = log.read()
        complete = data[:data.rfind(b"\n") + 1]  # a line still being written is read next time
        run["offset"] += len(complete)
        return complete.decode(errors="replace").splitlines()

    # -- the service: configuration on the emulator, the rollout by the runner's supervisor ---------------
    def create(self, image: Image) -> None:
        raise BadInput(f"the local system in {self.workdir} is created by `make demo` (its first release included), "
                       "not by a release")

    def apply(self, image: Image) -> str:
        expected = self.control.apply(image)
        rolled = subprocess.run(self._runner("up", "--no-wait"), cwd=ROOT, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL)
        if rolled.returncode != 0:
            raise ReleaseError(f"the service's configuration now names {expected}, but the local runner did not "
                               "take the new deployment (its output is above): fix the cause and run "
                               f"`python -m release deploy --local --env {self.environment}` again", changed=True)
        self._expected = expected
        return expected

    def service_status(self) -> ServiceStatus:
        desired, status = self._layout.read(self._layout.desired_file, {}), self._layout.read(self._layout.status_file, {})
        if not status or status.get("generation") != desired.get("generation"):
            # The supervisor has not picked the new deployment up yet.
            return ServiceStatus((Deployment("PRIMARY", self._expected, "IN_PROGRESS"),))
        primary, failed = status["primary"], status.get("failed_task_definition", "")
        live = [t for t in status["tasks"] if t["state"] in LIVE]
        serving = sum(t["arn"] == primary and t["state"] == "serving" for t in live)
        if failed == primary:
            state = "FAILED"
        else:
            state = "COMPLETED" if status.get("steady") else "IN_PROGRESS"
        deployments = [Deployment("PRIMARY", primary, state, status.get("failure", "") if failed == primary else "",
                                  desired=status.get("desired_count", 0), running=serving)]
        if failed and failed != primary:  # rolled back by the circuit breaker
            deployments.append(Deployment("ACTIVE", failed, "FAILED", status.get("failure", "")))
        deployments += [Deployment("ACTIVE", arn, "IN_PROGRESS") for arn in sorted({t["arn"] for t in live})
                        if arn not in (primary, failed)]
        stopped = tuple(TaskOutcome(task_id=s["name"], exit_code=s.get("exit_code"),
                                    stopped_reason=TaskOutcome.NORMAL_STOP,
                                    container_reason="before it was healthy in the load balancer"
                                    if s.get("before_healthy") else "")
                        for s in reversed(status.get("stopped", [])[-5:]))
        return ServiceStatus(tuple(deployments), stopped)


def terraform_applier(workdir: Path, endpoint: str):
    """What `cdktf deploy ENV` does, against the emulator in `make demo`'s work folder: synthesize with
    IMAGE_TAG set to the image's digest, then `terraform init` and `apply` (logs in <workdir>/logs/)."""
    from tools.terraform import LocalDeployment

    def apply(environment: str, image: Image, stopped: bool = False) -> None:
        deployment = LocalDeployment(endpoint, workdir, environment, say=lambda line: print(line, file=sys.stderr))
        print(f"==> terraform apply of {environment} on the emulator (IMAGE_TAG={image.digest}"
              f"{', SERVICE_STOPPED=1' if stopped else ''}); logs in {deployment.logs}", file=sys.stderr, flush=True)
        for run in (lambda: deployment.synth(image.digest, stopped=stopped), lambda: deployment.init(environment),
                    lambda: deployment.apply(environment, plan_file=None, heartbeat=20)):
            step = run()
            if not step.ok:
                raise ReleaseError(f"{' '.join(step.argv[:2])} failed ({step.log}):\n{step.errors()}\nThe migration "
                                   "already ran. Fix the cause and run `python -m release deploy --local --env "
                                   f"{environment}` to deploy the same image again", changed=True)

    return apply


def stack_outputs(workdir: Path, endpoint: str, environment: str, needed: tuple[str, ...]) -> StackOutputs:
    """The environment's outputs from the state `make demo` applied on the emulator."""
    from release.outputs import parse
    from tools.terraform import DeployError, LocalDeployment

    try:
        raw = LocalDeployment(endpoint, workdir, environment).outputs(environment)
    except (DeployError, OSError) as error:
        raise BadInput(f"the {environment} stack's outputs cannot be read from {workdir}: {error}\nIs it the "
                       f"environment `make demo` deployed? (`python -m demo up --stack {environment}`)") from None
    return parse(raw, f"the {environment} stack in {workdir}", needed)

"""Run one task definition's container with podman, with the settings ECS would apply on Fargate.

Every container carries the label runner.workdir=<work folder>, so `down` finds all of them.
Secrets reach the container through an env file (mode 0600, deleted once the container started), never argv.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

from local import EMULATOR_ENV, paths
from runner.deployment import TaskSpec

# crun refuses this machine's cgroups; runc needs cgroupfs and explicit ulimits (../shared/FIELD-NOTES.md).
PODMAN_FLAGS = ("--runtime", "runc", "--cgroup-manager", "cgroupfs")
ULIMITS = ("--ulimit", "nofile=20000:20000", "--ulimit", "nproc=4096:4096")
LABEL = "runner.workdir"


class TaskError(Exception):
    """A container could not be pulled, started or stopped; the message says what to do next."""


@dataclass(frozen=True)
class Podman:
    storage: Path
    """podman's own storage (images, containers), apart from the machine's."""
    workdir: Path

    @property
    def runroot(self) -> Path:
        """Short and outside the checkout (local.paths): podman refuses a run root over 50 bytes."""
        return paths.podman_runroot(self.storage)

    def argv(self, *args: str) -> list[str]:
        paths.ensure(self.runroot.parent)
        return ["podman", "--root", str(self.storage / "root"), "--runroot", str(self.runroot), *PODMAN_FLAGS, *args]

    def run(self, *args: str, timeout: float = 300, check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run(self.argv(*args), capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise TaskError(failure(result))
        return result

    @property
    def label(self) -> str:
        return f"{LABEL}={self.workdir.resolve()}"

    def pull(self, image: str, authfile: Path | None = None, tls: bool = False) -> None:
        """From the local registry (plain HTTP, no credentials) unless told otherwise: `authfile` (a registry auth
        file, never credentials on the command line) and `tls` for ECR."""
        auth = ["--authfile", str(authfile)] if authfile else []
        result = self.run("pull", "--quiet", f"--tls-verify={'true' if tls else 'false'}", *auth, image, check=False)
        if result.returncode != 0:
            # Advice only where podman's own words say the registry lacks the image.
            # (the registry API's MANIFEST_UNKNOWN and NAME_UNKNOWN errors).
            missing = any(words in result.stderr for words in ("manifest unknown", "name unknown"))
            raise TaskError(failure(result) + ("\nThe registry does not have that image: push it (python -m image "
                                               "push), or check the tag in the task definition." if missing else ""))

    def containers(self) -> dict[str, str]:
        """Name -> state (running, exited, ...) of every container of this work folder."""
        out = self.run("ps", "--all", "--filter", f"label={self.label}", "--format", "json").stdout
        return {c["Names"][0]: c["State"] for c in json.loads(out or "[]")}

    def exit_code(self, name: str) -> int | None:
        """A stopped container's exit code; None if it is gone or never ran."""
        result = self.run("inspect", "--format", "{{.State.ExitCode}}", name, check=False)
        return int(result.stdout.strip()) if result.returncode == 0 and result.stdout.strip().isdigit() else None

    def stop(self, name: str, timeout: int) -> subprocess.Popen:
        """SIGTERM, SIGKILL after `timeout` s (the task's stopTimeout), then remove; in the background."""
        return subprocess.Popen(self.argv("rm", "--force", "--time", str(timeout), name),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def failure(result: subprocess.CompletedProcess) -> str:
    """podman's own words and the command that failed (its argv carries no secret: those go in an env file)."""
    words = (result.stderr or "").strip() or (result.stdout or "").strip() or "no output"
    return f"podman failed (exit {result.returncode}): {words[-1500:]}\n  command: {shlex.join(result.args)}"


def run_argv(task: TaskSpec, *, name: str, db_host: tuple[str, str] | None,
             env_file: Path, label: str, detach: bool) -> list[str]:
    argv = ["run", "--name", name, "--label", label, "--network", "host", *ULIMITS,
            "--stop-timeout", str(task.stop_timeout), "--env-file", str(env_file)]
    argv += ["--detach"] if detach else []
    argv += ["--user", task.user] if task.user else []
    argv += ["--read-only"] if task.read_only else []
    argv += [a for path in task.tmpfs for a in ("--tmpfs", path)]
    argv += ["--init"] if task.init else []
    argv += [a for cap in task.cap_drop for a in ("--cap-drop", cap)]
    # The RDS endpoint's name resolves to the local PostgreSQL, as the VPC's DNS would to the instance.
    argv += ["--add-host", f"{db_host[0]}:{db_host[1]}"] if db_host else []
    return [*argv, task.image, *task.command]


def environment(task: TaskSpec, *, address: str | None, endpoint: str) -> dict[str, str]:
    env = dict(task.environment) | task.secrets
    if address:
        env["HOST"] = address  # the task's own address, like an awsvpc ENI
    # The app re-reads the rotated secret through the AWS API: the emulator's, with fake credentials.
    env |= {"AWS_ENDPOINT_URL": endpoint, **EMULATOR_ENV}
    return env


def write_env_file(path: Path, env: dict[str, str]) -> None:
    """podman's --env-file, readable by its owner only: secrets never go on a command line."""
    bad = [k for k, v in env.items() if "\n" in v]
    if bad:
        raise TaskError(f"environment {', '.join(bad)} contains a newline, which podman's env file cannot carry")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("".join(f"{k}={v}\n" for k, v in env.items()))


def start(podman: Podman, task: TaskSpec, *, address: str | None, db_host: tuple[str, str] | None,
          endpoint: str, prefix: str, detach: bool = True, output=None) -> tuple[str, subprocess.CompletedProcess]:
    """Start one task; returns its container name (and, in the foreground, the finished process)."""
    name = f"{prefix}-{task.family}-{task.revision}-{uuid.uuid4().hex[:8]}"
    env_file = podman.workdir / f".{name}.env"
    write_env_file(env_file, environment(task, address=address, endpoint=endpoint))
    try:
        argv = run_argv(task, name=name, db_host=db_host, env_file=env_file,
                        label=podman.label, detach=detach)
        if detach:
            return name, podman.run(*argv, timeout=120)
        # A one-off task (migrations): in the foreground, its output streamed, then removed.
        finished = subprocess.run(podman.argv(*argv[:1], "--rm", *argv[1:]), timeout=3600, stdout=output)
        return name, finished
    finally:
        env_file.unlink(missing_ok=True)

"""The one interface the release logic drives; an implementation per place the app runs.

release/aws.py: ECS and ECR through boto3 (tested against the emulator). release/local.py: the system
`make demo` runs on this machine (the emulator's APIs, the local registry, the runner); the gate, the
verification and the rollback are release/flow.py's for both.
"""
from __future__ import annotations

from typing import Iterable, Protocol

from image.archive import Archive
from release.model import Image, Release, ServiceStatus, TaskOutcome
from release.verify import Endpoint


class Target(Protocol):
    environment: str
    selector: str
    """The command-line arguments that name this target in advice: `--env dev` or `--local --env dev`."""
    least_tasks: int
    """The fewest tasks the configuration gives the service (autoscaling's minimum, else desired_count): a rollout
    with fewer running is not steady."""

    def push(self, archive: Archive) -> Image:
        """Copy the archive into the repository by digest (reusing it when its tag already holds that digest,
        refusing a tag that holds another); return it with its digest."""

    def find_image(self, tag: str) -> Image | None:
        """The image pushed earlier under `tag`, or None."""

    def image_by_digest(self, digest: str) -> Image | None:
        """The image the repository holds with `digest` (named by one of its tags), or None."""

    def start_migration(self, image: Image) -> str:
        """Start the migration task once on `image`; return the task's id."""

    def migration_outcome(self, task_id: str) -> TaskOutcome | None:
        """The stopped task's outcome, or None while it runs."""

    def abandon_migration(self, task_id: str) -> None:
        """The release stopped waiting for the task: remove its one-off revision (the task may still run)."""

    def migration_logs(self, task_id: str) -> Iterable[str]:
        """Log lines written since the last call (the caller prints them as they come)."""

    def create(self, image: Image) -> None:
        """The first apply of an environment that has no service: its stack with the service at 0 tasks (no
        autoscaling) on `image`; then read its outputs."""

    def apply(self, image: Image) -> str:
        """Change the service's configuration to `image`; return the task definition it now rolls towards."""

    def service_status(self) -> ServiceStatus:
        """The service's deployments and its recently stopped tasks."""

    def releases(self) -> list[Release]:
        """What the service runs, then what it ran before, newest first (its task definition revisions)."""

    def rollback_image(self, to: str | None) -> Image:
        """The image a rollback goes back to: `to` (tag or digest), else the one that ran before the current."""

    def alarms_in_alarm(self) -> dict[str, str]:
        """The service's deployment alarms in ALARM now: name -> CloudWatch's reason."""

    def running_image(self) -> Image | None:
        """The image the service runs now (None before the first release)."""

    def gate_missing(self) -> str | None:
        """Why the compatibility gate cannot run where this release runs (root, podman, PostgreSQL), or None."""

    def check_compatibility(self, running: Image, new: Image) -> str | None:
        """release/gate.py: None when `running` still works on the schema after `new`'s migrations, else what
        failed (the step and the app's words)."""

    def mark_verified(self) -> None:
        """Mark the revision the service runs as verified: what a later rollback may return to."""

    def endpoint(self) -> Endpoint:
        """Where users reach the app (release/verify.py calls it there)."""

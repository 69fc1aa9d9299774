"""What the release steps pass between them: images, a stopped task, a service's deployments, the error."""
from __future__ import annotations

from dataclasses import dataclass, field


class ReleaseError(Exception):
    """A release step failed or was refused. The message says what happened and what to do next;
    `changed` says whether anything was changed before it stopped."""

    exit_code = 1

    def __init__(self, message: str, *, changed: bool = False) -> None:
        super().__init__(message)
        self.changed = changed


class BadInput(ReleaseError):
    """Refused before anything was changed (unknown environment, dirty tree, existing tag, missing output)."""

    exit_code = 2


@dataclass(frozen=True)
class Image:
    """One pushed image: where it is, the tag it was pushed with, and its immutable digest."""

    repository_url: str
    """e.g. 123456789012.dkr.ecr.us-east-1.amazonaws.com/notes-dev/app"""
    tag: str
    """The git commit (short), or `<commit>-dirty-<hash>` when pushed with --allow-dirty."""
    digest: str
    """sha256:... of the manifest: what the task definitions pin."""

    @property
    def pinned(self) -> str:
        return f"{self.repository_url}@{self.digest}"


@dataclass(frozen=True)
class TaskOutcome:
    """A stopped one-off task, as ECS (or the local runner) describes it."""

    task_id: str
    exit_code: int | None
    """The essential container's exit code; None when it never ran (e.g. the image could not be pulled)."""
    stopped_reason: str
    """ECS's stoppedReason; "Essential container in task exited" is what a normal exit says."""
    container_reason: str = ""

    # ECS sets this stoppedReason when the container ended by itself: it is not a failure on its own.
    NORMAL_STOP = "Essential container in task exited"

    @property
    def failure(self) -> str | None:
        """Why the task counts as failed, or None when it exited 0 by itself."""
        if self.exit_code is None:
            return f"the container never exited normally: {self.stopped_reason or 'no reason given'}" + (
                f" ({self.container_reason})" if self.container_reason else "")
        if self.exit_code != 0:
            return f"it exited with code {self.exit_code}"
        if self.stopped_reason and self.stopped_reason != self.NORMAL_STOP:
            return f"it was stopped: {self.stopped_reason}"
        return None


@dataclass(frozen=True)
class Deployment:
    """One of the service's deployments (ECS DescribeServices `deployments`)."""

    status: str
    """PRIMARY (the one ECS is rolling towards), ACTIVE (being drained) or INACTIVE."""
    task_definition: str
    rollout_state: str
    """IN_PROGRESS, COMPLETED or FAILED (the circuit breaker gave up on it)."""
    rollout_reason: str = ""
    desired: int = 0
    running: int = 0
    failed_tasks: int = 0


@dataclass(frozen=True)
class ServiceStatus:
    deployments: tuple[Deployment, ...]
    stopped_tasks: tuple[TaskOutcome, ...] = field(default=())
    """Recently stopped tasks of the service, for the message when a rollout fails."""


@dataclass(frozen=True)
class Release:
    """One revision of the service's task definition family and the image it runs (ECS's record of a release)."""

    task_definition: str
    image: str
    """The essential container's image, as the revision names it (repository@sha256:... for a release)."""
    verified: str = ""
    """When a release verified the service on it (its infra.config.VERIFIED_TAG), or "" if none did."""

    @property
    def digest(self) -> str:
        """The pinned digest, or "" for an image named by tag."""
        _, _, digest = self.image.partition("@")
        return digest if digest.startswith("sha256:") else ""

"""The release logic every target shares: the migration gate, the honest rollout check, the rollback.

No step here knows whether it drives AWS or the local runner: each asks the `Target`.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

from image.archive import Archive
from local.progress import say
from release.model import Image, ReleaseError, ServiceStatus, TaskOutcome
from release.target import Target
from release.verify import VerifyError, check


PROGRESS_EVERY = 10.0  # seconds between two progress lines while waiting


@dataclass(frozen=True)
class Timing:
    """How long to wait and how often to ask; the defaults suit AWS (a Fargate task starts in ~1 min)."""

    migration_timeout: float = 1800.0
    """Seconds to wait for the migration task to stop."""
    rollout_timeout: float = 1800.0
    """Seconds to wait for the service to be steady on the new task definition (the circuit breaker
    usually decides within 10-30 minutes)."""
    poll: float = 10.0
    """Seconds between two questions to the target."""
    ready_timeout: float = 120.0
    """Seconds the verification waits for `/ready` to answer 200 once the service is steady."""


def _wait(check: Callable[[], object], timeout: float, poll: float, sleep=time.sleep,
          clock=time.monotonic, on_tick: Callable[[float], None] | None = None):
    """check() until it returns something other than None, or `timeout` seconds pass (then None)."""
    started = clock()
    while True:
        result = check()
        if result is not None:
            return result
        elapsed = clock() - started
        if elapsed > timeout:
            return None
        if on_tick:
            on_tick(elapsed)
        sleep(poll)


def create(target: Target, archive: Archive) -> None:
    """The first release of an environment that has no service yet: apply its stack with the service at 0 tasks and
    no autoscaling (everything the push and the migration need), so that no task can serve before the first
    migration has made the schema. The release's own apply (`deploy`) then gives the service its tasks."""
    say(f"==> {target.environment} has no service yet: applying its stack with the service at 0 tasks (they start "
        "only after the first migration)")
    target.create(Image(repository_url=target.outputs.repository_url, tag=archive.tag, digest=archive.digest))
    say(f"==> {target.environment}'s stack is applied; its service runs no task yet")


def gate(target: Target, image: Image, skip: bool = False) -> None:
    """The compatibility gate (release/gate.py), before the migration: the running release must keep working on the
    schema `image`'s migrations make, or nothing is changed. `skip`: the release said --skip-gate."""
    if skip:
        say("==> compatibility gate: skipped (--skip-gate): nothing checks that the running release works on the "
            "schema this release's migrations make")
        return
    running = target.running_image()
    if running is None:
        say("==> compatibility gate: no running release whose image the repository holds: none to keep working")
        return
    if running.digest == image.digest:
        say(f"==> compatibility gate: the service already runs {image.tag or image.digest}")
        return
    shown = running.tag or running.digest
    failure = target.check_compatibility(running, image)
    if failure:
        raise ReleaseError(
            f"the compatibility gate stopped the release: {failure}. During the rollout the running release "
            f"{shown} would serve on that schema, and a rollback would run it there. The migration was not run and "
            "the service was not changed. Split the change in two releases: first expand (add; code that works on "
            "both schemas), then, once that runs everywhere, contract (remove): README 'Expand, then contract'",
            changed=False)
    say(f"==> compatibility gate passed: {shown} works on the new schema")


def migrate(target: Target, image: Image, timing: Timing = Timing(), sleep=time.sleep) -> TaskOutcome:
    """Run the migration once on `image`, print its log as it comes, and raise unless it exited 0."""
    task_id = target.start_migration(image)
    say(f"==> migration task {task_id} started on {image.pinned}; waiting for it to stop")

    def stopped() -> TaskOutcome | None:
        for line in target.migration_logs(task_id):
            say(f"    | {line}")
        return target.migration_outcome(task_id)

    outcome = _wait(stopped, timing.migration_timeout, timing.poll, sleep=sleep)
    for line in target.migration_logs(task_id):  # what was written between the last read and the stop
        say(f"    | {line}")
    if outcome is None:
        target.abandon_migration(task_id)
        raise ReleaseError(
            f"the migration task {task_id} did not stop within {timing.migration_timeout:.0f} s; the service "
            "was not changed. Look at the task in the ECS console (or `aws ecs describe-tasks`), stop it, "
            "and run `python -m release migrate` again", changed=False)
    if outcome.failure:
        raise ReleaseError(
            f"the migration failed: {outcome.failure} (task {task_id}). The service was not changed and still "
            "runs the previous image. Fix the migration (its log is above), push a new commit and release again",
            changed=False)
    say(f"==> migration task {task_id} exited 0")
    return outcome


def rollout_verdict(status: ServiceStatus, expected: str, least: int = 0) -> str | None:
    """None while the rollout to `expected` goes on; "" once steady on it with at least `least` tasks running
    (a count still 0 right after a first release's apply is not steady: Application Auto Scaling raises it);
    otherwise why it failed."""
    primary = [d for d in status.deployments if d.status == "PRIMARY"]
    failed = [d for d in status.deployments if d.task_definition == expected and d.rollout_state == "FAILED"]
    if not primary:
        return "the service has no PRIMARY deployment (was it deleted?)"
    why = (failed[0].rollout_reason if failed else "") or "no reason given"
    if primary[0].task_definition != expected:
        # The circuit breaker's rollback: a new PRIMARY deployment on the previous task definition.
        return f"the deployment of {expected} failed and ECS rolled the service back to {primary[0].task_definition}: {why}"
    if failed:
        return f"the deployment of {expected} failed: {why}"
    if primary[0].rollout_state == "COMPLETED" and len(status.deployments) == 1 \
            and primary[0].running == primary[0].desired >= least:
        return ""
    return None


def _stopped_reasons(status: ServiceStatus) -> str:
    if not status.stopped_tasks:
        return "no stopped tasks were found"
    return "; ".join(f"task {t.task_id}: {t.stopped_reason or 'no reason'}"
                     + (f" ({t.container_reason})" if t.container_reason else "")
                     + (f", exit code {t.exit_code}" if t.exit_code is not None else "")
                     for t in status.stopped_tasks)


def _progress(status: ServiceStatus, expected: str) -> str:
    new = [d for d in status.deployments if d.task_definition == expected]
    running = f"{new[0].running} of {new[0].desired} new tasks running" if new else "the new deployment not started yet"
    return f"{running}, {len(status.deployments)} deployment(s)"


def deploy(target: Target, image: Image, timing: Timing = Timing(), sleep=time.sleep) -> str:
    """Point the service at `image`, wait until it is steady on the new task definition."""
    say(f"==> deploying {image.pinned} to {target.environment}")
    already = target.alarms_in_alarm()
    if already:
        # Amazon ECS Developer Guide, "How CloudWatch alarms detect Amazon ECS deployment failures": an alarm in
        # ALARM when the deployment starts is not watched during it.
        say(f"==> note: {', '.join(already)} already in ALARM: ECS will not roll this deployment back on "
            f"{'it' if len(already) == 1 else 'them'}; the circuit breaker and the verification below still judge it")
    expected = target.apply(image)
    say(f"==> waiting for the service to be steady on {expected}")
    last: list[ServiceStatus] = []

    def verdict() -> str | None:
        last[:] = [target.service_status()]
        return rollout_verdict(last[0], expected, target.least_tasks)

    shown = [-PROGRESS_EVERY]

    def progress(elapsed: float) -> None:
        if elapsed - shown[0] >= PROGRESS_EVERY:
            shown[0] = elapsed
            say(f"    ... {elapsed:.0f} s: {_progress(last[0], expected)}")

    result = _wait(verdict, timing.rollout_timeout, timing.poll, sleep=sleep, on_tick=progress)
    if result is None:
        raise ReleaseError(
            f"the service did not reach a steady state on {expected} within {timing.rollout_timeout:.0f} s. "
            f"Stopped tasks: {_stopped_reasons(last[0]) if last else 'unknown'}. Look at the service's events; "
            f"to go back, run `python -m release rollback {target.selector}`", changed=True)
    if result:
        alarms = {name: why for name, why in target.alarms_in_alarm().items() if name not in already}
        if alarms:
            result += "; the deployment alarm(s) that went off: " + ", ".join(f"{n} ({why})" for n, why in alarms.items())
        raise ReleaseError(
            f"{result}. Stopped tasks: {_stopped_reasons(last[0])}. The release FAILED even though the "
            "configuration was applied: fix the cause, then release again or run "
            f"`python -m release rollback {target.selector}` to make the configuration match", changed=True)
    say(f"==> {target.environment} is steady on {image.pinned}")
    return expected


def verify(target: Target, image: Image, timing: Timing = Timing(), sleep=time.sleep) -> None:
    """Call the app where users arrive (release/verify.py): the release passes only if it works there."""
    endpoint = target.endpoint()
    say(f"==> verifying {image.tag or image.digest} through {endpoint.shown}")
    try:
        check(endpoint, ready_timeout=timing.ready_timeout, poll=min(timing.poll, 5.0), sleep=sleep)
    except VerifyError as error:
        raise ReleaseError(
            f"the service is steady on {image.pinned} but does not work where users arrive: {error}. The "
            f"release FAILED: roll back with `python -m release rollback {target.selector}` (the image before), "
            "then fix the cause and release again", changed=True) from None
    target.mark_verified()


def rollback(target: Target, to: str | None = None, timing: Timing = Timing(), sleep=time.sleep) -> Image:
    """Redeploy the image of the newest earlier revision that ran another one (or `to`), from ECS's record: no
    migration (schemas only move forward), then verify it."""
    image = target.rollback_image(to)
    say(f"==> rolling {target.environment} back to {image.pinned} (tag {image.tag or 'none'})")
    deploy(target, image, timing, sleep=sleep)
    verify(target, image, timing, sleep=sleep)
    return image


def release(target: Target, image: Image, timing: Timing = Timing(), sleep=time.sleep) -> None:
    """The gates: the running release must work on the new schema, then migrate; the service is touched only
    when the migration exited 0; then verify."""
    gate(target, image)
    migrate(target, image, timing, sleep=sleep)
    deploy(target, image, timing, sleep=sleep)
    verify(target, image, timing, sleep=sleep)

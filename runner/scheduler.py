"""The supervisor: a small background process that keeps the service's tasks as ECS's scheduler would.

Every `tick` seconds it compares what runs (podman containers, HAProxy slot states) with what is wanted
(<workdir>/runner/desired.json, written by `python -m runner up`) and makes one step towards it:
- desired-count tasks of the service's task definition, each in a free slot (its own loopback address);
- a rolling deploy within maximumPercent (tasks of any revision, running) and minimumHealthyPercent
  (tasks healthy in the load balancer): start new ones, drain old ones once enough new ones are healthy;
- leaving tasks drain for the deregistration delay, then get SIGTERM and, after stopTimeout, SIGKILL;
- a task whose container stopped is deregistered and replaced.
- the deployment circuit breaker, when the service enables it: once as many new tasks as ECS's threshold
  (half the desired count, at least 3) stopped before becoming healthy, the rollout FAILED; with
  `rollback`, the tasks of the previous deployment become the target again, as ECS rolls back.
- the desired count: read from the emulator every COUNT_EVERY seconds, as ECS follows a count that an apply or
  Application Auto Scaling changed (emulator patch n), without a new deployment: tasks start or drain.
It reports in <workdir>/runner/status.json; `up` and `python -m release --local` read that file. It is
not an orchestrator: no placement, no health-check grace period, and it does not replace a task that
runs but fails its health checks (ECS would). A rollback is not written back to the emulator's service.
"""

from __future__ import annotations

import math
import signal
import sys
import time
import traceback
from dataclasses import dataclass, replace

from runner import deployment as deployed
from runner import tasks as podman_tasks
from runner.balancer import Balancer
from runner.layout import Layout


COUNT_EVERY = 2.0
"""Seconds between two reads of the service's desired count on the emulator."""


@dataclass
class Task:
    name: str
    slot: int
    arn: str
    state: str  # starting -> serving -> draining -> stopping
    since: float
    drain_until: float = 0.0


def log(line: str) -> None:
    """A line of the supervisor's log (its stdout), with the time."""
    print(time.strftime("%H:%M:%S ") + line, flush=True)


class Supervisor:
    def __init__(self, layout: Layout, tick: float = 1.0) -> None:
        self.layout = layout
        self.tick = tick
        self.balancer = Balancer(layout.folder)
        self.podman = layout.podman()
        self.tasks: list[Task] = [Task(**t) for t in layout.read(layout.tasks_file, [])]
        self.generation = -1
        self.deployment: deployed.Deployment | None = None
        self.stopping = False
        self.failed: dict[str, int] = {}  # task definition -> its tasks that stopped before becoming healthy
        self.stopped: list[dict] = []  # the deployment's stopped tasks, newest last (release messages show them)
        self.failure = ""  # why the circuit breaker stopped this deployment's rollout
        self.failed_arn = ""
        self.count_read = 0.0

    def follow_count(self) -> None:
        """The service's desired count as the emulator has it now; the deployment is otherwise unchanged."""
        if time.monotonic() - self.count_read < COUNT_EVERY:
            return
        self.count_read = time.monotonic()
        d = self.deployment
        wanted = deployed.desired_count(d.endpoint, d.cluster, d.service, d.region)
        count = min(wanted, self.layout.slots * 100 // max(d.maximum_percent, 100))
        if count != d.desired_count:
            log(f"desired count {d.desired_count} -> {count}" + (
                f" (the service asks {wanted}, but {wanted} x maximumPercent {d.maximum_percent} needs more than "
                f"the runner's {self.layout.slots} task addresses)" if wanted != count else ""))
            self.deployment = replace(d, desired_count=count)

    def load_desired(self) -> None:
        desired = self.layout.read(self.layout.desired_file, None)
        if desired and desired["generation"] != self.generation:
            self.deployment = deployed.read(desired["endpoint"], desired["cluster"], desired["service"],
                                            desired["registry"], desired["region"])
            self.generation = desired["generation"]
            self.failed, self.stopped, self.failure, self.failed_arn = {}, [], "", ""
            log(f"deployment {self.generation}: {self.deployment.task.family}:{self.deployment.task.revision}, "
                f"{self.deployment.desired_count} tasks")

    def step(self) -> None:
        d = self.deployment
        containers = self.podman.containers()
        states = self.balancer.states()
        now = time.time()
        for t in list(self.tasks):
            alive = containers.get(t.name) == "running"
            if t.state in ("starting", "serving") and not alive:
                log(f"task {t.name} stopped ({containers.get(t.name, 'gone')}): deregistered, to be replaced")
                self.stopped = self.stopped[-9:] + [{"name": t.name, "arn": t.arn, "before_healthy": t.state == "starting",
                                                     "exit_code": self.podman.exit_code(t.name)}]
                if t.state == "starting":
                    self.failed[t.arn] = self.failed.get(t.arn, 0) + 1
                self.balancer.deregister(t.slot)
                self.podman.stop(t.name, 0)
                t.state, t.since = "stopping", now
            elif t.state == "starting" and states.get(t.slot) == "UP":
                log(f"task {t.name} healthy in the load balancer after {now - t.since:.0f} s")
                t.state, t.since = "serving", now
            elif t.state == "draining" and now >= t.drain_until:
                log(f"task {t.name} drained: SIGTERM, SIGKILL after {d.task.stop_timeout} s")
                self.balancer.deregister(t.slot)
                self.podman.stop(t.name, d.task.stop_timeout)
                t.state, t.since = "stopping", now
            elif t.state == "stopping" and t.name not in containers:
                self.tasks.remove(t)

        d = self.circuit_breaker(d)
        active = [t for t in self.tasks if t.state in ("starting", "serving")]
        new = [t for t in active if t.arn == d.task.arn]
        old = [t for t in active if t.arn != d.task.arn]
        healthy = sum(t.state == "serving" for t in active)
        most = math.floor(d.desired_count * d.maximum_percent / 100)
        least = math.ceil(d.desired_count * d.minimum_healthy_percent / 100)
        used = {t.slot for t in self.tasks}
        free = [s for s in range(len(self.layout.addresses)) if s not in used]
        while self.failed_arn != d.task.arn and len(new) < d.desired_count and len(new) + len(old) < max(most, 1) and free:
            new.append(self.start(d, free.pop(0)))
        # Tasks still starting never got traffic: stop them first; healthy ones only while enough stay healthy.
        surplus = old + new[d.desired_count:]
        for t in sorted(surplus, key=lambda t: t.state != "starting"):
            if t.state == "starting":
                self.leave(t, now, drain=False)
            elif healthy - 1 >= least:
                self.leave(t, now, drain=True)
                healthy -= 1

        steady = (len(new) == d.desired_count and all(t.state == "serving" for t in new)
                  and len(self.tasks) == len(new))
        self.layout.write(self.layout.tasks_file, [t.__dict__ for t in self.tasks])
        self.layout.write(self.layout.status_file, {"generation": self.generation, "primary": d.task.arn, "steady": steady,
                                         "healthy": healthy, "desired_count": d.desired_count,
                                         "failure": self.failure, "failed_task_definition": self.failed_arn,
                                         "stopped": self.stopped, "tasks": [t.__dict__ for t in self.tasks]})

    def circuit_breaker(self, d: deployed.Deployment) -> deployed.Deployment:
        """ECS's deployment circuit breaker: the deployment to run from now on (the previous one after a rollback)."""
        threshold = min(max(math.ceil(d.desired_count / 2), 3), 200)  # ECS's failure threshold
        if not d.circuit_breaker or self.failed_arn or self.failed.get(d.task.arn, 0) < threshold:
            return d
        self.failed_arn = d.task.arn
        self.failure = (f"the deployment circuit breaker stopped the rollout of {d.task.family}:{d.task.revision}: "
                        f"{self.failed[d.task.arn]} of its tasks stopped before becoming healthy")
        log(self.failure)
        previous = sorted({t.arn for t in self.tasks if t.arn != d.task.arn and t.state in ("starting", "serving")})
        if not (d.rollback and len(previous) == 1):
            return d  # no new task is started; what runs keeps running
        log(f"rolling back to {previous[0]}")
        registry = self.layout.read(self.layout.desired_file)["registry"]
        self.deployment = replace(d, task=deployed.read_task(previous[0], d.endpoint, d.region, registry))
        return self.deployment

    def start(self, d: deployed.Deployment, slot: int) -> Task:
        # ECS resolves the secrets at every task start: a rotated password reaches new tasks.
        task = deployed.read_task(d.task.arn, d.endpoint, d.region, self.layout.read(self.layout.desired_file)["registry"])
        name, _ = podman_tasks.start(self.podman, task, address=self.layout.addresses[slot],
                                     db_host=(task.environment.get("DB_HOST"), self.layout.db_address)
                                     if task.environment.get("DB_HOST") else None,
                                     endpoint=d.endpoint, prefix=self.layout.prefix)
        self.balancer.register(slot)
        log(f"task {name} started on {self.layout.addresses[slot]}")
        t = Task(name=name, slot=slot, arn=task.arn, state="starting", since=time.time())
        self.tasks.append(t)
        return t

    def leave(self, t: Task, now: float, drain: bool) -> None:
        if drain:
            log(f"task {t.name} draining for {self.deployment.deregistration_delay} s")
            self.balancer.drain(t.slot)
            t.state, t.drain_until = "draining", now + self.deployment.deregistration_delay
        else:
            self.balancer.deregister(t.slot)
            self.podman.stop(t.name, self.deployment.task.stop_timeout)
            t.state, t.since = "stopping", now

    def run(self) -> None:
        signal.signal(signal.SIGTERM, lambda *_: setattr(self, "stopping", True))
        while not self.stopping:
            try:
                self.load_desired()
                if self.deployment:
                    self.follow_count()
                    self.step()
            except Exception as error:  # noqa: BLE001 - a supervisor keeps going; the error is reported
                log(f"error: {error}")
                traceback.print_exc(file=sys.stdout)
                status = self.layout.read(self.layout.status_file, {})
                self.layout.write(self.layout.status_file, status | {"error": str(error)})
            time.sleep(self.tick)
        log("supervisor stopped (tasks keep running until `python -m runner down`)")

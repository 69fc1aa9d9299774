"""`make demo` / `make demo-down`: deploy an environment's stack onto the local AWS emulator (moto on
127.0.0.1), no AWS account; then destroy it and stop the emulator.

    python -m tools.demo up   [--stack NAME] [--workdir .local-deploy] [--endpoint URL] [--port N] [--image-tag T]
    python -m tools.demo down [--stack NAME] [--workdir .local-deploy] [--endpoint URL]

`up` checks the tools, starts the emulator in the background (or reuses the one it started before),
builds the app's image from app/Dockerfile and pushes it to a local registry (tagged with the git
commit), synthesizes the bootstrap stack and the chosen stack (default: the first environment in
infra/environments.py) with that tag, pointed at the emulator, applies the bootstrap stack (the
Terraform state bucket, local state in the work folder), then runs `terraform init` (S3 backend in that
bucket, S3-native locking), `plan` and `apply` for the stack, and finally runs what was deployed on this
machine (`python -m runner up`: PostgreSQL with TLS, the tasks as containers, HAProxy as the load
balancer) and prints the URL that answers. Run again after changing the app: a new image, a new task
definition, a rolling deploy. `down` stops the containers, destroys the stack and stops the registry and
the emulator.

With `--endpoint` both use an emulator that is already running and never start or stop one.
Everything written stays in the work folder (synthesized JSON, the bootstrap stack's local state, a log
of every run, the emulator's pidfile and log); nothing touches cdktf.out/ or the real bootstrap state,
and no AWS credentials are read (fake ones are set for every run).

Exit codes: 0 done, 1 a step failed (the message says which and what to do), 2 a tool is missing or the
configuration is invalid.
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from local import EMULATOR_KEY, WORKDIR, paths
from emulator.server import is_answering, running_endpoint, start_background, stop_background
from runner.image import image_tag
from tools.terraform import (
    BOOTSTRAP, BOOTSTRAP_STATE, PROVIDER, ROOT, DeployError, LocalDeployment, Step, check_tools,
    loopback_endpoint, managed,
)


def environments_config() -> dict:
    from infra import environments

    return environments.ENVIRONMENTS


def _say(line: str) -> None:
    print(line, flush=True)


def _duration(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 90 else f"{int(seconds // 60)} min {seconds % 60:02.0f} s"


@dataclass
class Progress:
    total: int
    timings: list[tuple[str, float]] = field(default_factory=list)
    _n: int = 0

    def step(self, title: str) -> "_Timed":
        self._n += 1
        return _Timed(self, f"[{self._n}/{self.total}] {title}")


class _Timed:
    def __init__(self, progress: Progress, title: str) -> None:
        self.progress, self.title = progress, title

    def __enter__(self) -> "_Timed":
        self.started = time.monotonic()
        _say(f"==> {self.title} ...")
        return self

    def __exit__(self, kind: object, exc: object, tb: object) -> None:
        seconds = time.monotonic() - self.started
        self.progress.timings.append((self.title.split("] ", 1)[1], seconds))
        _say(f"    {'done' if kind is None else 'FAILED'} in {_duration(seconds)}")


def _emulator(workdir: Path, port: int) -> tuple[str, bool]:
    """(endpoint, started now): reuse the emulator this tool started before if it still answers."""
    pidfile = workdir / "emulator.pid"
    endpoint = running_endpoint(pidfile)
    if endpoint:
        return endpoint, False
    stop_background(pidfile)  # stale: its process is gone (and with it what it held)
    # A new emulator is empty: a bootstrap state left by an earlier one describes nothing, and the
    # logs of the earlier session end here.
    for stale in workdir.glob(BOOTSTRAP_STATE + "*"):
        stale.unlink()
    shutil.rmtree(workdir / "logs", ignore_errors=True)
    workdir.mkdir(parents=True, exist_ok=True)
    return start_background(pidfile, port=port, logfile=workdir / "emulator.log"), True


def _fail(step: Step, what: str, advice: str) -> DeployError:
    return DeployError(f"{what} failed (exit {step.returncode}, log {step.log}):\n{step.errors()}\n\n{advice}")


def up(args: argparse.Namespace) -> int:
    workdir = Path(args.workdir).resolve()
    stack = args.stack
    progress = Progress(total=11)
    config = environments_config()[stack]
    started = time.monotonic()
    with progress.step("checking the paths, terraform, node and the AWS provider"):
        paths.check_workdir(workdir)  # before anything starts: a path over a limit (local.paths) exits 2
        tools = check_tools()
        provider_source = (f"mirror {tools.mirror}" if tools.mirror
                           else "registry.terraform.io (no mirror: Terraform downloads it)")
        _say(f"    terraform {'.'.join(map(str, tools.terraform_version))}, node at {tools.node}, "
             f"{PROVIDER} from {provider_source}")
    started_here = False
    with progress.step("starting the AWS emulator (moto) on 127.0.0.1"):
        if args.endpoint:
            endpoint = loopback_endpoint(args.endpoint)
            if not is_answering(endpoint):
                raise DeployError(f"no emulator answers at {endpoint}")
            _say(f"    using the emulator at {endpoint} (--endpoint: it is not started or stopped here)")
        else:
            endpoint, started_here = _emulator(workdir, args.port)
            _say(f"    {'started' if started_here else 'reusing the one started earlier'}: {endpoint}")
    deployment = LocalDeployment(endpoint, workdir, stack, terraform=tools.terraform,
                                 say=_say)
    applying = False
    try:
        with progress.step("building the app image from app/Dockerfile (buildah, no Docker daemon)"):
            tag = image_tag(ROOT / "app")  # the git commit; fixed here, so a commit landing meanwhile changes nothing
            step = deployment.run("image-build", [sys.executable, "-m", "runner.image", "build", "--tag", tag],
                                  cwd=ROOT, heartbeat=30)
            if not step.ok:
                raise _fail(step, "building the image", "Fix the error above and run again.")
            _say(f"    tag {tag}")
        with progress.step(f"synthesizing the bootstrap and {stack} stacks for the emulator (IMAGE_TAG={tag})"):
            step = deployment.synth(tag)
            if not step.ok:
                raise _fail(step, "synthesis (python main.py)", "Fix the error above and run again.")
        with progress.step("applying the bootstrap stack (the Terraform state bucket)"):
            for step in (deployment.init(BOOTSTRAP), deployment.apply(BOOTSTRAP, plan_file=None, heartbeat=20)):
                if not step.ok:
                    raise _fail(step, f"terraform {step.argv[1]} of the bootstrap stack", "Fix the error above and run again.")
        with progress.step(f"terraform init ({stack}: S3 backend in the state bucket, lock file)"):
            step = deployment.init(stack)
            if not step.ok:
                raise _fail(step, f"terraform init of {stack}", "Fix the error above and run again.")
        with progress.step(f"terraform plan ({stack})"):
            step = deployment.plan(stack)
            if not step.ok:
                raise _fail(step, f"terraform plan of {stack}", "Fix the error above and run again.")
            planned = re.search(r"Plan: (\d+) to add, (\d+) to change, (\d+) to destroy", step.output)
            _say(f"    {planned.group(0) if planned else 'No changes.'}")
        applying = True
        with progress.step(f"terraform apply ({stack})"):
            if planned and int(planned.group(1)):
                _say("    the provider waits for the database as it would on AWS: about 2 minutes")
            step = deployment.apply(stack, heartbeat=20)
            if not step.ok:
                created = managed(deployment.state_list(stack))
                raise _fail(step, f"terraform apply of {stack}", (
                    f"The apply stopped half-way: {len(created)} resources were created and are recorded in "
                    f"the state (s3://{deployment.stack_json(stack)['terraform']['backend']['s3']['bucket']}/"
                    f"{deployment.stack_json(stack)['terraform']['backend']['s3']['key']} in the emulator), so "
                    "the state matches what exists. The emulator keeps running so that you can either fix the "
                    "cause and run `make demo` again (it continues from the state), or remove everything with "
                    "`make demo-down`."))
            applied = re.search(r"Resources: (\d+) added, (\d+) changed, (\d+) destroyed", step.output)
            _say(f"    {applied.group(0) if applied else 'No changes.'}")
        with progress.step(f"reading the outputs of {stack}"):
            outputs = deployment.outputs(stack)
        with progress.step("pushing the image to a local registry, as the stack's ECR repository"):
            repository = str(outputs["ecr_repository_url"]).split("/", 1)[1]
            step = deployment.run("image-push", [sys.executable, "-m", "runner.image", "push", "--repository",
                                                 repository, "--tag", tag, "--workdir", str(workdir)], cwd=ROOT,
                                  heartbeat=30)
            if not step.ok:
                raise _fail(step, "pushing the image", "Fix the error above and run `make demo` again.")
            image = json.loads((workdir / "image.json").read_text())
            _say(f"    {image['reference']} ({image['size']}), {image['digest']}")
        with progress.step("running the deployed service here: PostgreSQL, the tasks (podman), HAProxy"):
            argv = [sys.executable, "-m", "runner", "up", "--endpoint", endpoint, "--region", config.region,
                    "--cluster", outputs["cluster_name"], "--service", outputs["service_name"],
                    "--registry", image["registry"], "--workdir", str(workdir)]
            if config.service.migrations == "task":
                argv.append("--migrate")
            step = deployment.run("runner-up", argv, cwd=ROOT, heartbeat=20)
            if not step.ok:
                raise _fail(step, "running the service (python -m runner up)",
                            "The stack stays deployed on the emulator. Fix the error above and run `make demo` "
                            "again, or `make demo-down` to stop everything.")
            url = step.output.strip().splitlines()[-1]
    except BaseException:
        if started_here and not applying:
            stop_background(workdir / "emulator.pid")  # nothing was deployed: leave nothing running
            _say("    the emulator started for this run was stopped again")
        raise
    total = time.monotonic() - started
    count = len(managed(deployment.state_list(stack)))
    width = max(len(k) for k in outputs) if outputs else 0
    _say("")
    _say(f"Deployed stack '{stack}' onto the local AWS emulator in {_duration(total)}: {count} resources.")
    for title, seconds in progress.timings:
        _say(f"  {_duration(seconds):>10}  {title}")
    _say("")
    _say(f"Outputs of {stack}:")
    for name, value in outputs.items():
        _say(f"  {name:<{width}} = {value}")
    _say("These names exist only inside the emulator: no AWS account was used. What they describe runs\n"
         f"here instead: {config.service.desired_count if not config.service.autoscaling else config.service.autoscaling.min_count} "
         f"task(s) of image {image['tag']} behind HAProxy, on a PostgreSQL that requires TLS.\n"
         f"Logs of every step: {deployment.logs}")
    _say("")
    _say(f"Open the app: {url}")
    _say("")
    if args.endpoint:
        _say(f"The emulator at {endpoint} was not started by this command and keeps running.")
    else:
        pid = (workdir / "emulator.pid").read_text().split()[0]
        _say(f"The emulator keeps running in the background (pid {pid}, {endpoint}). It holds the deployment\n"
             "in memory only: stopping it forgets everything, and nothing is written to disk but the work\n"
             f"folder {workdir}\n(and the run roots and socket in /tmp/notes-*: local/paths.py).")
        _say(f"  look around:  AWS_ENDPOINT_URL={endpoint} AWS_ACCESS_KEY_ID={EMULATOR_KEY} AWS_SECRET_ACCESS_KEY={EMULATOR_KEY} "
             f"aws ecs list-services --cluster {outputs.get('cluster_name', 'CLUSTER')} --region {args.region}")
        _say("  stop it:      make demo-down   (containers, HAProxy and PostgreSQL stop; terraform destroy; the emulator stops)")
    _say("To deploy to real AWS instead (billable): see README.md, 'Deploy to a real AWS account'.")
    return 0


def down(args: argparse.Namespace) -> int:
    workdir = Path(args.workdir).resolve()
    stack = args.stack
    pidfile = workdir / "emulator.pid"
    progress = Progress(total=4)
    with progress.step("stopping the service's containers, HAProxy and PostgreSQL (python -m runner down)"):
        stopped = subprocess.run([sys.executable, "-m", "runner", "down", "--workdir", str(workdir)], cwd=ROOT,
                                 capture_output=True, text=True, timeout=300)
        if stopped.returncode != 0:
            raise DeployError(f"python -m runner down failed (exit {stopped.returncode}):\n{stopped.stderr[-3000:]}\n"
                              "Run `make demo-down` again.")
        subprocess.run([sys.executable, "-m", "runner.registry", "stop", "--workdir", str(workdir)], cwd=ROOT,
                       capture_output=True, text=True, timeout=120)
    with progress.step("checking terraform"):
        tools = check_tools(need_node=False)
    if args.endpoint:
        endpoint = loopback_endpoint(args.endpoint)
        if not is_answering(endpoint):
            raise DeployError(f"no emulator answers at {endpoint}")
    else:
        endpoint = running_endpoint(pidfile)
        if not endpoint:
            stop_background(pidfile)
            for stale in workdir.glob(BOOTSTRAP_STATE + "*"):
                stale.unlink()
            _say("Nothing to destroy: no emulator started by `make demo` is running (what it held is gone).")
            return 0
    deployment = LocalDeployment(endpoint, workdir, stack, terraform=tools.terraform,
                                 say=_say)
    with progress.step(f"terraform destroy ({stack})"):
        if not (deployment.stack_dir() / "cdk.tf.json").exists():
            step = deployment.synth()
            if not step.ok:
                raise _fail(step, "synthesis (python main.py)", "Fix the error above and run again.")
        for step in (deployment.init(stack), deployment.destroy(stack, heartbeat=20)):
            if not step.ok:
                raise _fail(step, f"terraform {step.argv[1]} of {stack}", (
                    "The emulator keeps running so that you can run `make demo-down` again. To drop "
                    f"everything at once instead: python -m emulator stop --pidfile {pidfile}"))
        destroyed = re.search(r"Resources: (\d+) destroyed", step.output)
        _say(f"    {destroyed.group(0) if destroyed else 'nothing to destroy'}")
    with progress.step("stopping the emulator"):
        if args.endpoint:
            _say(f"    left running: {endpoint} was given with --endpoint")
        else:
            stop_background(pidfile)
            for stale in workdir.glob(BOOTSTRAP_STATE + "*"):
                stale.unlink()  # the state bucket went with the emulator's memory
            _say(f"    stopped ({endpoint})")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.demo", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, help_text in (("up", "deploy the stack onto the emulator (starting it)"),
                            ("down", "destroy the stack and stop the emulator")):
        cmd = sub.add_parser(name, help=help_text)
        cmd.add_argument("--stack", help="environment stack to deploy (default: the first in infra/environments.py)")
        cmd.add_argument("--workdir", default=str(WORKDIR), help="work folder (default .local-deploy)")
        cmd.add_argument("--endpoint", help="use this running emulator (http://127.0.0.1:PORT); never start/stop one")
        if name == "up":
            cmd.add_argument("--port", type=int, default=0, help="emulator port (default: any free port)")
    args = parser.parse_args(argv)
    try:
        from infra import environments
    except Exception as exc:  # noqa: BLE001 - any mistake in the file the user edits, as main.py reports it
        print(f"error: invalid configuration: infra/environments.py: {type(exc).__name__}: {exc}\n"
              "`make synth` shows the line; fix it and run again", file=sys.stderr)
        return 2
    args.stack = args.stack or next(iter(environments.ENVIRONMENTS))
    if args.stack not in environments.ENVIRONMENTS:
        print(f"error: --stack {args.stack!r} is not an environment in infra/environments.py; known: "
              f"{', '.join(environments.ENVIRONMENTS)}", file=sys.stderr)
        return 2
    args.region = environments.ENVIRONMENTS[args.stack].region
    try:
        return up(args) if args.command == "up" else down(args)
    except DeployError as exc:
        print(f"\nerror: {exc}", file=sys.stderr, flush=True)
        return exc.exit_code
    except paths.PathError as exc:
        print(f"\nerror: {exc}", file=sys.stderr, flush=True)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted: Terraform saved what it had done in the state; run the command again "
              "or `make demo-down`", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

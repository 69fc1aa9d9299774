"""`make demo` / `make demo-down`: deploy an environment's stack onto the local AWS emulator (moto on
127.0.0.1), no AWS account, and run it here; then destroy it and stop the emulator.

    python -m demo up   [--stack NAME] [--workdir .local-deploy] [--endpoint URL] [--port N]
    python -m demo down [--stack NAME] [--workdir .local-deploy] [--endpoint URL]

`up` checks the paths and the tools, starts the emulator in the background (or reuses the one it started
before), builds the app's image from app/Dockerfile in the background (tagged by image/tag.py: the git
commit, or `<commit>-dirty-<hash>` for uncommitted changes), synthesizes the bootstrap stack and the chosen
stack (default: the first environment in infra/environments.py) with that tag, pointed at the emulator,
applies the bootstrap stack (the Terraform state bucket, local state in the work folder) until the bucket
and its KMS key answer (the rest of that apply, the provider's fixed waits, goes on alongside), then runs
`terraform init` (S3 backend in that bucket, S3-native locking), `plan` and, once the image is built,
`apply` for the stack, waits for the bootstrap apply, pushes the image to a
local registry, and finally runs what was deployed on this machine (`python -m runner up`: PostgreSQL with
TLS, the tasks as containers, HAProxy as the load balancer) and prints the URL that answers. Each of those
is one function below, in the order `up` prints them. Run again after changing the app: a new image, a new
task definition, a rolling deploy. `down` stops the containers, destroys the stack and stops the registry
and the emulator.

`make demo ENV=prod` passes `--stack prod`: that environment in its own shape (its task count, migrations as a task
when it says so, and for an HTTPS listener a self-signed certificate for its domain imported into the emulator's
ACM and served by the runner's HAProxy: tools/terraform.py `LocalDeployment.local_certificate`). One environment
runs at a time; `down` takes the one `up` deployed, and stops the emulator instead of destroying a stack whose
database or load balancer has deletion protection (which a destroy cannot pass, here as on AWS).

With `--endpoint` both use an emulator that is already running and never start or stop one.
Everything written stays in the work folder (synthesized JSON, the bootstrap stack's local state, a log
of every run, the emulator's pidfile and log), but for the few paths whose length a tool limits
(local/paths.py); nothing touches cdktf.out/ or the real bootstrap state, and no AWS credentials are read
(fake ones are set for every run).

Exit codes: 0 done, 1 a step failed (the message says which and what to do), 2 a tool is missing, the
configuration is invalid or a path is over a limit.
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable

from local import EMULATOR_BOTO, EMULATOR_KEY, WORKDIR, paths
from local.progress import Steps, duration, say
from emulator.server import is_answering, running_endpoint, start_background, stop_background
from image.tag import TagError, commit_tag
from tools.terraform import (
    BOOTSTRAP, BOOTSTRAP_STATE, PROVIDER, ROOT, DeployError, LocalDeployment, Step, check_tools,
    loopback_endpoint, managed,
)


def environments_config() -> dict:
    from infra import environments

    return environments.ENVIRONMENTS


def _say(line: str) -> None:
    say(line, sys.stdout)  # `make demo`'s progress is what a person reads: stdout


def _forget_bootstrap_state(workdir: Path) -> None:
    """The bootstrap stack's local state describes a state bucket in the emulator's memory: when that emulator is
    gone (stopped, or never started by this folder), the state describes nothing."""
    for stale in workdir.glob(BOOTSTRAP_STATE + "*"):
        stale.unlink()


def _emulator(workdir: Path, port: int) -> tuple[str, bool]:
    """(endpoint, started now): reuse the emulator this tool started before if it still answers."""
    pidfile = workdir / "emulator.pid"
    endpoint = running_endpoint(pidfile)
    if endpoint:
        return endpoint, False
    stop_background(pidfile)  # stale: its process is gone (and with it what it held)
    # A new emulator is empty, and the logs of the earlier session end here.
    _forget_bootstrap_state(workdir)
    shutil.rmtree(workdir / "logs", ignore_errors=True)
    workdir.mkdir(parents=True, exist_ok=True)
    return start_background(pidfile, port=port, logfile=workdir / "emulator.log"), True


class AnotherStackRuns(DeployError):
    exit_code = 2


def _recorded_stack(workdir: Path) -> str | None:
    """The stack `up` last deployed in this work folder, while the emulator it started still holds it."""
    record = workdir / "demo-stack"
    if record.exists() and running_endpoint(workdir / "emulator.pid"):
        return record.read_text().strip() or None
    return None


def _fail(step: Step, what: str, advice: str) -> DeployError:
    return DeployError(f"{what} failed (exit {step.returncode}, log {step.log}):\n{step.errors()}\n\n{advice}")


def _ok(step: Step, what: str, advice: str = "Fix the error above and run again.") -> Step:
    """The step if it succeeded, else the DeployError that says what failed, its log, and `advice`."""
    if not step.ok:
        raise _fail(step, what, advice)
    return step


# -- the steps of `up`, in the order it prints them -------------------------------------------------------

def _check(workdir: Path):
    paths.check_workdir(workdir)  # before anything starts: a path over a limit (local.paths) exits 2
    tools = check_tools()
    provider_source = (f"mirror {tools.mirror}" if tools.mirror
                       else "registry.terraform.io (no mirror: Terraform downloads it)")
    _say(f"    terraform {'.'.join(map(str, tools.terraform_version))}, node at {tools.node}, "
         f"{PROVIDER} from {provider_source}")
    return tools


def _start_emulator(args: argparse.Namespace, workdir: Path) -> tuple[str, bool]:
    if args.endpoint:
        endpoint = loopback_endpoint(args.endpoint)
        if not is_answering(endpoint):
            raise DeployError(f"no emulator answers at {endpoint}")
        _say(f"    using the emulator at {endpoint} (--endpoint: it is not started or stopped here)")
        return endpoint, False
    endpoint, started_here = _emulator(workdir, args.port)
    _say(f"    {'started' if started_here else 'reusing the one started earlier'}: {endpoint}")
    return endpoint, started_here


class Background:
    """A step that runs in a thread while the next ones go on; `result()` waits for it and raises its error."""

    def __init__(self, name: str, target: Callable[[], object]) -> None:
        self._result: object = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(target,), name=name, daemon=True)
        self._thread.start()

    def _run(self, target: Callable[[], object]) -> None:
        try:
            self._result = target()
        except BaseException as error:  # noqa: BLE001 - handed to whoever calls result()
            self._error = error

    def wait(self, timeout: float | None = None) -> bool:
        """True once it has ended (whether it succeeded or not)."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def result(self) -> object:
        self.wait()
        if self._error is not None:
            raise self._error
        return self._result


def _image_tag() -> str:
    # The git commit (image/tag.py); uncommitted changes are what you run here, so they get a tag of their
    # own. Fixed here, so that a commit landing meanwhile changes nothing.
    try:
        return commit_tag(ROOT, allow_dirty=True)
    except TagError as error:
        raise DeployError(str(error)) from None


def _build_image(deployment: LocalDeployment, tag: str) -> str:
    """Build the image (run in the background: nothing before the push needs it); its tag."""
    _ok(deployment.run("image-build", [sys.executable, "-m", "image", "build", "--tag", tag], cwd=ROOT),
        "building the image")
    return tag


def _backend_check(deployment: LocalDeployment, stack: str) -> Callable[[], bool]:
    """A check, true when the stack's S3 backend can be used: its state bucket and the KMS key its alias names
    answer. The stack's JSON is read and the clients made once, not at every poll."""
    import boto3
    from botocore.exceptions import ClientError

    backend = deployment.stack_json(stack)["terraform"]["backend"]["s3"]
    options = dict(endpoint_url=deployment.endpoint, region_name=backend["region"], **EMULATOR_BOTO)
    s3, kms = boto3.client("s3", **options), boto3.client("kms", **options)

    def answers() -> bool:
        try:
            s3.head_bucket(Bucket=backend["bucket"])
            kms.describe_key(KeyId=backend["kms_key_id"])
        except ClientError:
            return False
        return True

    return answers


def _apply_bootstrap(deployment: LocalDeployment, stack: str) -> Background:
    """Apply the bootstrap stack in the background; return once the stack's backend answers.

    The provider's waits in that apply end long after the state bucket and its key exist (the lifecycle
    configuration's fixed 55 s: the README's "Demo speed"), and the stack needs only those two, so its
    init/plan/apply go on meanwhile. The apply is waited for, and its error reported, after the stack's.
    """
    _ok(deployment.init(BOOTSTRAP), "terraform init of the bootstrap stack")
    bootstrap = Background("bootstrap-apply", lambda: _ok(deployment.apply(BOOTSTRAP, plan_file=None),
                                                            "terraform apply of the bootstrap stack"))
    backend_answers = _backend_check(deployment, stack)
    started = time.monotonic()
    while not backend_answers():
        if bootstrap.wait(timeout=1):
            bootstrap.result()  # failed: its error; or ended without the backend (said below)
            if not backend_answers():
                raise DeployError("the bootstrap apply ended but the state bucket or its KMS key does not answer: "
                                  f"see {deployment.logs}; run `make demo-down`, then `make demo` again")
            break
        if time.monotonic() - started > 600:
            raise DeployError(f"the state bucket did not answer within 10 minutes of the bootstrap apply: see {deployment.logs}")
    _say(f"    the state bucket and its key answer after {time.monotonic() - started:.0f} s; "
         "the rest of the bootstrap apply goes on alongside")
    return bootstrap


def _plan(deployment: LocalDeployment, stack: str) -> int:
    """How many resources the plan adds."""
    step = _ok(deployment.plan(stack), f"terraform plan of {stack}")
    planned = re.search(r"Plan: (\d+) to add, (\d+) to change, (\d+) to destroy", step.output)
    _say(f"    {planned.group(0) if planned else 'No changes.'}")
    return int(planned.group(1)) if planned else 0


def _apply(deployment: LocalDeployment, stack: str, adding: int) -> None:
    if adding:
        _say("    the provider waits for the database as it would on AWS: about 2 minutes")
    step = deployment.apply(stack, heartbeat=20)
    if not step.ok:
        created = managed(deployment.state_list(stack))
        backend = deployment.stack_json(stack)["terraform"]["backend"]["s3"]
        raise _fail(step, f"terraform apply of {stack}", (
            f"The apply stopped half-way: {len(created)} resources were created and are recorded in "
            f"the state (s3://{backend['bucket']}/{backend['key']} in the emulator), so "
            "the state matches what exists. The emulator keeps running so that you can either fix the "
            "cause and run `make demo` again (it continues from the state), or remove everything with "
            "`make demo-down`."))
    applied = re.search(r"Resources: (\d+) added, (\d+) changed, (\d+) destroyed", step.output)
    _say(f"    {applied.group(0) if applied else 'No changes.'}")


def _push_image(deployment: LocalDeployment, outputs: dict, tag: str, workdir: Path) -> dict:
    repository = str(outputs["ecr_repository_url"]).split("/", 1)[1]
    _ok(deployment.run("image-push", [sys.executable, "-m", "image", "push", "--repository", repository, "--tag", tag,
                                      "--workdir", str(workdir)], cwd=ROOT, heartbeat=30),
        "pushing the image", "Fix the error above and run `make demo` again.")
    image = json.loads((workdir / "image.json").read_text())
    _say(f"    {image['reference']} ({image['size']}), {image['digest']}")
    return image


def _run_service(deployment: LocalDeployment, args: argparse.Namespace, endpoint: str, outputs: dict,
                 image: dict, workdir: Path) -> str:
    """`python -m runner up` on what was deployed; its URL."""
    config = environments_config()[args.stack]
    argv = [sys.executable, "-m", "runner", "up", "--endpoint", endpoint, "--region", config.region,
            "--cluster", outputs["cluster_name"], "--service", outputs["service_name"],
            "--registry", image["registry"], "--workdir", str(workdir)]
    if config.service.migrations == "task":
        argv.append("--migrate")
    certified = deployment.local_certificate()
    if certified:
        argv += ["--certificate", str(certified[0].bundle)]
    step = _ok(deployment.run("runner-up", argv, cwd=ROOT, heartbeat=20), "running the service (python -m runner up)",
               "The stack stays deployed on the emulator. Fix the error above and run `make demo` "
               "again, or `make demo-down` to stop everything.")
    return step.output.strip().splitlines()[-1]


def up(args: argparse.Namespace) -> int:
    workdir = Path(args.workdir).resolve()
    stack = args.stack
    progress = Steps(total=13, stream=sys.stdout)
    started = time.monotonic()
    with progress.step("checking the paths, terraform, node and the AWS provider"):
        tools = _check(workdir)
        running = _recorded_stack(workdir)
        if running and running != stack and not args.endpoint:
            raise AnotherStackRuns(f"make demo runs {running} here already, on the emulator it started: one environment at "
                              f"a time (they share the runner's addresses). Run `make demo-down` first, then "
                              f"`make demo ENV={stack}`")
    with progress.step("starting the AWS emulator (moto) on 127.0.0.1"):
        endpoint, started_here = _start_emulator(args, workdir)
        (workdir / "demo-stack").write_text(stack + "\n")
    deployment = LocalDeployment(endpoint, workdir, stack, terraform=tools.terraform, say=_say)
    applying = False
    alongside: list[Background] = []  # steps running in the background, waited for on the way out
    try:
        with progress.step("building the app image from app/Dockerfile (buildah, no Docker daemon), in the background"):
            tag = _image_tag()
            build = Background("image-build", lambda: _build_image(deployment, tag))
            alongside.append(build)
            _say(f"    tag {tag}; the next steps go on while it builds")
        with progress.step(f"synthesizing the bootstrap and {stack} stacks for the emulator (IMAGE_TAG={tag})"):
            _ok(deployment.synth(tag), "synthesis (python main.py)")
        with progress.step("applying the bootstrap stack (the Terraform state bucket) until the bucket answers"):
            bootstrap = _apply_bootstrap(deployment, stack)
            alongside.append(bootstrap)
        with progress.step(f"terraform init ({stack}: S3 backend in the state bucket, lock file)"):
            _ok(deployment.init(stack), f"terraform init of {stack}")
        with progress.step(f"terraform plan ({stack})"):
            adding = _plan(deployment, stack)
        with progress.step("the app image (built alongside the steps above)"):
            build.result()  # a failed build stops here, before anything of the stack is created
            _say(f"    built: tag {tag}")
        applying = True
        with progress.step(f"terraform apply ({stack})"):
            _apply(deployment, stack, adding)
        with progress.step("the bootstrap apply (alongside the stack's)"):
            bootstrap.result()
            _say("    done: the state bucket's versioning, encryption, lifecycle and policy are in place")
        with progress.step(f"reading the outputs of {stack}"):
            outputs = deployment.outputs(stack)
        with progress.step("pushing the image to a local registry, as the stack's ECR repository"):
            image = _push_image(deployment, outputs, tag, workdir)
        with progress.step("running the deployed service here: PostgreSQL, the tasks (podman), HAProxy"):
            url = _run_service(deployment, args, endpoint, outputs, image, workdir)
    except BaseException:
        for job in alongside:  # nothing keeps running behind the error (each ends within its timeout)
            job.wait()
        if started_here and not applying:
            stop_background(workdir / "emulator.pid")  # nothing was deployed: leave nothing running
            _say("    the emulator started for this run was stopped again")
        raise
    _summary(args, deployment, progress, time.monotonic() - started, outputs, image, url, endpoint)
    return 0


def _summary(args: argparse.Namespace, deployment: LocalDeployment, progress: Steps, total: float, outputs: dict,
             image: dict, url: str, endpoint: str) -> None:
    workdir, stack = deployment.workdir, args.stack
    config = environments_config()[stack]
    count = len(managed(deployment.state_list(stack)))
    width = max(len(k) for k in outputs) if outputs else 0
    _say("")
    _say(f"Deployed stack '{stack}' onto the local AWS emulator in {duration(total)}: {count} resources.")
    for title, seconds in progress.timings:
        _say(f"  {duration(seconds):>10}  {title}")
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
    certified = deployment.local_certificate()
    if certified:
        made, arn = certified
        _say(f"It serves HTTPS, as {stack}'s load balancer does, with a self-signed certificate for {made.domain} and\n"
             f"127.0.0.1 standing in for ACM's (imported into the emulator's ACM: {arn}).\n"
             f"Nothing trusts it until told to: curl --cacert {made.certificate} {url}\n"
             "(a browser warns once; accept it for this address only).")
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
        destroy = "the emulator stops, forgetting it" if _protected(stack) else "terraform destroy; the emulator stops"
        _say(f"  stop it:      make demo-down   (containers, HAProxy and PostgreSQL stop; {destroy})")
    _say("To deploy to real AWS instead (billable): see README.md, 'Deploy to a real AWS account'.")


def _protected(stack: str) -> list[str]:
    """What of the stack has deletion protection on (its configuration)."""
    config = environments_config()[stack]
    return [name for name, on in (("database", config.database.deletion_protection),
                                  ("load balancer", config.load_balancer.deletion_protection)) if on]


def _destroy(deployment: LocalDeployment, progress: Steps, stack: str, pidfile: Path) -> None:
    with progress.step(f"terraform destroy ({stack})"):
        if not (deployment.stack_dir() / "cdk.tf.json").exists():
            _ok(deployment.synth(), "synthesis (python main.py)")
        advice = ("The emulator keeps running so that you can run `make demo-down` again. To drop "
                  f"everything at once instead: python -m emulator stop --pidfile {pidfile}")
        _ok(deployment.init(stack), f"terraform init of {stack}", advice)
        step = _ok(deployment.destroy(stack, heartbeat=20), f"terraform destroy of {stack}", advice)
        destroyed = re.search(r"Resources: (\d+) destroyed", step.output)
        _say(f"    {destroyed.group(0) if destroyed else 'nothing to destroy'}")


def down(args: argparse.Namespace) -> int:
    workdir = Path(args.workdir).resolve()
    stack = args.stack
    pidfile = workdir / "emulator.pid"
    progress = Steps(total=4, stream=sys.stdout)
    with progress.step("stopping the service's containers, HAProxy and PostgreSQL (python -m runner down)"):
        stopped = subprocess.run([sys.executable, "-m", "runner", "down", "--workdir", str(workdir)], cwd=ROOT,
                                 capture_output=True, text=True, timeout=300)
        if stopped.returncode != 0:
            raise DeployError(f"python -m runner down failed (exit {stopped.returncode}):\n{stopped.stderr[-3000:]}\n"
                              "Run `make demo-down` again.")
        subprocess.run([sys.executable, "-m", "image.registry", "stop", "--workdir", str(workdir)], cwd=ROOT,
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
            _forget_bootstrap_state(workdir)
            _say("Nothing to destroy: no emulator started by `make demo` is running (what it held is gone).")
            return 0
    deployment = LocalDeployment(endpoint, workdir, stack, terraform=tools.terraform, say=_say)
    protected = _protected(stack)
    if protected and not args.endpoint:
        with progress.step(f"terraform destroy ({stack}): not run"):
            # RDS refuses DeleteDBInstance of a protected instance ("Cannot delete protected DB Instance", moto
            # as AWS), and ELBv2 DeleteLoadBalancer likewise: a destroy would stop half-way.
            _say(f"    {stack}'s {' and '.join(protected)} have deletion protection on, which terraform destroy cannot "
                 "pass, here as on AWS; stopping the emulator forgets all of it instead")
    else:
        _destroy(deployment, progress, stack, pidfile)
    with progress.step("stopping the emulator"):
        if args.endpoint:
            _say(f"    left running: {endpoint} was given with --endpoint")
        else:
            stop_background(pidfile)
            _forget_bootstrap_state(workdir)  # the state bucket went with the emulator's memory
            (workdir / "demo-stack").unlink(missing_ok=True)
            _say(f"    stopped ({endpoint})")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m demo", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, help_text in (("up", "deploy the stack onto the emulator (starting it)"),
                            ("down", "destroy the stack and stop the emulator")):
        cmd = sub.add_parser(name, help=help_text)
        cmd.add_argument("--stack", help=("environment stack to deploy (default: the first in infra/environments.py)"
                                          if name == "up" else "environment stack to destroy (default: the one `up` "
                                          "deployed, else the first in infra/environments.py)"))
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
    recorded = _recorded_stack(Path(args.workdir).resolve()) if args.command == "down" else None
    args.stack = args.stack or recorded or next(iter(environments.ENVIRONMENTS))
    if args.stack not in environments.ENVIRONMENTS:
        print(f"error: --stack {args.stack!r} (`make demo ENV=...`) is not an environment in infra/environments.py; known: "
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

"""Deploy a stack of this repository onto the local AWS emulator (moto on 127.0.0.1): no AWS account.

    python tools/local_deploy.py up   [--stack dev] [--workdir .local-deploy] [--endpoint URL] [--port N]
    python tools/local_deploy.py down [--stack dev] [--workdir .local-deploy] [--endpoint URL]

`up` checks the tools, starts the emulator in the background (or reuses the one it started before),
synthesizes the bootstrap stack and the chosen stack pointed at the emulator, applies the bootstrap
stack (the Terraform state bucket, local state in the work folder), then runs `terraform init`
(S3 backend in that bucket, S3-native locking), `plan` and `apply` for the stack and prints its
outputs. The emulator keeps running afterwards: the deployment lives only in its memory.
`down` destroys the stack with Terraform and stops the emulator that `up` started.

With `--endpoint` both use an emulator that is already running and never start or stop one.
Everything the tool writes stays in the work folder (synthesized JSON, the bootstrap stack's local
state, logs of every Terraform run, the emulator's pidfile and log); nothing touches cdktf.out/ or
the real bootstrap state, and no AWS credentials are read (fake ones are set for every run).

Exit codes: 0 done, 1 a step failed (the message says which and what to do), 2 a tool is missing.
The functions below are also the test suite's way of driving Terraform (tests/deploy/).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from emulator.server import is_answering, start_background, stop_background  # noqa: E402

DEFAULT_WORKDIR = ROOT / ".local-deploy"
DEFAULT_MIRROR = Path("/opt/tf-plugins")
BOOTSTRAP = "bootstrap"
REGION = "us-east-1"
MIN_TERRAFORM = (1, 10)  # S3-native state locking (use_lockfile)
MIN_NODE = 18
PROVIDER = "hashicorp/aws 5.100.0"
FAKE_KEY = "test"
LOOPBACK = {"127.0.0.1", "localhost"}
BOOTSTRAP_STATE = "terraform.bootstrap.tfstate"  # infra/stacks.py: LOCAL_STATE_PATH, next to cdktf.out
DONE = re.compile(r": (Creation|Modifications|Destruction) complete after")


class DeployError(Exception):
    """A step failed; the message says what happened and what to do. Exit code 1."""

    exit_code = 1


class MissingTool(DeployError):
    """A tool is missing or too old; the message says what to install. Exit code 2."""

    exit_code = 2


@dataclass
class Step:
    """One external command: what ran, how it ended, how long it took, what it printed."""

    name: str
    argv: list[str]
    returncode: int
    seconds: float
    output: str
    log: Path | None = None

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def tail(self, lines: int = 25) -> str:
        return "\n".join(self.output.rstrip().splitlines()[-lines:])

    def errors(self, lines: int = 30) -> str:
        """The output from Terraform's first `Error:` on (at most `lines`), or its tail when there is none."""
        text = self.output.rstrip().splitlines()
        first = next((i for i, line in enumerate(text) if re.match(r"^(│ )?Error: ", line)), None)
        return "\n".join(text[first:first + lines]) if first is not None else self.tail()


@dataclass
class Tools:
    terraform: str
    terraform_version: tuple[int, ...]
    node: str
    mirror: Path | None


def _version(text: str) -> tuple[int, ...]:
    match = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", text)
    return tuple(int(p) for p in match.groups() if p is not None) if match else ()


def check_tools(mirror: Path = DEFAULT_MIRROR, need_node: bool = True) -> Tools:
    """Terraform >= 1.10 and Node.js on PATH; the provider mirror if there is one. Raises MissingTool."""
    problems = []
    terraform = shutil.which("terraform")
    version: tuple[int, ...] = ()
    if terraform is None:
        problems.append("terraform is missing: install Terraform >= 1.10 "
                        "(https://developer.hashicorp.com/terraform/install)")
    else:
        probe = subprocess.run([terraform, "version", "-json"], capture_output=True, text=True, timeout=60,
                               env={**os.environ, "CHECKPOINT_DISABLE": "1"})
        try:
            version = _version(json.loads(probe.stdout)["terraform_version"])
        except (ValueError, KeyError):
            version = _version(probe.stdout)
        if version < MIN_TERRAFORM:
            found = ".".join(map(str, version)) or "an unknown version"
            problems.append(f"terraform {found} is too old: install Terraform >= 1.10 (S3-native state "
                            "locking, `use_lockfile`); https://developer.hashicorp.com/terraform/install")
    node = shutil.which("node")
    if need_node:
        if node is None:
            problems.append("node is missing: install Node.js 20 (the synthesizer, cdktf/jsii, runs on it; "
                            "Debian: apt-get install nodejs npm)")
        else:
            probe = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=60)
            major = (_version(probe.stdout) or (0,))[0]
            if major < MIN_NODE:
                problems.append(f"node {probe.stdout.strip()} is too old: install Node.js 20")
    if problems:
        raise MissingTool("\n".join(problems))
    return Tools(terraform=terraform or "terraform", terraform_version=version, node=node or "node",
                 mirror=mirror if (mirror / "registry.terraform.io").is_dir() else None)


def loopback_endpoint(url: str) -> str:
    """The URL without a trailing slash, if it names an emulator on this machine; else DeployError."""
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme not in ("http", "https") or parsed.hostname not in LOOPBACK or not parsed.port:
        raise DeployError(f"refusing endpoint {url!r}: this tool deploys only onto an emulator on "
                          "127.0.0.1 or localhost (http://127.0.0.1:PORT)")
    return url.rstrip("/")


def managed(addresses: list[str]) -> list[str]:
    """The managed resources among `terraform state list` addresses (data sources left out)."""
    return [a for a in addresses if not a.startswith("data.") and ".data." not in a]


class LocalDeployment:
    """Synthesize and run Terraform for this repository's stacks against one emulator endpoint."""

    def __init__(self, endpoint: str, workdir: Path, stack: str = "dev", mirror: Path | None = DEFAULT_MIRROR,
                 terraform: str = "terraform", say: Callable[[str], None] | None = None) -> None:
        self.endpoint = loopback_endpoint(endpoint)
        self.workdir = Path(workdir).resolve()
        self.stack = stack
        self.requested_mirror = mirror or DEFAULT_MIRROR
        self.mirror = mirror if mirror is not None and (mirror / "registry.terraform.io").is_dir() else None
        self.terraform_bin = terraform
        self.say = say
        self.logs = self.workdir / "logs"
        # Numbered on from the logs of earlier runs in this work folder, which stay for reading.
        self._runs = len(list(self.logs.glob("*.log"))) if self.logs.is_dir() else 0

    # -- places -----------------------------------------------------------------------------------
    @property
    def outdir(self) -> Path:
        return self.workdir / "cdktf.out"

    def stack_dir(self, stack: str | None = None) -> Path:
        return self.outdir / "stacks" / (stack or self.stack)

    def stack_json(self, stack: str | None = None) -> dict:
        return json.loads((self.stack_dir(stack) / "cdk.tf.json").read_text())

    @property
    def bootstrap_state(self) -> Path:
        return self.workdir / BOOTSTRAP_STATE

    # -- environment ------------------------------------------------------------------------------
    def env(self, **extra: str) -> dict[str, str]:
        """The environment of every run: fake credentials, the emulator, no user AWS configuration."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.pop("TF_WORKSPACE", None)
        env.pop("TF_DATA_DIR", None)
        env.update({
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": FAKE_KEY, "AWS_SECRET_ACCESS_KEY": FAKE_KEY,
            "AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION,
            # Never read the user's profiles or credentials, never ask an instance metadata service.
            "AWS_CONFIG_FILE": str(self.workdir / "no-aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(self.workdir / "no-aws-credentials"),
            "AWS_EC2_METADATA_DISABLED": "true",
            "CHECKPOINT_DISABLE": "1", "TF_IN_AUTOMATION": "1", "TF_INPUT": "0",
            "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
        })
        cli_config = self._cli_config()
        if cli_config is not None:
            env["TF_CLI_CONFIG_FILE"] = str(cli_config)
        elif env.get("TF_CLI_CONFIG_FILE", "").endswith("terraform-mirror.tfrc"):
            del env["TF_CLI_CONFIG_FILE"]  # the repository's mirror file, but no mirror here
        env.update(extra)
        return env

    def _cli_config(self) -> Path | None:
        if self.mirror is None:
            return None
        path = self.workdir / "terraform-mirror.tfrc"
        text = (f'provider_installation {{\n  filesystem_mirror {{\n    path    = "{self.mirror}"\n'
                '    include = ["registry.terraform.io/hashicorp/*"]\n  }\n'
                '  direct {\n    exclude = ["registry.terraform.io/hashicorp/*"]\n  }\n}\n')
        if not path.exists() or path.read_text() != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        return path

    # -- running things ---------------------------------------------------------------------------
    def run(self, name: str, argv: list[str], cwd: Path, env: dict[str, str] | None = None,
            timeout: float = 900, heartbeat: float | None = None) -> Step:
        """Run a command, its output into logs/NN-name.log; print progress every `heartbeat` seconds."""
        self.logs.mkdir(parents=True, exist_ok=True)
        self._runs += 1
        log = self.logs / f"{self._runs:02d}-{name}.log"
        started = time.monotonic()
        with open(log, "w") as out:
            out.write(f"$ {' '.join(argv)}\n# in {cwd}\n")
            out.flush()
            proc = subprocess.Popen(argv, cwd=cwd, env=env or self.env(), stdin=subprocess.DEVNULL,
                                    stdout=out, stderr=subprocess.STDOUT)
            next_beat = started + heartbeat if heartbeat else None
            try:
                while True:
                    try:
                        proc.wait(timeout=1)
                        break
                    except subprocess.TimeoutExpired:
                        now = time.monotonic()
                        if now - started > timeout:
                            proc.terminate()  # Terraform saves its state and releases the lock on SIGTERM
                            try:
                                proc.wait(timeout=60)
                            except subprocess.TimeoutExpired:
                                proc.kill()
                                proc.wait()
                            break
                        if next_beat and now >= next_beat and self.say:
                            done = len(DONE.findall(log.read_text(errors="replace")))
                            self.say(f"      ... {now - started:.0f} s, {done} resources done")
                            next_beat += heartbeat  # type: ignore[operator]
            except BaseException:
                proc.terminate()
                proc.wait()
                raise
        output = log.read_text(errors="replace").split("\n", 2)[-1]
        return Step(name, argv, proc.returncode, time.monotonic() - started, output, log)

    def terraform(self, name: str, stack: str, *args: str, heartbeat: float | None = None,
                  timeout: float = 900) -> Step:
        return self.run(name, [self.terraform_bin, *args], cwd=self.stack_dir(stack), timeout=timeout,
                        heartbeat=heartbeat)

    # -- the steps --------------------------------------------------------------------------------
    def synth(self, image_tag: str | None = None) -> Step:
        """`python main.py` for the bootstrap stack and this stack, pointed at the emulator."""
        extra = {"CDKTF_OUTDIR": str(self.outdir), "ENVIRONMENTS": self.stack}
        env = self.env(**extra)
        env.pop("IMAGE_TAG", None)
        if image_tag:
            env["IMAGE_TAG"] = image_tag
        step = self.run("synth", [sys.executable, str(ROOT / "main.py")], cwd=ROOT, env=env, timeout=600)
        if step.ok:
            for stack in (BOOTSTRAP, self.stack):
                self.check_targets_emulator(stack)
        return step

    def check_targets_emulator(self, stack: str) -> None:
        """Refuse to run Terraform on a stack whose provider or backend could reach anything but the emulator."""
        config = self.stack_json(stack)
        where = self.stack_dir(stack) / "cdk.tf.json"
        for provider in config.get("provider", {}).get("aws", []):
            endpoints = (provider.get("endpoints") or [{}])[0]
            wrong = sorted(k for k, v in endpoints.items() if v != self.endpoint)
            if not endpoints or wrong or provider.get("access_key") != FAKE_KEY:
                raise DeployError(f"refusing to run Terraform: the AWS provider in {where} does not point "
                                  f"every service at {self.endpoint} ({', '.join(wrong) or 'no endpoints'}); "
                                  "was it synthesized with AWS_ENDPOINT_URL set?")
        backend = config.get("terraform", {}).get("backend", {})
        if "s3" in backend and backend["s3"].get("endpoints", {}).get("s3") != self.endpoint:
            raise DeployError(f"refusing to run Terraform: the S3 backend in {where} does not point at {self.endpoint}")

    def init(self, stack: str, name: str | None = None) -> Step:
        step = self.terraform(name or f"{stack}-init", stack, "init", "-input=false", "-no-color")
        if not step.ok and re.search(r"registry\.terraform\.io|provider packages|Failed to install provider",
                                     step.output):
            where = f"the mirror at {self.mirror}" if self.mirror else f"no mirror at {self.requested_mirror}"
            raise MissingTool(
                f"terraform init could not get the {PROVIDER} provider ({where}, and registry.terraform.io "
                "did not answer). Connect this machine to registry.terraform.io (Terraform downloads it, "
                f"a few hundred MB), or put the provider in a filesystem mirror at {self.requested_mirror} "
                "(registry.terraform.io/hashicorp/aws/5.100.0/<os>_<arch>/terraform-provider-aws_v5.100.0_x5). "
                f"Terraform said:\n{step.errors()}")
        return step

    def plan(self, stack: str, name: str | None = None, out: str | None = "tfplan",
             detailed: bool = False) -> Step:
        args = ["plan", "-input=false", "-no-color"]
        if out:
            args.append(f"-out={out}")
        if detailed:
            args.append("-detailed-exitcode")
        return self.terraform(name or f"{stack}-plan", stack, *args)

    def apply(self, stack: str, plan_file: str | None = "tfplan", name: str | None = None,
              heartbeat: float | None = None) -> Step:
        args = ["apply", "-input=false", "-no-color"]
        args += [plan_file] if plan_file else ["-auto-approve"]
        return self.terraform(name or f"{stack}-apply", stack, *args, heartbeat=heartbeat)

    def destroy(self, stack: str, name: str | None = None, heartbeat: float | None = None) -> Step:
        return self.terraform(name or f"{stack}-destroy", stack, "destroy", "-auto-approve", "-input=false",
                              "-no-color", heartbeat=heartbeat)

    def show_plan(self, stack: str, plan_file: str = "tfplan") -> dict:
        step = self.terraform(f"{stack}-show-plan", stack, "show", "-json", plan_file)
        if not step.ok:
            raise DeployError(f"terraform show {plan_file} failed:\n{step.errors()}")
        return json.loads(step.output)

    def outputs(self, stack: str) -> dict[str, object]:
        step = self.terraform(f"{stack}-output", stack, "output", "-json", "-no-color")
        if not step.ok:
            raise DeployError(f"terraform output failed:\n{step.errors()}")
        return {name: value["value"] for name, value in json.loads(step.output).items()}

    def state_list(self, stack: str) -> list[str]:
        step = self.terraform(f"{stack}-state-list", stack, "state", "list", "-no-color")
        if not step.ok:
            if "No state file was found" in step.output:
                return []
            raise DeployError(f"terraform state list failed:\n{step.errors()}")
        return [line for line in step.output.splitlines() if line.strip()]


# -- the command line ------------------------------------------------------------------------------

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
    if pidfile.exists():
        fields = pidfile.read_text().split()
        if len(fields) >= 2 and is_answering(fields[1]):
            return fields[1], False
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
    progress = Progress(total=8)
    started = time.monotonic()
    with progress.step("checking terraform, node and the AWS provider"):
        tools = check_tools(Path(args.provider_mirror))
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
    deployment = LocalDeployment(endpoint, workdir, stack, mirror=Path(args.provider_mirror), terraform=tools.terraform,
                                 say=_say)
    applying = False
    try:
        with progress.step(f"synthesizing the bootstrap and {stack} stacks for the emulator"):
            step = deployment.synth(args.image_tag)
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
    _say("These names exist only inside the emulator: no AWS account was used, no container runs, nothing\n"
         "answers at app_url. Terraform logs: " + str(deployment.logs))
    _say("")
    if args.endpoint:
        _say(f"The emulator at {endpoint} was not started by this command and keeps running.")
    else:
        pid = (workdir / "emulator.pid").read_text().split()[0]
        _say(f"The emulator keeps running in the background (pid {pid}, {endpoint}). It holds the deployment\n"
             "in memory only: stopping it forgets everything, and nothing is written to disk but the work\n"
             f"folder {workdir}.")
        _say(f"  look around:  AWS_ENDPOINT_URL={endpoint} AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test "
             f"aws ecs list-services --cluster {outputs.get('cluster_name', 'CLUSTER')} --region {REGION}")
        _say("  stop it:      make demo-down   (terraform destroy, then the emulator stops)")
    _say("To deploy to real AWS instead (billable): see README.md, 'Deploy to a real AWS account'.")
    return 0


def down(args: argparse.Namespace) -> int:
    workdir = Path(args.workdir).resolve()
    stack = args.stack
    pidfile = workdir / "emulator.pid"
    progress = Progress(total=3)
    with progress.step("checking terraform"):
        tools = check_tools(Path(args.provider_mirror), need_node=False)
    if args.endpoint:
        endpoint = loopback_endpoint(args.endpoint)
        if not is_answering(endpoint):
            raise DeployError(f"no emulator answers at {endpoint}")
    else:
        fields = pidfile.read_text().split() if pidfile.exists() else []
        endpoint = fields[1] if len(fields) >= 2 and is_answering(fields[1]) else ""
        if not endpoint:
            stop_background(pidfile)
            for stale in workdir.glob(BOOTSTRAP_STATE + "*"):
                stale.unlink()
            _say("Nothing to destroy: no emulator started by `make demo` is running (what it held is gone).")
            return 0
    deployment = LocalDeployment(endpoint, workdir, stack, mirror=Path(args.provider_mirror), terraform=tools.terraform,
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
    parser = argparse.ArgumentParser(prog="tools/local_deploy.py", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, help_text in (("up", "deploy the stack onto the emulator (starting it)"),
                            ("down", "destroy the stack and stop the emulator")):
        cmd = sub.add_parser(name, help=help_text)
        cmd.add_argument("--stack", default="dev", help="environment stack to deploy (default dev)")
        cmd.add_argument("--workdir", default=str(DEFAULT_WORKDIR), help="work folder (default .local-deploy)")
        cmd.add_argument("--endpoint", help="use this running emulator (http://127.0.0.1:PORT); never start/stop one")
        cmd.add_argument("--provider-mirror", default=str(DEFAULT_MIRROR),
                         help=f"Terraform filesystem mirror holding {PROVIDER}, used when it exists")
        if name == "up":
            cmd.add_argument("--port", type=int, default=0, help="emulator port (default: any free port)")
            cmd.add_argument("--image-tag", help="app image tag to deploy (as IMAGE_TAG for main.py)")
    args = parser.parse_args(argv)
    try:
        return up(args) if args.command == "up" else down(args)
    except DeployError as exc:
        print(f"\nerror: {exc}", file=sys.stderr, flush=True)
        return exc.exit_code
    except KeyboardInterrupt:
        print("\ninterrupted: Terraform saved what it had done in the state; run the command again "
              "or `make demo-down`", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

"""Run Terraform and cdktf for this repository's stacks against a local AWS emulator: one runner with a
log per run, progress while it runs, and one error path. `make demo` (demo/) and the deploy
tests (tests/deploy/) both drive Terraform through `LocalDeployment`.

Every run writes its output to `<workdir>/logs/NN-<name>.log` and returns a `Step`; a long run prints
how many resources are done every `heartbeat` seconds. Errors are `DeployError` (exit 1: the message
says what failed and what to do) or `MissingTool` (exit 2: what to install).

Evaluated and not used: tftest (Google's Terraform test helper) runs one command at a time and hands
back its output only when it ends; it writes no log per run, has no heartbeat, and raises on a non-zero
exit, while the deploy tests need the exit code and output of plans that fail on purpose.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from infra.config import BOOTSTRAP_STACK, BOOTSTRAP_STATE
from local import EMULATOR_BOTO, EMULATOR_ENV, EMULATOR_KEY, certificate
from tools import mirror as provider_mirror

ROOT = Path(__file__).resolve().parents[1]
BOOTSTRAP = BOOTSTRAP_STACK
REGION = "us-east-1"
MIN_TERRAFORM = (1, 10)  # S3-native state locking (use_lockfile)
MIN_NODE = 18
PROVIDER_VERSION = "5.100.0"  # what cdktf-cdktf-provider-aws 20.1.0 is generated for
PROVIDER = f"hashicorp/aws {PROVIDER_VERSION}"
LOOPBACK = {"127.0.0.1", "localhost"}
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
        return first_error(self.output, lines)


def first_error(output: str, lines: int = 30, tail: int = 25) -> str:
    """Terraform's output from its first `Error:` on (at most `lines`), or its last `tail` lines when there is none."""
    text = output.rstrip().splitlines()
    first = next((i for i, line in enumerate(text) if re.match(r"^(│ )?Error: ", line)), None)
    return "\n".join(text[first:first + lines] if first is not None else text[-tail:])


@dataclass
class Tools:
    terraform: str
    terraform_version: tuple[int, ...]
    node: str
    mirror: Path | None
    """The provider mirror in use (tools/mirror.py), or None: Terraform downloads the provider."""


def _version(text: str) -> tuple[int, ...]:
    match = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", text)
    return tuple(int(p) for p in match.groups() if p is not None) if match else ()


def check_tools(need_node: bool = True) -> Tools:
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
                 mirror=provider_mirror.provider_mirror())


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

    def __init__(self, endpoint: str, workdir: Path, stack: str, terraform: str = "terraform",
                 say: Callable[[str], None] | None = None) -> None:
        self.endpoint = loopback_endpoint(endpoint)
        self.workdir = Path(workdir).resolve()
        self.stack = stack
        self.terraform_bin = terraform
        self.say = say
        self.logs = self.workdir / "logs"
        # Numbered on from the logs of earlier runs in this work folder, which stay for reading.
        self._runs = len(list(self.logs.glob("*.log"))) if self.logs.is_dir() else 0
        self._numbering = threading.Lock()  # `make demo` runs some steps alongside others (demo/__main__.py)
        self._certified: tuple[certificate.LocalCertificate, str] | None | bool = False  # False: not asked yet

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
            **EMULATOR_ENV,
            "AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION,
            # Never read the user's profiles or credentials, never ask an instance metadata service.
            "AWS_CONFIG_FILE": str(self.workdir / "no-aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(self.workdir / "no-aws-credentials"),
            "AWS_EC2_METADATA_DISABLED": "true",
            "CHECKPOINT_DISABLE": "1", "TF_IN_AUTOMATION": "1", "TF_INPUT": "0",
            "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
        })
        env.update(extra)
        return provider_mirror.terraform_env(env)

    # -- running things ---------------------------------------------------------------------------
    def run(self, name: str, argv: list[str], cwd: Path, env: dict[str, str] | None = None,
            timeout: float = 900, heartbeat: float | None = None) -> Step:
        """Run a command, its output into logs/NN-name.log; print progress every `heartbeat` seconds."""
        self.logs.mkdir(parents=True, exist_ok=True)
        with self._numbering:
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
    def synth(self, image_tag: str | None = None, stopped: bool = False) -> Step:
        """`python main.py` for the bootstrap stack and this stack, pointed at the emulator; `stopped`: with the
        service at 0 tasks (main.py's SERVICE_STOPPED, never the shell's). A stack that serves HTTPS gets the
        local certificate's ARN (`local_certificate`) in place of its real one (main.py's CERTIFICATE_ARN)."""
        extra = {"CDKTF_OUTDIR": str(self.outdir), "ENVIRONMENTS": self.stack}
        env = self.env(**extra)
        for own in ("IMAGE_TAG", "SERVICE_STOPPED", "CERTIFICATE_ARN"):
            env.pop(own, None)
        certified = self.local_certificate()
        if certified:
            env["CERTIFICATE_ARN"] = certified[1]
        if image_tag:
            env["IMAGE_TAG"] = image_tag
        if stopped:
            env["SERVICE_STOPPED"] = "1"
        step = self.run("synth", [sys.executable, str(ROOT / "main.py")], cwd=ROOT, env=env, timeout=600)
        if step.ok:
            for stack in (BOOTSTRAP, self.stack):
                self.check_targets_emulator(stack)
        return step

    def local_certificate(self) -> tuple[certificate.LocalCertificate, str] | None:
        """When this stack's listener serves HTTPS: the self-signed certificate for its domain that stands in for
        ACM's (local/certificate.py, in <workdir>/certificates/<stack>), and its ARN in the emulator's ACM, which
        imports it only when it does not hold it yet (the same ARN on every run: nothing to re-plan). None for a
        stack that serves plain HTTP, or that infra/environments.py does not define (main.py reports why).
        Asked once per LocalDeployment (synth, the runner's argument and the summary all need it)."""
        if self._certified is False:
            self._certified = self._local_certificate()
        return self._certified

    def _local_certificate(self) -> tuple[certificate.LocalCertificate, str] | None:
        try:
            from infra import environments
            config = environments.ENVIRONMENTS[self.stack]
        except Exception:  # noqa: BLE001 - a broken or unknown configuration: the synthesis says what is wrong
            return None
        if config.load_balancer.certificate_arn is None:
            return None
        try:
            return self._import_certificate(config)
        except certificate.CertificateError as error:
            raise DeployError(f"the local certificate for {self.stack}'s HTTPS listener: {error}") from None
        except Exception as error:  # botocore's: the emulator did not answer or refused
            raise DeployError(f"the emulator at {self.endpoint} did not take the local certificate for "
                              f"{self.stack}'s HTTPS listener ({type(error).__name__}: {error}): is it running?") from None

    def _import_certificate(self, config) -> tuple[certificate.LocalCertificate, str]:
        import boto3

        made = certificate.make(self.workdir / "certificates" / self.stack, config.load_balancer.domain_name)
        acm = boto3.client("acm", endpoint_url=self.endpoint, region_name=config.region, **EMULATOR_BOTO)
        body = made.certificate.read_text()
        for page in acm.get_paginator("list_certificates").paginate():
            for held in page["CertificateSummaryList"]:
                if (held["DomainName"] == made.domain
                        and acm.get_certificate(CertificateArn=held["CertificateArn"])["Certificate"].strip() == body.strip()):
                    return made, held["CertificateArn"]
        imported = acm.import_certificate(Certificate=body.encode(), PrivateKey=made.key.read_bytes(),
                                          Tags=[{"Key": "made-by", "Value": "local/certificate.py"}])
        return made, imported["CertificateArn"]

    def check_targets_emulator(self, stack: str) -> None:
        """Refuse to run Terraform on a stack whose provider or backend could reach anything but the emulator."""
        config = self.stack_json(stack)
        where = self.stack_dir(stack) / "cdk.tf.json"
        for provider in config.get("provider", {}).get("aws", []):
            endpoints = (provider.get("endpoints") or [{}])[0]
            wrong = sorted(k for k, v in endpoints.items() if v != self.endpoint)
            if not endpoints or wrong or provider.get("access_key") != EMULATOR_KEY:
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
            mirror = provider_mirror.provider_mirror()
            where = f"the mirror at {mirror}" if mirror else "no provider mirror"
            raise MissingTool(
                f"terraform init could not get the {PROVIDER} provider ({where}, and registry.terraform.io "
                "did not answer). Connect this machine to registry.terraform.io (Terraform downloads it, "
                "a few hundred MB), or put the provider in a filesystem mirror "
                f"(registry.terraform.io/hashicorp/aws/{PROVIDER_VERSION}/<os>_<arch>/terraform-provider-aws_v"
                f"{PROVIDER_VERSION}_x5) "
                f"and set {provider_mirror.SETTING} to its folder. Terraform said:\n{step.errors()}")
        return step

    def plan(self, stack: str, name: str | None = None, out: str | None = "tfplan",
             detailed: bool = False, lock: bool = True) -> Step:
        """`lock=False`: as a pull request's plan runs (its role may read the state, not write a lock file)."""
        args = ["plan", "-input=false", "-no-color"] + ([] if lock else ["-lock=false"])
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


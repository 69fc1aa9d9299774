"""Synthesize every stack once per test session and hand the parsed Terraform JSON to the tests (a pytest
plugin, named in tests/conftest.py, so that the infra, security, tools and demo tests share the one synth).

One App holds the real stacks (bootstrap and one per entry of `infra/environments.py`, exactly as main.py
builds them, whatever their names) and stacks only the tests build, from configurations defined here:
`variant` turns on what the defaults leave off (HTTPS, autoscaling, NAT `none`, a digest, alarm emails), `weakened` has
every named weakening (HTTP only, no deletion protection, one NAT, one database zone, force delete),
`guarded` keeps everything (a NAT per zone, long backups) and `emulated` is `weakened` pointed at an
emulator endpoint. Tests of one setting's effect use the test-only stacks; tests of "every environment"
are parametrized over the configured ones and compare against each one's configuration, so that adding,
renaming or removing an environment, or changing its region, bucket or certificate, needs no test edit.
"""
from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from infra import environments
from infra.config import (
    BOOTSTRAP_STACK, AlarmsConfig, AutoscalingConfig, DatabaseConfig, EnvironmentConfig, LoadBalancerConfig, NetworkConfig,
    RegistryConfig, ServiceConfig,
)

ROOT = Path(__file__).resolve().parents[1]
CERT = "arn:aws:acm:us-east-1:123456789012:certificate/0a1b2c3d-1111-2222-3333-444455556666"
DIGEST = "sha256:" + "ab" * 32
EMULATOR = "http://127.0.0.1:4999"

VARIANT = EnvironmentConfig(
    name="variant",
    region="us-east-1",
    network=NetworkConfig(vpc_cidr="172.16.0.0/20", az_count=3, nat="none"),
    service=ServiceConfig(image_tag=DIGEST, migrations="task", desired_count=2,
                          autoscaling=AutoscalingConfig(min_count=2, max_count=8)),
    load_balancer=LoadBalancerConfig(certificate_arn=CERT, domain_name="notes.example.com"),
    alarms=AlarmsConfig(emails=("oncall@example.com", "team@example.org"), error_rate_percent=2, latency_p99_ms=800),
)
WEAKENED = EnvironmentConfig(
    name="weakened",
    region="us-east-1",
    network=NetworkConfig(vpc_cidr="172.20.0.0/16", nat="single"),
    database=DatabaseConfig(deletion_protection=False, backup_retention_days=1, multi_az=False),
    registry=RegistryConfig(force_delete=True),
    load_balancer=LoadBalancerConfig(deletion_protection=False, http_only=True),
)
GUARDED = EnvironmentConfig(
    name="guarded",
    region="us-east-1",
    network=NetworkConfig(vpc_cidr="172.24.0.0/16", az_count=3, nat="per_az"),
    database=DatabaseConfig(instance_class="db.t4g.medium", backup_retention_days=14),
    load_balancer=LoadBalancerConfig(certificate_arn=CERT, domain_name="notes.example.com"),
)
# Configurations of the stacks only the tests build, by stack name.
TEST_STACK_CONFIGS = {config.name: config for config in (
    VARIANT, WEAKENED, GUARDED, dataclasses.replace(WEAKENED, name="emulated"))}
# The configured environments, whatever infra/environments.py names them.
CONFIGURED = list(environments.ENVIRONMENTS)
# Application stacks for properties every environment must have: the configured ones and `variant`, which
# turns on what the defaults leave off (`weakened` and `guarded` are read by the tests of their settings).
APP_STACKS = [*CONFIGURED, "variant"]
STACKS = [BOOTSTRAP_STACK, *CONFIGURED, *TEST_STACK_CONFIGS]
_clash = set(CONFIGURED) & set(TEST_STACK_CONFIGS)
assert not _clash, f"environment(s) {sorted(_clash)} in infra/environments.py clash with tests/stacks.py's " \
    "test-only stacks: rename the test-only configurations there"


class Stack:
    """One synthesized stack: its JSON, with helpers that read like the tests' sentences."""

    def __init__(self, path: Path, config: EnvironmentConfig | None = None) -> None:
        self.path = path
        self.name = path.parent.name
        self.config = config
        """The configuration the stack was built from (None for the bootstrap stack)."""
        self.json = json.loads(path.read_text())

    def resources(self, rtype: str) -> dict[str, dict]:
        return self.json.get("resource", {}).get(rtype, {})

    def one(self, rtype: str) -> dict:
        found = self.resources(rtype)
        assert len(found) == 1, f"expected one {rtype}, found {sorted(found)}"
        return next(iter(found.values()))

    def find(self, rtype: str, name_part: str) -> dict:
        found = [v for k, v in self.resources(rtype).items() if name_part in k]
        assert len(found) == 1, f"expected one {rtype} named like {name_part!r}, found {len(found)}"
        return found[0]

    def ref(self, rtype: str, name_part: str, attr: str = "id") -> str:
        found = [k for k in self.resources(rtype) if name_part in k]
        assert len(found) == 1, f"expected one {rtype} named like {name_part!r}, found {found}"
        return f"${{{rtype}.{found[0]}.{attr}}}"

    def container(self, task_part: str) -> dict:
        definitions = json.loads(self.find("aws_ecs_task_definition", task_part)["container_definitions"])
        assert len(definitions) == 1
        return definitions[0]


@pytest.fixture(scope="session")
def outdir(tmp_path_factory) -> Path:
    from cdktf import App
    from infra.stacks import AppStack, build

    out = tmp_path_factory.mktemp("synth") / "cdktf.out"
    app = App(outdir=str(out))
    test_only = {name: config for name, config in TEST_STACK_CONFIGS.items() if name != "emulated"}
    build(app, environments.BOOTSTRAP, [*environments.ENVIRONMENTS.values(), *test_only.values()])
    AppStack(app, "emulated", config=TEST_STACK_CONFIGS["emulated"], state=environments.BOOTSTRAP, endpoint=EMULATOR)
    app.synth()
    return out


def config_of(name: str) -> EnvironmentConfig | None:
    """The configuration stack `name` was built from: a configured environment's or a test-only one."""
    return environments.ENVIRONMENTS.get(name) or TEST_STACK_CONFIGS.get(name)


def _stack(outdir: Path, name: str) -> Stack:
    return Stack(outdir / "stacks" / name / "cdk.tf.json", config_of(name))


def _stack_fixture(name: str):
    @pytest.fixture(scope="session", name=name)
    def fixture(outdir) -> Stack:
        return _stack(outdir, name)
    return fixture


bootstrap = _stack_fixture(BOOTSTRAP_STACK)
variant = _stack_fixture("variant")
weakened = _stack_fixture("weakened")
guarded = _stack_fixture("guarded")
emulated = _stack_fixture("emulated")


@pytest.fixture(scope="session", params=APP_STACKS)
def app_stack(request, outdir) -> Stack:
    """Each application stack in turn, for properties every environment must have."""
    return _stack(outdir, request.param)


@pytest.fixture(scope="session", params=CONFIGURED)
def env_stack(request, outdir) -> Stack:
    """Each configured environment's stack in turn, with `.config` to compare against."""
    return _stack(outdir, request.param)


def resolve_references(text: str, *, account: str, state_bucket: str, state_key: str, provider: str = "") -> str:
    """A bootstrap policy's text with the references Terraform resolves at apply: the account, the state bucket's
    ARN, its KMS key's ARN and (if given) the OIDC provider's ARN."""
    text = re.sub(r"\$\{data\.aws_caller_identity\.[^}]+\}", account, text)
    text = re.sub(r"\$\{aws_s3_bucket\.[^}]+\.arn\}", f"arn:aws:s3:::{state_bucket}", text)
    text = re.sub(r"\$\{aws_kms_key\.[^}]+\.arn\}", state_key, text)
    if provider:
        text = re.sub(r"\$\{(data\.)?aws_iam_openid_connect_provider\.[^}]+\.arn\}", provider, text)
    return text


def without_action(policy: dict, action: str) -> dict:
    """An IAM policy with one action taken out of every statement (a statement left with none goes)."""
    statements = []
    for statement in policy["Statement"]:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        kept = [a for a in actions if a != action]
        if kept:
            statements.append({**statement, "Action": kept})
    return {**policy, "Statement": statements}


def run_main(cwd: Path, **env: str) -> subprocess.CompletedProcess:
    """`python main.py` in `cwd`, as a user runs it, with only the given settings."""
    environ = {k: v for k, v in os.environ.items()
               if k not in ("AWS_ENDPOINT_URL", "ENVIRONMENTS", "IMAGE_TAG", "SERVICE_STOPPED", "STOCK_SYNTH", "CDKTF_OUTDIR")}
    return subprocess.run([sys.executable, str(ROOT / "main.py")], cwd=cwd, env={**environ, **env},
                          capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="session")
def main_run(tmp_path_factory) -> tuple[subprocess.CompletedProcess, Path]:
    """One run of `python main.py` (the fast path) and the folder it wrote."""
    cwd = tmp_path_factory.mktemp("main")
    return run_main(cwd), cwd / "cdktf.out"


@pytest.fixture(scope="session")
def stack_configs(outdir):
    """Every synthesized stack with the configuration it was built from, for the checkov skip list."""
    from security.scan import Stack, stacks_of

    stacks = stacks_of(environments.BOOTSTRAP, environments.ENVIRONMENTS)
    for name in (p.name for p in (outdir / "stacks").iterdir()):
        if name not in stacks:  # the test-only stacks: built by this file from configs it defines
            config = TEST_STACK_CONFIGS[name]
            stacks[name] = Stack(name, "app", config)
    return stacks

"""Synthesize every stack once per test session and hand the parsed Terraform JSON to the tests.

One App holds the real stacks (bootstrap, dev, prod, exactly as main.py builds them) and two test
variants: `variant` turns on what the defaults leave off (HTTPS, autoscaling, NAT `none`, a digest),
and `emulated` is dev built with AWS_ENDPOINT_URL set.
"""
from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from infra import environments
from infra.config import (
    AutoscalingConfig, EnvironmentConfig, LoadBalancerConfig, NetworkConfig, ServiceConfig,
)

ROOT = Path(__file__).resolve().parents[2]
CERT = "arn:aws:acm:us-east-1:123456789012:certificate/0a1b2c3d-1111-2222-3333-444455556666"
DIGEST = "sha256:" + "ab" * 32
EMULATOR = "http://127.0.0.1:4999"

VARIANT = EnvironmentConfig(
    name="variant",
    network=NetworkConfig(vpc_cidr="172.16.0.0/20", az_count=3, nat="none"),
    service=ServiceConfig(image_tag=DIGEST, migrations="task", desired_count=2,
                          autoscaling=AutoscalingConfig(min_count=2, max_count=8)),
    load_balancer=LoadBalancerConfig(certificate_arn=CERT),
)


class Stack:
    """One synthesized stack: its JSON, with helpers that read like the tests' sentences."""

    def __init__(self, path: Path) -> None:
        self.path = path
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
    build(app, environments.BOOTSTRAP, [*environments.ENVIRONMENTS.values(), VARIANT])
    AppStack(app, "emulated", config=dataclasses.replace(environments.ENVIRONMENTS["dev"], name="emulated"),
             state=environments.BOOTSTRAP, endpoint=EMULATOR)
    app.synth()
    return out


def _stack(outdir: Path, name: str) -> Stack:
    return Stack(outdir / "stacks" / name / "cdk.tf.json")


def _stack_fixture(name: str):
    @pytest.fixture(scope="session", name=name)
    def fixture(outdir) -> Stack:
        return _stack(outdir, name)
    return fixture


bootstrap = _stack_fixture("bootstrap")
dev = _stack_fixture("dev")
prod = _stack_fixture("prod")
variant = _stack_fixture("variant")
emulated = _stack_fixture("emulated")


@pytest.fixture(scope="session", params=["dev", "prod", "variant"])
def app_stack(request, outdir) -> Stack:
    """Each application stack in turn, for properties every environment must have."""
    return _stack(outdir, request.param)


def run_main(cwd: Path, **env: str) -> subprocess.CompletedProcess:
    """`python main.py` in `cwd`, as a user runs it, with only the given settings."""
    environ = {k: v for k, v in os.environ.items()
               if k not in ("AWS_ENDPOINT_URL", "ENVIRONMENTS", "IMAGE_TAG", "STOCK_SYNTH", "CDKTF_OUTDIR")}
    return subprocess.run([sys.executable, str(ROOT / "main.py")], cwd=cwd, env={**environ, **env},
                          capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="session")
def main_run(tmp_path_factory) -> tuple[subprocess.CompletedProcess, Path]:
    """One run of `python main.py` (the fast path) and the folder it wrote."""
    cwd = tmp_path_factory.mktemp("main")
    return run_main(cwd), cwd / "cdktf.out"

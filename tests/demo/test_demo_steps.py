"""`make demo`'s steps: they stop at the first command that fails (no apply after a failed init, a failed
image build or a failed bootstrap), and what runs alongside (the image build, the bootstrap apply's tail)
lets the stack go on only once what it needs is there: the state bucket and its KMS key, on an emulator."""

from __future__ import annotations

import argparse
import threading
from pathlib import Path

import boto3
import pytest

import demo.__main__ as demo
from local import EMULATOR_BOTO
from tools.terraform import DeployError, Step

BUCKET, ALIAS = "notes-terraform-state-test", "alias/notes-terraform-state-test"


def ok(name: str) -> Step:
    return Step(name, ["terraform", name], 0, 0.1, "")


class Deployment:
    """A LocalDeployment whose bootstrap apply is `apply` (a function); it records the commands asked for."""

    def __init__(self, endpoint: str = "http://127.0.0.1:1", init_exit: int = 0, apply=None) -> None:
        self.endpoint, self.init_exit, self._apply = endpoint, init_exit, apply or (lambda: ok("apply"))
        self.logs = Path("/nonexistent/logs")
        self.ran: list[str] = []

    def init(self, stack: str) -> Step:
        self.ran.append(f"init {stack}")
        return Step("init", ["terraform", "init"], self.init_exit, 0.1, "Error: Failed to query available provider packages")

    def apply(self, stack: str, **_: object) -> Step:
        self.ran.append(f"apply {stack}")
        return self._apply()

    def stack_json(self, stack: str) -> dict:
        return {"terraform": {"backend": {"s3": {"bucket": BUCKET, "kms_key_id": ALIAS, "region": "us-east-1"}}}}


def aws(emulator, service: str):
    return boto3.client(service, endpoint_url=emulator.endpoint, region_name="us-east-1", **EMULATOR_BOTO)


def create_bucket(emulator) -> None:
    aws(emulator, "s3").create_bucket(Bucket=BUCKET)


def create_key(emulator) -> None:
    kms = aws(emulator, "kms")
    kms.create_alias(AliasName=ALIAS, TargetKeyId=kms.create_key()["KeyMetadata"]["KeyId"])


@pytest.fixture
def clean(emulator):
    yield emulator
    s3, kms = aws(emulator, "s3"), aws(emulator, "kms")
    if BUCKET in [b["Name"] for b in s3.list_buckets()["Buckets"]]:
        s3.delete_bucket(Bucket=BUCKET)
    if ALIAS in [a["AliasName"] for a in kms.list_aliases()["Aliases"]]:
        kms.delete_alias(AliasName=ALIAS)


def test_a_failed_init_of_the_bootstrap_stack_stops_before_its_apply():
    deployment = Deployment(init_exit=1)
    with pytest.raises(DeployError, match=r"^terraform init of the bootstrap stack failed \(exit 1"):
        demo._apply_bootstrap(deployment, "dev")
    assert deployment.ran == ["init bootstrap"]


def test_the_stack_goes_on_while_the_bootstrap_apply_still_runs(clean):
    finish = threading.Event()

    def apply() -> Step:  # the bucket and its key first, then the provider's long waits (here: until told)
        create_bucket(clean)
        create_key(clean)
        assert finish.wait(60)
        return ok("apply")

    bootstrap = demo._apply_bootstrap(Deployment(clean.endpoint, apply=apply), "dev")
    assert not bootstrap.wait(timeout=0.5), "returned only after the whole bootstrap apply"
    finish.set()
    assert bootstrap.result().ok


def test_it_waits_for_the_key_not_only_the_bucket(clean):
    key_made, finish = threading.Event(), threading.Event()

    def apply() -> Step:
        create_bucket(clean)
        assert finish.wait(60)  # the key comes after the bucket in the bootstrap apply
        create_key(clean)
        key_made.set()
        return ok("apply")

    returned = demo.Background("test", lambda: demo._apply_bootstrap(Deployment(clean.endpoint, apply=apply), "dev"))
    assert not returned.wait(timeout=3), "went on with the bucket alone: the backend encrypts with the key"
    finish.set()
    assert returned.wait(timeout=30) and key_made.is_set()
    returned.result().result()


def test_a_bootstrap_apply_that_fails_first_stops_with_its_error(clean):
    failing = lambda: Step("apply", ["terraform", "apply"], 1, 0.1, "Error: creating S3 Bucket: BucketAlreadyExists")  # noqa: E731
    with pytest.raises(DeployError, match=r"terraform apply of the bootstrap stack failed \(exit 1(.|\n)*BucketAlreadyExists"):
        demo._apply_bootstrap(Deployment(clean.endpoint, apply=failing), "dev")


def test_a_failed_image_build_stops_before_the_apply(tmp_path, monkeypatch):
    ran: list[str] = []

    class Stack(Deployment):
        def synth(self, tag: str) -> Step:
            ran.append("synth")
            return ok("synth")

    def failed_build(deployment, tag):
        raise DeployError("building the image failed (exit 1, log x):\nError: no space left on device")

    done = demo.Background("bootstrap", lambda: ok("apply"))
    monkeypatch.setattr(demo, "_check", lambda workdir: argparse.Namespace(terraform="terraform"))
    monkeypatch.setattr(demo, "_start_emulator", lambda args, workdir: ("http://127.0.0.1:1", False))
    monkeypatch.setattr(demo, "LocalDeployment", lambda *a, **k: Stack())
    monkeypatch.setattr(demo, "_image_tag", lambda: "abc1234")
    monkeypatch.setattr(demo, "_build_image", failed_build)
    monkeypatch.setattr(demo, "_apply_bootstrap", lambda deployment, stack: ran.append("bootstrap") or done)
    monkeypatch.setattr(demo, "_plan", lambda deployment, stack: ran.append("plan") or 1)
    monkeypatch.setattr(demo, "_apply", lambda deployment, stack, adding: ran.append("apply"))
    args = argparse.Namespace(workdir=str(tmp_path), stack="dev", endpoint="http://127.0.0.1:1", port=0)
    with pytest.raises(DeployError, match="building the image failed"):
        demo.up(args)
    assert "apply" not in ran and "plan" in ran, ran  # the build ran alongside the plan, and stopped the apply

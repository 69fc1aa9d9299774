"""checkov on a Terraform plan: the emulated stack planned against a local moto server, offline.

A plan holds resolved values and lets checkov's graph checks follow references. The emulator deploy
test calls the same `security.scan.scan_terraform_plan` on the plan it applies.
"""
import json
import shutil
import subprocess
import uuid

import boto3
import pytest

from security.scan import load_skips, scan_terraform_plan
from local import EMULATOR_BOTO
from tests.stacks import EMULATOR
from tests.infra.test_terraform import terraform_env

# Runs checkov (and terraform): an external program, left out of the unit-suite benchmark.
pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def emulator_endpoint():
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def test_emulated_stack_plan_fails_no_check_outside_the_skip_list(outdir, tmp_path, emulator_endpoint, stack_configs):
    terraform = shutil.which("terraform")
    assert terraform, "terraform is not on PATH"
    # GIVEN the emulated stack pointed at this test's server, with a state bucket of its own there
    # (moto's state is per process: another test's emulator may hold the stack's usual bucket)
    workdir = tmp_path / "emulated"
    shutil.copytree(outdir / "stacks" / "emulated", workdir)
    stack_json = workdir / "cdk.tf.json"
    tf = json.loads(stack_json.read_text().replace(EMULATOR, emulator_endpoint))
    state_bucket = tf["terraform"]["backend"]["s3"]["bucket"] = f"checkov-plan-{uuid.uuid4().hex[:12]}"
    stack_json.write_text(json.dumps(tf))
    s3 = boto3.client("s3", endpoint_url=emulator_endpoint, region_name="us-east-1", **EMULATOR_BOTO)
    s3.create_bucket(Bucket=state_bucket)
    env = terraform_env()
    for command in (["init", "-input=false"], ["plan", "-input=false", "-lock=false", "-out=plan.tfplan"]):
        result = subprocess.run([terraform, *command, "-no-color"], cwd=workdir, env=env, capture_output=True,
                                text=True, timeout=300)
        assert result.returncode == 0, f"terraform {command[0]} failed:\n{result.stdout[-2000:]}{result.stderr}"
    # WHEN checkov scans the plan
    report = scan_terraform_plan(workdir, "plan.tfplan", stack_configs["emulated"], env=env)
    # THEN it finds exactly what the skip list explains for this stack
    assert report.passed > 0
    assert report.problems(load_skips()) == []
    s3.delete_bucket(Bucket=state_bucket)

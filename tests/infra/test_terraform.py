"""Every synthesized stack is valid Terraform against the real hashicorp/aws 5.100.0 schema."""
import os
import shutil
import subprocess

import pytest

from tests.stacks import STACKS
from tools import mirror

pytestmark = pytest.mark.integration


def terraform_env() -> dict[str, str]:
    return mirror.terraform_env({**os.environ, "AWS_EC2_METADATA_DISABLED": "true", "CHECKPOINT_DISABLE": "1"})


@pytest.mark.parametrize("stack", STACKS)
def test_stack_passes_terraform_validate(stack, outdir, tmp_path):
    terraform = shutil.which("terraform")
    assert terraform, "terraform is not on PATH: install Terraform >= 1.10 (see README, Quick start)"
    workdir = tmp_path / stack
    shutil.copytree(outdir / "stacks" / stack, workdir)
    init = subprocess.run([terraform, "init", "-backend=false", "-input=false", "-no-color"], cwd=workdir,
                          env=terraform_env(), capture_output=True, text=True, timeout=300)
    assert init.returncode == 0, f"terraform init failed (provider mirror: {mirror.provider_mirror()}):\n{init.stderr}"
    validate = subprocess.run([terraform, "validate", "-no-color"], cwd=workdir, env=terraform_env(),
                              capture_output=True, text=True, timeout=300)
    assert validate.returncode == 0, validate.stdout + validate.stderr
    assert "Success! The configuration is valid." in validate.stdout

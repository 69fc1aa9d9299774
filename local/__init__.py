"""The ground floor of the local stand-ins (emulator, registry, image, runner, `make demo`): what they all
share. Standard library only, and it imports nothing of this repository above it."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

WORKDIR = ROOT / ".local-deploy"
"""The work folder of `make demo` (git-ignored), and the default of every local command's --workdir."""

EMULATOR_KEY = "test"
"""The access key id and secret key every call to the emulator signs with: it checks none, and no AWS account
accepts them, so a call that reached AWS by mistake would be refused."""

EMULATOR_ENV = {"AWS_ACCESS_KEY_ID": EMULATOR_KEY, "AWS_SECRET_ACCESS_KEY": EMULATOR_KEY}
"""The same as environment variables (for Terraform, the AWS CLI, a task's container)."""

EMULATOR_BOTO = {"aws_access_key_id": EMULATOR_KEY, "aws_secret_access_key": EMULATOR_KEY}
"""The same as boto3 client arguments."""

"""Where Terraform finds the AWS provider on a machine without registry access: one setting.

`TF_PROVIDER_MIRROR` names a Terraform filesystem mirror (a folder holding
`registry.terraform.io/hashicorp/aws/<version>/<os>_<arch>/...`), or `none` for no mirror. Unset, the
mirror at DEFAULT_MIRROR is used when it exists; without a mirror Terraform downloads the provider.
The Makefile, `make demo` and the tests all ask this module; no other file names a mirror path.

    python3 -m tools.mirror      print the path of a Terraform CLI config file that uses the mirror
                                 (written under .terraform-cli/), or nothing when there is no mirror

Standard library only: the Makefile runs it with any python3, before the venv exists.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MIRROR = Path("/opt/tf-plugins")
SETTING = "TF_PROVIDER_MIRROR"
CONFIG_DIR = ROOT / ".terraform-cli"


def provider_mirror() -> Path | None:
    """The mirror folder in use, or None (Terraform downloads the provider)."""
    given = os.environ.get(SETTING)
    if given == "none":
        return None
    path = Path(given) if given else DEFAULT_MIRROR
    if (path / "registry.terraform.io").is_dir():
        return path
    if given:
        raise SystemExit(f"error: {SETTING}={given} is not a Terraform filesystem mirror (no "
                         f"registry.terraform.io folder in it); fix it, unset it, or set it to `none`")
    return None


def cli_config(directory: Path = CONFIG_DIR) -> Path | None:
    """A Terraform CLI config file that installs hashicorp/* providers from the mirror only, or None."""
    mirror = provider_mirror()
    if mirror is None:
        return None
    text = (f'provider_installation {{\n  filesystem_mirror {{\n    path    = "{mirror}"\n'
            '    include = ["registry.terraform.io/hashicorp/*"]\n  }\n'
            '  direct {\n    exclude = ["registry.terraform.io/hashicorp/*"]\n  }\n}\n')
    path = directory / "mirror.tfrc"
    if not path.exists() or path.read_text() != text:
        directory.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return path


def terraform_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """`env` (default: this process's) with TF_CLI_CONFIG_FILE pointing at the mirror when there is one."""
    env = dict(os.environ if env is None else env)
    config = cli_config()
    if config is not None:
        env["TF_CLI_CONFIG_FILE"] = str(config)
    elif Path(env.get("TF_CLI_CONFIG_FILE", "/")).parent == CONFIG_DIR:
        del env["TF_CLI_CONFIG_FILE"]  # exported by the Makefile for a mirror that is not in use here
    return env


if __name__ == "__main__":
    config = cli_config()
    if config is not None:
        print(config)
    sys.exit(0)

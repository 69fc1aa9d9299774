"""Local AWS emulator for this repository: moto, patched for the gaps the
hashicorp/aws Terraform provider hits for this stack, on 127.0.0.1 only."""

from .patches import PatchError, apply_all
from .server import DEFAULT_PORT, Emulator, start_background, stop_background

__all__ = [
    "DEFAULT_PORT",
    "Emulator",
    "PatchError",
    "apply_all",
    "start_background",
    "stop_background",
]

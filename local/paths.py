"""Paths that a tool or the kernel limits in length live in a short folder outside the checkout.

A checkout can be anywhere (a home folder is 25 to 40 bytes deep, a CI workspace more), so nothing with a
length limit may be built from it:
- podman refuses a run root longer than 50 bytes: conmon builds each container's attach socket under it
  (podman 4.3: "the specified runroot is longer than 50 characters");
- a unix socket's path is at most 107 bytes (`sun_path` is 108 bytes with its NUL: unix(7));
- no path is longer than PATH_MAX, 4,096 bytes with its NUL (linux/limits.h).

Such paths go under `/tmp/notes-<12 hex digits of the owner's path>`, where the owner is the folder whose
state they belong to (a work folder, a podman or buildah storage). The folder is created owner-only (0700)
and refused if it is a link or belongs to someone else (/tmp is shared, and the name is predictable). It is
/tmp whatever $TMPDIR or $XDG_RUNTIME_DIR say: podman records the run root in its database and refuses
another one for the same storage, so the folder must not depend on the environment of a call.

    python3 -m local.paths [--workdir .local-deploy]   # the start-up check alone; exit 2 with the path at fault

Standard library only: the Makefile runs that check before anything is installed.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import stat
import sys
from pathlib import Path

from local import WORKDIR

PODMAN_RUNROOT_MAX = 50
UNIX_SOCKET_MAX = 107
PATH_MAX = 4095
DEEPEST = 512
"""Bytes kept for what is created below a checkout. Measured after `make demo` (`find . | awk '{print length}'
| sort -n | tail -1`): 241 bytes, a file of the image's venv in podman's storage (.local-deploy/runner/podman/
root/overlay/<64 hex>/diff/opt/venv/...); .venv and node_modules reach 188. The rest is room for a deeper image."""


class PathError(Exception):
    """A path would exceed a limit (the message names it, its length, the limit and what to change), or a short
    folder is not ours."""


BASE = Path("/tmp")


def short_folder(owner: str | Path) -> Path:
    """The short folder of `owner` (not created): the same for the same resolved path, whoever asks."""
    key = hashlib.sha256(os.fsencode(Path(owner).resolve())).hexdigest()[:12]
    return BASE / f"notes-{key}"


def ensure(folder: Path) -> Path:
    """Create `folder` owner-only, or check that the one there is a real folder of ours; returns it."""
    try:
        os.mkdir(folder, 0o700)
    except FileExistsError:
        pass
    info = os.lstat(folder)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid():
        raise PathError(f"{folder} exists but is not a folder of this user (uid {os.geteuid()}): "
                          "whoever made it can read what is put there; remove it and run again")
    if stat.S_IMODE(info.st_mode) != 0o700:
        os.chmod(folder, 0o700)
    return folder


def remove(owner: str | Path) -> None:
    """Delete the short folder of `owner` and what is in it; safe to repeat."""
    shutil.rmtree(short_folder(owner), ignore_errors=True)


def check(path: str | Path, limit: int, what: str, fix: str) -> Path:
    """`path` if it is at most `limit` bytes, else PathError naming it, the limit and `fix`."""
    length = len(os.fsencode(path))
    if length > limit:
        raise PathError(f"{what} would be {length} bytes long, over the limit of {limit}: {path}\n{fix}")
    return Path(path)


def podman_runroot(storage: str | Path) -> Path:
    """podman's (or buildah's) run root for a storage folder: short, and the same for every user of that storage
    (podman's database records the run root and refuses another one for the same storage)."""
    return check(short_folder(storage) / "run", PODMAN_RUNROOT_MAX, "podman's run root", "podman refuses a longer one")


def socket_path(owner: str | Path, name: str) -> Path:
    """A unix socket's path in the short folder of `owner`."""
    return check(short_folder(owner) / name, UNIX_SOCKET_MAX, f"the unix socket {name}", "unix(7) allows no longer one")


def check_workdir(workdir: str | Path, what: str = "the work folder",
                  fix: str = "clone the repository into a shorter folder") -> None:
    """The start-up check of a folder that storage grows in (a work folder, the image cache): what is created
    below it must stay under PATH_MAX. (The run roots and sockets above do not grow with it: they are checked
    where they are made.)"""
    check(Path(workdir).resolve(), PATH_MAX - DEEPEST, what,
          f"Linux allows no path over {PATH_MAX} bytes and up to {DEEPEST} are created below it: {fix}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m local.paths", description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", default=str(WORKDIR), help="the work folder (default .local-deploy)")
    args = parser.parse_args(argv)
    try:
        check_workdir(args.workdir)
    except PathError as error:
        parser.exit(2, f"error: {error}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""A podman storage made before the run root moved out of the checkout (runner/__main__.py's
_forget_legacy_runroot): podman refuses the new run root for it, and a fresh `up` makes it usable again,
images kept."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from local import paths
from runner.__main__ import _forget_legacy_runroot
from runner.tasks import PODMAN_FLAGS, Podman


def test_a_storage_with_the_old_run_root_is_refused_by_podman_then_usable_once_forgotten():
    # A short folder: the old run root, inside the storage, must itself be under podman's 50 bytes.
    tmp_path = Path(tempfile.mkdtemp(prefix="legacy-", dir="/tmp"))
    storage = tmp_path / "podman"
    old = ["podman", "--root", str(storage / "root"), "--runroot", str(storage / "run"), *PODMAN_FLAGS]
    podman = Podman(storage=storage, workdir=tmp_path)
    try:
        # GIVEN storage that an earlier version used, with its run root inside it
        assert subprocess.run(old + ["images"], capture_output=True).returncode == 0
        # THEN podman refuses the short run root for it, in its own words
        refused = podman.run("images", check=False)
        assert refused.returncode != 0 and "database configuration mismatch" in refused.stderr
        # WHEN a fresh `up` forgets the old run root THEN the storage serves under the new one
        _forget_legacy_runroot(podman)
        assert podman.run("images").returncode == 0
        assert not (storage / "run").exists() and (storage / "root").is_dir()
    finally:
        subprocess.run(["umount", "-R", str(storage / "root" / "overlay")], capture_output=True)
        paths.remove(storage)
        shutil.rmtree(tmp_path, ignore_errors=True)

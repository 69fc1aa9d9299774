"""A podman or buildah failure is shown as the tool's own words and the command that failed, never as a
guess about its cause (an image that was not pushed, a wrong tag)."""

from __future__ import annotations

import subprocess

import pytest

from local import paths
from image.build import Buildah, ImageError, ImageSettings
from runner.tasks import Podman, TaskError


def test_a_podman_failure_names_podmans_own_message_and_the_command(tmp_path):
    podman = Podman(storage=tmp_path / "storage", workdir=tmp_path)
    try:
        with pytest.raises(TaskError) as error:
            podman.run("inspect", "--type", "container", "no-such-container")
    finally:
        subprocess.run(["umount", "-R", str(podman.storage / "root" / "overlay")], capture_output=True)
        paths.remove(podman.storage)
    message = str(error.value)
    assert "Error: inspecting object: no such container no-such-container" in message, message
    assert f"command: podman --root {tmp_path}/storage/root --runroot {podman.runroot} " in message
    assert "push it" not in message and "tag" not in message.split("command:")[0]


def test_a_buildah_failure_names_buildahs_own_message_and_the_command(tmp_path):
    buildah = Buildah(ImageSettings(cache=tmp_path / "cache", storage_driver="vfs"))
    try:
        with pytest.raises(ImageError) as error:
            buildah("inspect", "--type", "image", "localhost/no-such-image:1", what="inspecting the image")
    finally:
        paths.remove(buildah.storage)
    message = str(error.value)
    assert message.startswith("inspecting the image failed (exit 125)"), message
    assert "localhost/no-such-image:1" in message.split("command:")[0]
    assert "command: buildah --root " in message and message.rstrip().endswith("localhost/no-such-image:1")

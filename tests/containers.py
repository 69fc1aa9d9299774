"""Fixtures of the image's and the runner's tests (a pytest plugin, named in tests/conftest.py, so that both
folders share one registry and one app image per test session).

- `registry`: an `image.registry.Registry` running on 127.0.0.1 (free port) with its files in a session
  temporary folder; `registry.address` is "127.0.0.1:PORT". Stopped at the end of the session.
- `app_image`: an `image.build.PushedImage` of app/ (as it is at the session's start) built from app/Dockerfile and pushed to `registry`;
  `.reference` ("127.0.0.1:PORT/notes-app:TAG"), `.pinned` (".../notes-app@sha256:..."), `.digest`.
  Pull it with `podman pull --tls-verify=false <reference>`. The first build on a machine takes about
  2.5 min (stand-in base from Debian packages); later ones reuse the cached base and layers (~5 s).
- `built_image`: the `image.build.BuiltImage` behind `app_image` (local name, tag, image id, size).
- `podman`: argv prefix for podman with its own storage in a session folder (nothing left in the
  machine's storage), its run root where `runner.tasks.Podman` puts it, and the flags that work here.
- `emulator` (per module) and `podman_storage` (the `podman` fixture's folder, for `runner up`).
- `browser`: a headless chromium (`tests.webdriver.Chromium`): `.open(url)`, `.type(css, text)`,
  `.click(css)`, `.texts(css)`, `.wait_for_text(css, text)`, `.title()`.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from local import paths

if TYPE_CHECKING:  # imported by the fixtures themselves: a session that uses none of them pays for none
    from image.build import BuiltImage, ImageSettings, PushedImage
    from image.registry import Registry
    from tests.webdriver import Chromium


@pytest.fixture(scope="session")
def registry(tmp_path_factory) -> Registry:
    from image.registry import Registry, RegistrySettings

    started = Registry(RegistrySettings(workdir=tmp_path_factory.mktemp("registry-work")))
    started.start()
    yield started
    started.stop()


@pytest.fixture(scope="session")
def image_settings(tmp_path_factory) -> ImageSettings:
    """The app as it is in this working tree when the session starts (a copy: edits made meanwhile do
    not reach later builds of the session), with the machine's shared build cache, tagged by the one rule
    (image/tag.py) as the tree is then: the commit, or `<commit>-dirty-<hash>` for uncommitted changes."""
    from image.build import ImageSettings
    from image.tag import commit_tag

    snapshot = tmp_path_factory.mktemp("context") / "app"
    shutil.copytree(ImageSettings.context, snapshot, ignore=shutil.ignore_patterns("__pycache__"))
    return ImageSettings(context=snapshot, tag=commit_tag(allow_dirty=True))


@pytest.fixture(scope="session")
def built_image(image_settings) -> BuiltImage:
    from image.build import build

    return build(image_settings)


@pytest.fixture(scope="session")
def app_image(built_image, registry, image_settings) -> PushedImage:
    from image.build import push

    return push(built_image, registry, image_settings)


@pytest.fixture(scope="session")
def podman(tmp_path_factory) -> list[str]:
    from runner.tasks import Podman

    assert shutil.which("podman"), "podman is not installed: apt-get install podman (tools/setup.sh containers)"
    storage = tmp_path_factory.mktemp("podman")
    prefix = Podman(storage=storage, workdir=storage).argv()
    yield prefix
    # Containers are removed by the tests that start them (--rm); the images go with the folder.
    subprocess.run(prefix + ["rm", "--all", "--force"], capture_output=True, timeout=120)
    subprocess.run(prefix + ["rmi", "--all", "--force"], capture_output=True, timeout=120)
    subprocess.run(["umount", "-R", str(storage / "root" / "overlay")], capture_output=True)
    paths.remove(storage)


@pytest.fixture(scope="module")
def emulator():
    """An emulator per test module: a module's services never meet another's."""
    from emulator.server import Emulator

    with Emulator(port=0) as emu:
        yield emu


@pytest.fixture(scope="module")
def podman_storage(podman) -> str:
    """The session's podman storage folder (for `runner up --podman-storage`): images are pulled once per
    session, and removed with it."""
    return str(Path(podman[podman.index("--root") + 1]).parent)


@pytest.fixture(scope="session")
def browser() -> Chromium:
    from tests.webdriver import Chromium

    with Chromium() as chromium:
        yield chromium

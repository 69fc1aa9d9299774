"""The real push path of the AWS target on one machine: runner/image.py builds app/, buildah pushes it with
the auth file made from the emulator's ECR token to the local registry (moto serves no registry), and the
digest recorded is the one the registry serves for the commit's tag."""
from __future__ import annotations

import pytest

from release.aws import buildah_pusher
from runner.registry import Registry, RegistrySettings


@pytest.fixture
def local_registry(tmp_path):
    registry = Registry(RegistrySettings(workdir=tmp_path / "registry-work"))
    registry.start()
    yield registry
    registry.stop()


@pytest.mark.integration
def test_the_pushed_digest_is_what_the_registry_serves_for_the_tag(stack, target, local_registry):
    target.registry = local_registry.address
    target.pusher = buildah_pusher(registry_tls=False)
    image = target.push("0123456789ab")
    assert image.digest == local_registry.digest(stack.outputs.repository_name, "0123456789ab")

"""The real push path of the AWS target on one machine: runner/image.py builds app/, buildah pushes it with
the auth file made from the emulator's ECR token to the local registry (moto serves no registry), and the
digest recorded is the one the registry serves for the commit's tag."""
from __future__ import annotations

import pytest

from release.aws import buildah_pusher
from image.registry import Registry, RegistrySettings


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


@pytest.mark.integration
def test_the_push_command_records_what_it_pushed(emu, stack, local_registry, tmp_path, monkeypatch):
    import json

    from release.__main__ import main

    from tests.release.conftest import DEPLOY_ENV

    for key, value in {"AWS_ENDPOINT_URL": emu.endpoint, **DEPLOY_ENV}.items():
        monkeypatch.setenv(key, value)
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps({"ecr_repository_url": {"value": stack.outputs.repository_url}}))
    code = main(["push", "--env", "dev", "--outputs", str(outputs), "--registry", local_registry.address,
                 "--allow-dirty", "--history", str(tmp_path / "history")])
    (pushed,) = json.loads((tmp_path / "history" / "dev.json").read_text())["pushed"]
    assert code == 0 and pushed["digest"] == local_registry.digest(stack.outputs.repository_name, pushed["tag"])

"""Build once, push by digest: the real build of app/ written to an OCI archive (`python -m release build`), then
copied with skopeo into two environments' repositories (the local registry stands in for ECR: moto serves none),
which both serve exactly the archive's digest. The repositories' auth file comes from the emulator's ECR token."""
from __future__ import annotations

import json

import pytest

from release.__main__ import main
from release.aws import skopeo_pusher
from image.archive import read
from tests.release.conftest import DEPLOY_ENV


@pytest.mark.integration
def test_one_build_is_pushed_to_two_repositories_under_one_digest(emu, stack, target, local_registry, tmp_path,
                                                                  monkeypatch, capsys):
    archive_path = tmp_path / "image.tar"
    assert main(["build", "--output", str(archive_path), "--allow-dirty"]) == 0
    archive = read(archive_path)
    assert f"built {archive.tag}: {archive.digest}" in capsys.readouterr().err

    target.registry, target.pusher = local_registry.address, skopeo_pusher(registry_tls=False)
    first = target.push(archive)
    # A second environment's repository, pushed by the command as CI runs it.
    for key, value in {"AWS_ENDPOINT_URL": emu.endpoint, **DEPLOY_ENV}.items():
        monkeypatch.setenv(key, value)
    outputs = tmp_path / "outputs.json"
    second_repository = stack.outputs.repository_url.replace("/app", "/app-copy")
    outputs.write_text(json.dumps({"ecr_repository_url": {"value": second_repository}}))
    code = main(["push", "--env", "dev", "--image", str(archive_path), "--outputs", str(outputs), "--registry",
                 local_registry.address])
    served = {local_registry.digest(name, archive.tag) for name in
              (stack.outputs.repository_name, second_repository.split("/", 1)[1])}
    assert (code, first.digest, served) == (0, archive.digest, {archive.digest})

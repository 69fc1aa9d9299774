"""The release flow (release/flow.py) against the local system: real images in the local registry, the
migration container run once by the runner against PostgreSQL, the rolling deploy behind HAProxy, the
runner's deployment circuit breaker, and `rollback`.

The service is created on the emulator with boto3 (tests/runner/emulated_service.py), two tasks with
migrations as a task (the seed's second strategy), the circuit breaker on with rollback as infra/service.py
sets it. Its configuration changes as Terraform's apply would for an image change: a new revision of the
app's task definition, then UpdateService (`ecs_applier`); `python -m release --local` does the same with
Terraform itself (release/local.py's `terraform_applier`, run by CI after `make demo`).
"""

from __future__ import annotations

import json
import shutil
import time
import uuid
from pathlib import Path

import pytest

from release import flow
from release.__main__ import main as release_main
from release.aws import REGISTERABLE, AwsTarget, buildah_pusher
from release.history import History
from release.local import LocalTarget
from release.model import Image, ReleaseError
from release.outputs import StackOutputs
from image.build import ImageSettings
from tests.runner import emulated_service
from tests.runner.local_system import Load, Up, started

FAST = flow.Timing(migration_timeout=300, rollout_timeout=300, poll=0.5)
ADD_COLUMN = '''"""A release test's migration: notes get a summary."""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade():
    op.add_column("notes", sa.Column("summary", sa.Text(), nullable=True))
{fail}

def downgrade():
    op.drop_column("notes", "summary")
'''
FAILS = '    raise RuntimeError("migration 0002 fails on purpose")\n'


def ecs_applier(service: emulated_service.Service, environment_overrides: dict[str, str] | None = None):
    """What Terraform's apply does when the image changes: a new app task definition revision, UpdateService."""

    def apply(environment: str, image: Image) -> None:
        ecs = service.client("ecs")
        # Terraform renders the definition from the configuration: the first revision, not whatever runs now.
        definition = ecs.describe_task_definition(taskDefinition=f"{service.cluster}-app:1")["taskDefinition"]
        containers = []
        for c in definition["containerDefinitions"]:
            env = {e["name"]: e["value"] for e in c.get("environment", [])} | (environment_overrides or {})
            containers.append(dict(c, image=image.pinned, environment=[{"name": k, "value": v} for k, v in env.items()]))
        fields = {k: definition[k] for k in REGISTERABLE if k in definition} | {"containerDefinitions": containers}
        arn = ecs.register_task_definition(**fields)["taskDefinition"]["taskDefinitionArn"]
        ecs.update_service(cluster=service.cluster, service=service.name, taskDefinition=arn)

    return apply


class System:
    """Two tasks behind HAProxy; `target(...)` releases to them with a given app folder and applier."""

    def __init__(self, up: Up, registry, image_settings: ImageSettings, tmp: Path) -> None:
        self.up, self.registry, self.image_settings, self.tmp = up, registry, image_settings, tmp
        service = up.service
        self.outputs = StackOutputs(cluster=service.cluster, service=service.name,
                                    migration_task_definition=f"{service.cluster}-migrate",
                                    repository_url=f"{emulated_service.ECR}/{service.repository}")
        self.history = History(tmp / "releases", "local")

    def app_with(self, migration: str | None) -> ImageSettings:
        """A copy of the session's app/ with `migration` as versions/0002_*.py."""
        folder = self.tmp / f"app-{uuid.uuid4().hex[:6]}" / "app"
        shutil.copytree(self.image_settings.context, folder)
        if migration is not None:
            (folder / "migrations" / "versions" / "0002_add_summary.py").write_text(migration)
        return ImageSettings(context=folder)

    def target(self, app: ImageSettings, overrides: dict[str, str] | None = None) -> LocalTarget:
        control = AwsTarget(environment="local", outputs=self.outputs, client=self.up.service.client,
                            pusher=buildah_pusher(registry_tls=False, settings=app),
                            applier=ecs_applier(self.up.service, overrides), registry=self.registry.address)
        return LocalTarget(control=control, workdir=self.up.workdir)

    def columns(self) -> list[str]:
        return self.up.database().sql("SELECT column_name FROM information_schema.columns WHERE table_name = 'notes' "
                                      "ORDER BY ordinal_position", database="app").split()

    def schema_version(self) -> str:
        return self.up.database().sql("SELECT version_num FROM alembic_version", database="app").strip()

    def task_definition(self) -> str:
        ecs = self.up.service.client("ecs")
        return ecs.describe_services(cluster=self.up.service.cluster, services=[self.up.service.name])["services"][0]["taskDefinition"]


@pytest.fixture(scope="module")
def system(emulator, app_image, registry, image_settings, podman_storage, tmp_path_factory):
    service = emulated_service.create(emulator.endpoint, name="notes-release", repository=app_image.repository,
                                      tag=app_image.tag, desired_count=2, migrate_on_start=False,
                                      circuit_breaker=True)
    # The stack's ECR repository: the release authenticates with its token and checks tags against it.
    service.client("ecr").create_repository(repositoryName=service.repository, imageTagMutability="IMMUTABLE")
    up = Up(service, app_image.registry, tmp_path_factory.mktemp("release"), "127.0.103", podman_storage)
    started(up.up("--migrate"))
    first = Image(f"{emulated_service.ECR}/{service.repository}", app_image.tag, app_image.digest)
    made = System(up, registry, image_settings, tmp_path_factory.mktemp("release-tmp"))
    made.history.record_deployed(first)
    yield made
    up.down()


def test_a_failing_migration_exits_non_zero_with_its_log_and_changes_neither_tasks_nor_schema(system, capsys, tmp_path):
    target = system.target(system.app_with(ADD_COLUMN.format(fail=FAILS)))
    image = target.push(f"fails-{uuid.uuid4().hex[:6]}")
    containers, columns, version, definition = (set(system.up.containers()), system.columns(),
                                                system.schema_version(), system.task_definition())
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps({"cluster_name": system.outputs.cluster, "task_subnet_ids": "subnet-local",
                                   "migration_task_definition_arn": system.outputs.migration_task_definition,
                                   "task_security_group_id": "sg-local"}))
    capsys.readouterr()
    code = release_main(["migrate", "--env", "dev", "--tag", image.tag, "--outputs", str(outputs), "--poll", "0.5",
                         "--history", str(tmp_path)], target_factory=lambda env, outs: target)
    err = capsys.readouterr().err
    assert code == 1
    assert "migration 0002 fails on purpose" in err, "the migration's own log is in the output"
    assert "the migration failed: it exited with code" in err and "The service was not changed" in err
    assert set(system.up.containers()) == containers, "the running tasks were not touched"
    assert system.task_definition() == definition, "the service's configuration was not touched"
    assert system.columns() == columns and "summary" not in columns, "the schema is as it was"
    assert system.schema_version() == version == "0001"


def test_the_release_gate_never_applies_after_a_failed_migration(system):
    applied: list[Image] = []
    target = system.target(system.app_with(ADD_COLUMN.format(fail=FAILS)))
    target.control.applier = lambda environment, image: applied.append(image)
    image = target.push(f"gate-{uuid.uuid4().hex[:6]}")
    with pytest.raises(ReleaseError) as failed:
        flow.release(target, image, system.history, FAST)
    assert failed.value.changed is False
    assert applied == []


def test_a_release_with_a_new_column_migrates_once_and_rolls_both_tasks_under_load_without_a_failed_request(system):
    target = system.target(system.app_with(ADD_COLUMN.format(fail="")))
    before = set(system.up.containers())
    started_at = time.monotonic()
    image = target.push(f"column-{uuid.uuid4().hex[:6]}")
    pushed_at = time.monotonic()
    with Load(system.up.url) as load:
        flow.release(target, image, system.history, FAST)
    done = time.monotonic()
    print(f"local release: push {pushed_at - started_at:.1f} s, migrate and roll {done - pushed_at:.1f} s; "
          f"{len(load.results)} requests, {len(load.failures)} failed")
    assert load.failures == []
    assert len(load.results) > 100
    assert "summary" in system.columns() and system.schema_version() == "0002"
    status = system.up.status()
    assert status["steady"] and {t["arn"] for t in status["tasks"]} == {system.task_definition()}
    assert not before & set(system.up.containers()), "both tasks were replaced"
    assert system.history.previous().tag != image.tag
    assert Image(**system.history._read()["deployed"][-1]) == image


def test_a_deployment_whose_tasks_crash_is_rolled_back_by_the_circuit_breaker_and_the_release_fails(system):
    serving = system.task_definition()
    containers = set(system.up.containers())
    # DB_POOL_SIZE=0 is refused by the app's settings: every new task exits before it is healthy.
    target = system.target(system.app_with(None), overrides={"DB_POOL_SIZE": "0"})
    image = target.push(f"crash-{uuid.uuid4().hex[:6]}")
    with Load(system.up.url) as load:
        with pytest.raises(ReleaseError) as failed:
            flow.deploy(target, image, system.history, FAST)
    message = str(failed.value)
    assert "rolled the service back" in message and "circuit breaker" in message
    assert "exit code" in message, "the stopped tasks' exit codes are named"
    assert failed.value.changed is True
    assert load.failures == [], "the previous tasks kept serving"
    now = system.up.containers()
    assert all(now.get(name) == "running" for name in containers), "the previous tasks still run"
    assert serving in {t["arn"] for t in system.up.status()["tasks"]}


def test_rollback_redeploys_the_previous_image_and_waits_until_steady_on_it(system):
    target = system.target(system.app_with(None))
    last = system.history._read()["deployed"][-1]
    previous = system.history.previous()
    assert previous.tag != last["tag"]
    back = flow.rollback(target, system.history, FAST)
    assert back == previous
    images = {c["image"] for c in system.up.service.client("ecs").describe_task_definition(
        taskDefinition=system.task_definition())["taskDefinition"]["containerDefinitions"]}
    assert images == {previous.pinned}
    assert system.up.status()["steady"]

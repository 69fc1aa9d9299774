"""The release flow (release/flow.py) against the local system: real images in the local registry, the
migration container run once by the runner against PostgreSQL, the rolling deploy behind HAProxy, the
runner's deployment circuit breaker, and `rollback`.

The service is created on the emulator with boto3 (tests/runner/emulated_service.py), three tasks (prod's shape) with
migrations as a task (the seed's second strategy), the circuit breaker on with rollback as infra/service.py
sets it. Its configuration changes as Terraform's apply would for an image change: a new revision of the
app's task definition, then UpdateService (`ecs_applier`); `python -m release --local` does the same with
Terraform itself (release/local.py's `terraform_applier`, run by CI after `make demo`).
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import tempfile
import time
import uuid
from pathlib import Path

import pytest

from release import flow
from release.__main__ import main as release_main
from release.aws import REGISTERABLE, AwsTarget, PodmanGate, skopeo_pusher
from release.local import LocalTarget
from release.model import Image, ReleaseError
from release.outputs import StackOutputs
from image import archive as archives
from image.build import ImageSettings, build
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
# A migration that renames a column the code still reads: every check ECS makes passes, every read of a note fails.
RENAME_BODY = '''"""A release test's migration: notes.body becomes notes.content (the code still reads body)."""
from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade():
    op.alter_column("notes", "body", new_column_name="content")


def downgrade():
    op.alter_column("notes", "content", new_column_name="body")
'''


def ecs_applier(service: emulated_service.Service, environment_overrides: dict[str, str] | None = None):
    """What Terraform's apply does when the image changes: a new app task definition revision, UpdateService."""

    def apply(environment: str, image: Image, stopped: bool = False) -> None:
        assert not stopped, "the local system is created by make demo, never by a release"
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
    """Three tasks behind HAProxy; `target(...)` releases to them with a given app folder and applier."""

    def __init__(self, up: Up, registry, image_settings: ImageSettings, tmp: Path) -> None:
        self.up, self.registry, self.image_settings, self.tmp = up, registry, image_settings, tmp
        service = up.service
        self.outputs = StackOutputs(cluster=service.cluster, service=service.name,
                                    migration_task_definition=f"{service.cluster}-migrate",
                                    repository_url=f"{emulated_service.ECR}/{service.repository}")

    def app_with(self, migration: str | None, *more: str) -> ImageSettings:
        """A copy of the session's app/ with `migration` as versions/0002_*.py (and `more` as 0003_*.py ...)."""
        folder = self.tmp / f"app-{uuid.uuid4().hex[:6]}" / "app"
        shutil.copytree(self.image_settings.context, folder)
        # Each build its own image (the same files would build the same digest, whatever the tag).
        (folder / "release_test_build.py").write_text(f"BUILD = {uuid.uuid4().hex!r}\n")
        for number, text in enumerate((migration, *more), start=2):
            if text is not None:
                (folder / "migrations" / "versions" / f"{number:04d}_release_test.py").write_text(text)
        return dataclasses.replace(self.image_settings, context=folder)

    def build(self, app: ImageSettings, tag: str) -> archives.Archive:
        """`python -m release build` of `app`: the image, once, as an archive."""
        chosen = dataclasses.replace(app, tag=tag)
        return archives.export(build(chosen), self.tmp / f"{tag}.tar", chosen)

    def target(self, overrides: dict[str, str] | None = None) -> LocalTarget:
        control = AwsTarget(environment="local", outputs=self.outputs, client=self.up.service.client,
                            pusher=skopeo_pusher(registry_tls=False), applier=ecs_applier(self.up.service, overrides),
                            registry=self.registry.address)
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
                                      tag=app_image.tag, desired_count=3, migrate_on_start=False,
                                      circuit_breaker=True)
    # The stack's ECR repository: the release authenticates with its token and checks tags against it.
    service.client("ecr").create_repository(repositoryName=service.repository, imageTagMutability="IMMUTABLE")
    up = Up(service, app_image.registry, tmp_path_factory.mktemp("release"), "127.0.103", podman_storage)
    started(up.up("--migrate"))
    made = System(up, registry, image_settings, tmp_path_factory.mktemp("release-tmp"))
    yield made
    up.down()


def _outputs_file(system, tmp_path) -> Path:
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps({"cluster_name": system.outputs.cluster, "task_subnet_ids": "subnet-local",
                                   "migration_task_definition_arn": system.outputs.migration_task_definition,
                                   "task_security_group_id": "sg-local",
                                   "ecr_repository_url": system.outputs.repository_url,
                                   "service_name": system.outputs.service, "load_balancer_url": system.up.url}))
    return outputs


def test_a_failing_migration_exits_non_zero_with_its_log_and_changes_neither_tasks_nor_schema(system, capsys):
    """The migration task itself (flow.migrate, after the compatibility gate): its log, its exit code."""
    target = system.target()
    archive = system.build(system.app_with(ADD_COLUMN.format(fail=FAILS)), f"fails-{uuid.uuid4().hex[:6]}")
    image = target.push(archive)
    containers, columns, version, definition = (set(system.up.containers()), system.columns(),
                                                system.schema_version(), system.task_definition())
    capsys.readouterr()
    with pytest.raises(ReleaseError) as failed:
        flow.migrate(target, image, FAST)
    err = capsys.readouterr().err + str(failed.value)
    assert "migration 0002 fails on purpose" in err, "the migration's own log is in the output"
    assert "the migration failed: it exited with code" in err and "The service was not changed" in err
    assert set(system.up.containers()) == containers, "the running tasks were not touched"
    assert system.task_definition() == definition, "the service's configuration was not touched"
    assert system.columns() == columns and "summary" not in columns, "the schema is as it was"
    assert system.schema_version() == version == "0001"


def test_the_migrate_command_stops_at_the_compatibility_gate_when_the_migration_fails_there(system, capsys, tmp_path):
    """`migrate` runs the gate first: the new migrations fail on a throw-away copy of the running schema, so the
    real database is never touched."""
    target = system.target()
    archive = system.build(system.app_with(ADD_COLUMN.format(fail=FAILS)), f"fails-{uuid.uuid4().hex[:6]}")
    target.push(archive)
    version, definition = system.schema_version(), system.task_definition()
    capsys.readouterr()
    code = release_main(["migrate", "--env", "dev", "--image", str(archive.path), "--outputs",
                         str(_outputs_file(system, tmp_path)), "--poll", "0.5"], target_factory=lambda env, outs: target)
    err = capsys.readouterr().err
    assert code == 1, err
    assert "the compatibility gate stopped the release: this release's migrations" in err
    assert "migration 0002 fails on purpose" in err and "(nothing was changed)" in err
    assert (system.schema_version(), system.task_definition()) == (version, definition)


def test_the_release_gate_never_applies_after_a_failed_migration(system):
    applied: list[Image] = []
    target = system.target()
    target.control.applier = lambda environment, image, stopped=False: applied.append(image)
    image = target.push(system.build(system.app_with(ADD_COLUMN.format(fail=FAILS)), f"gate-{uuid.uuid4().hex[:6]}"))
    with pytest.raises(ReleaseError) as failed:
        flow.release(target, image, FAST)
    assert failed.value.changed is False
    assert applied == []


def test_one_build_is_released_under_load_then_promoted_to_a_second_environment_with_the_same_digest(system, emulator):
    """Build once (the archive), release it here with a new column under load (migrate once, all three tasks rolled,
    verified where users arrive), then push the same archive to another environment's repository and apply
    it there (an emulator-only stack: moto runs no containers): both services pin one digest."""
    target = system.target()
    before = set(system.up.containers())
    started_at = time.monotonic()
    archive = system.build(system.app_with(ADD_COLUMN.format(fail="")), f"column-{uuid.uuid4().hex[:6]}")
    built_at = time.monotonic()
    image = target.push(archive)
    pushed_at = time.monotonic()
    with Load(system.up.url) as load:
        flow.migrate(target, image, FAST)
        migrated_at = time.monotonic()
        flow.deploy(target, image, FAST)
        rolled_at = time.monotonic()
        flow.verify(target, image, FAST)
    done = time.monotonic()
    print(f"local release: build {built_at - started_at:.1f} s, push {pushed_at - built_at:.1f} s, migrate "
          f"{migrated_at - pushed_at:.1f} s, roll {rolled_at - migrated_at:.1f} s, verify {done - rolled_at:.1f} s; "
          f"{len(load.results)} requests, {len(load.failures)} failed")
    assert load.failures == []
    assert len(load.results) > 100
    assert "summary" in system.columns() and system.schema_version() == "0002"
    status = system.up.status()
    assert status["steady"] and {t["arn"] for t in status["tasks"]} == {system.task_definition()}
    assert not before & set(system.up.containers()), "every task was replaced"
    assert target.releases()[0].verified, "the release marked the revision it verified"

    second = emulated_service.create(emulator.endpoint, name=f"notes-second-{uuid.uuid4().hex[:4]}",
                                     repository=f"second-{uuid.uuid4().hex[:4]}/app", tag="none", desired_count=1,
                                     migrate_on_start=False)
    promoted = AwsTarget(environment="second", client=second.client, pusher=skopeo_pusher(registry_tls=False),
                         outputs=StackOutputs(cluster=second.cluster, service=second.name,
                                              repository_url=f"{emulated_service.ECR}/{second.repository}"),
                         applier=ecs_applier(second), registry=system.registry.address)
    there = promoted.push(archive)
    promoted.apply(there)
    pinned = {c["image"].split("@")[1] for c in second.client("ecs").describe_task_definition(
        taskDefinition=promoted.releases()[0].task_definition)["taskDefinition"]["containerDefinitions"]}
    assert (there.digest, pinned) == (image.digest, {image.digest})
    assert system.registry.digest(second.repository, archive.tag) == system.registry.digest(
        system.outputs.repository_name, archive.tag) == archive.digest


def test_a_deployment_whose_tasks_crash_is_rolled_back_by_the_circuit_breaker_and_the_release_fails(system):
    serving = system.task_definition()
    containers = set(system.up.containers())
    # DB_POOL_SIZE=0 is refused by the app's settings: every new task exits before it is healthy.
    target = system.target(overrides={"DB_POOL_SIZE": "0"})
    image = target.push(system.build(system.app_with(ADD_COLUMN.format(fail="")), f"crash-{uuid.uuid4().hex[:6]}"))
    with Load(system.up.url) as load:
        with pytest.raises(ReleaseError) as failed:
            flow.deploy(target, image, FAST)
    message = str(failed.value)
    assert "rolled the service back" in message and "circuit breaker" in message
    assert "exit code" in message, "the stopped tasks' exit codes are named"
    assert failed.value.changed is True
    assert load.failures == [], "the previous tasks kept serving"
    now = system.up.containers()
    assert all(now.get(name) == "running" for name in containers), "the previous tasks still run"
    assert serving in {t["arn"] for t in system.up.status()["tasks"]}


class Killed(BaseException):
    """What the release process sees of a SIGKILL from the outside: nothing after this point runs."""


def test_a_release_killed_during_the_rollout_and_run_again_finishes_with_no_failed_request(system):
    target = system.target()
    archive = system.build(system.app_with(ADD_COLUMN.format(fail="")), f"rerun-{uuid.uuid4().hex[:6]}")
    polls = []

    def killed_after_a_few_polls(seconds):
        polls.append(seconds)
        if len(polls) == 3:
            raise Killed()
        time.sleep(seconds)

    with Load(system.up.url) as load:
        image = target.push(archive)
        flow.migrate(target, image, FAST)
        with pytest.raises(Killed):
            flow.deploy(target, image, FAST, sleep=killed_after_a_few_polls)
        # The job again, from the start: the image is reused, the migration is a no-op, the rollout completes.
        again = target.push(archive)
        flow.release(target, again, FAST)
    assert again == image and load.failures == [] and len(load.results) > 50
    images = {c["image"] for c in system.up.service.client("ecs").describe_task_definition(
        taskDefinition=system.task_definition())["taskDefinition"]["containerDefinitions"]}
    assert images == {image.pinned} and system.up.status()["steady"]


def test_rollback_from_a_fresh_checkout_redeploys_the_last_verified_image_before_and_verifies_it(system):
    """A new target (nothing of the releases above in memory or on disk): ECS's revisions are the record."""
    target = system.target()
    history = target.releases()
    current = history[0]
    expected = next(r for r in history[1:] if r.verified and r.digest and r.digest != current.digest)
    with Load(system.up.url) as load:
        back = flow.rollback(target, None, FAST)
    print(f"rollback to the last verified image before: {len(load.results)} requests, {len(load.failures)} failed")
    assert back.digest == expected.digest and load.failures == [] and len(load.results) > 100
    images = {c["image"] for c in system.up.service.client("ecs").describe_task_definition(
        taskDefinition=system.task_definition())["taskDefinition"]["containerDefinitions"]}
    assert images == {back.pinned} and system.up.status()["steady"]


def test_a_rollback_past_an_expand_migration_serves_the_older_code_on_the_newer_schema_under_load(system):
    """Back to the first image (it knows nothing of migration 0002's column) on the schema that has the column: an
    expand migration keeps the release before it working, so going back fails no request (README: expand, then
    contract)."""
    assert "summary" in system.columns() and system.schema_version() == "0002"
    target = system.target()
    with Load(system.up.url) as load:
        back = flow.rollback(target, system.up.service.tag, FAST)
    print(f"rollback past an expand migration: {len(load.results)} requests, {len(load.failures)} failed")
    assert back.tag == system.up.service.tag and load.failures == [] and len(load.results) > 100
    assert "summary" in system.columns() and system.up.status()["steady"]


def test_a_release_whose_migration_renames_a_column_the_running_code_reads_is_stopped_by_the_gate(system, capsys,
                                                                                                  tmp_path):
    """The compatibility gate (release/gate.py), under load: the running release's selfcheck fails on the schema
    after the rename, so the release stops before its migration, naming the step and the column; the schema, the
    service and the tasks are as they were, and no request failed."""
    target = system.target()
    archive = system.build(system.app_with(ADD_COLUMN.format(fail=""), RENAME_BODY), f"gated-{uuid.uuid4().hex[:6]}")
    target.push(archive)
    before = (system.schema_version(), system.columns(), system.task_definition(), set(system.up.containers()))
    capsys.readouterr()
    with Load(system.up.url) as load:
        code = release_main(["promote", "--env", "dev", "--image", str(archive.path), "--outputs",
                             str(_outputs_file(system, tmp_path)), "--poll", "0.5"],
                            target_factory=lambda env, outs: target)
    err = capsys.readouterr().err
    print(f"release stopped by the compatibility gate: {len(load.results)} requests, {len(load.failures)} failed")
    assert code == 1, err
    assert "the compatibility gate stopped the release: the running release's own queries" in err
    assert "selfcheck.failing at the step 'create': UndefinedColumn" in err and "Expand, then contract" in err
    assert "(nothing was changed)" in err and "migration task" not in err
    assert (system.schema_version(), system.columns(), system.task_definition(), set(system.up.containers())) == before
    assert load.failures == []


def test_against_aws_the_gate_pulls_both_images_with_the_ecr_tokens_auth_into_a_storage_of_its_own(system):
    """What a release against AWS runs (release/aws.py PodmanGate; the release workflow runs it as root with podman
    and PostgreSQL): both images pulled by digest from the environment's repository with the ECR token's auth (the
    local registry stands in for ECR, the emulator gives the token) into a podman storage of the gate's own, deleted
    afterwards. A rename of a column the running code reads fails at its selfcheck; an expand passes."""
    control = system.target().control
    control.gate = PodmanGate(registry_tls=False)
    running = control.running_image()
    before = set(Path(tempfile.gettempdir()).glob("release-gate-*"))
    renaming = control.push(system.build(system.app_with(ADD_COLUMN.format(fail=""), RENAME_BODY),
                                         f"pulled-{uuid.uuid4().hex[:6]}"))
    failure = control.check_compatibility(running, renaming)
    assert failure and "the running release's own queries" in failure
    assert "selfcheck.failing at the step 'create': UndefinedColumn" in failure
    expanding = control.push(system.build(system.app_with(ADD_COLUMN.format(fail="")), f"pulled-{uuid.uuid4().hex[:6]}"))
    assert control.check_compatibility(running, expanding) is None
    assert set(Path(tempfile.gettempdir()).glob("release-gate-*")) == before, "the gate's storage and files are gone"


def test_a_release_whose_code_reads_a_column_its_migration_renamed_fails_at_verify_naming_the_request(system):
    """Steady is not working: past the gate (as a release with the gate left out would be), ECS's checks all pass
    (the tasks start, /health answers), every read of a note fails, and the verification says so."""
    target = system.target()
    archive = system.build(system.app_with(ADD_COLUMN.format(fail=""), RENAME_BODY), f"rename-{uuid.uuid4().hex[:6]}")
    image = target.push(archive)
    try:
        flow.migrate(target, image, FAST)
        flow.deploy(target, image, FAST)
        with pytest.raises(ReleaseError) as failed:
            flow.verify(target, image, FAST)
        message = str(failed.value)
        assert f"POST {target.endpoint().shown}/ready/probe answered 500" in message and "UndefinedColumn" in message
        assert "python -m release rollback" in message
        assert not target.releases()[0].verified, "a release that failed its check is never a rollback target"
    finally:
        # Put the schema back for whatever runs next on this system.
        if "content" in system.columns():
            system.up.database().sql("ALTER TABLE notes RENAME COLUMN content TO body; "
                                     "UPDATE alembic_version SET version_num = '0002'", database="app")

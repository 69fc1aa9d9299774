"""The release logic on the AWS target, against the emulator: the migration gate, the honest rollout check,
the push's authentication, and the refusals that change nothing."""
from __future__ import annotations

import base64
import json
import time

import pytest

from release import flow
from release.model import BadInput, ReleaseError
from tests.stacks import without_action
from release.aws import skopeo_pusher
from tests.release.conftest import (LOG_PREFIX, an_image, ecs_model, finish_task, last_request, manifest,
                                   release_denials, set_deployments, tiny_archive)

FAST = flow.Timing(migration_timeout=60, rollout_timeout=60, poll=0)


def _task_ids(stack):
    return [arn.rsplit("/", 1)[-1] for arn in ecs_model().tasks.get(stack.outputs.cluster, {})]


def _service_task_definition(client, stack):
    return client("ecs").describe_services(cluster=stack.outputs.cluster,
                                           services=[stack.outputs.service])["services"][0]["taskDefinition"]


def _ends_with(stack, exit_code, reason="Essential container in task exited", **extra):
    """A `sleep` for the gate's wait loop: the running migration task stops as given (ECS's part)."""
    def sleep(_seconds):
        for task_id in _task_ids(stack):
            finish_task(stack.outputs.cluster, task_id, exit_code, reason, **extra)
    return sleep


# -- the RunTask call ---------------------------------------------------------------------------------

def test_the_migration_runs_once_on_the_cluster_in_the_private_subnets_with_the_tasks_group(client, stack, target):
    task_id = target.start_migration(an_image(stack))
    task = client("ecs").describe_tasks(cluster=stack.outputs.cluster, tasks=[task_id])["tasks"][0]
    eni = next(d["value"] for d in task["attachments"][0]["details"] if d["name"] == "networkInterfaceId")
    interface = client("ec2").describe_network_interfaces(NetworkInterfaceIds=[eni])["NetworkInterfaces"][0]
    assert (task["clusterArn"].endswith(f"/{stack.outputs.cluster}"), task["launchType"], interface["SubnetId"],
            [g["GroupId"] for g in interface["Groups"]], _task_ids(stack)) == (
        True, "FARGATE", stack.outputs.subnets[0], [stack.outputs.security_group], [task_id])


def test_the_migration_task_definition_is_the_migration_family_on_the_new_image_by_digest(client, stack, target):
    image = an_image(stack)
    task_id = target.start_migration(image)
    ecs = client("ecs")
    arn = ecs.describe_tasks(cluster=stack.outputs.cluster, tasks=[task_id])["tasks"][0]["taskDefinitionArn"]
    definition = ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"]
    assert (definition["family"], [c["image"] for c in definition["containerDefinitions"]]) == (
        stack.outputs.migration_task_definition.rsplit("/", 1)[1].split(":")[0], [image.pinned])


def test_the_migration_task_is_told_to_run_the_migrate_command(client, stack, target):
    task_id = target.start_migration(an_image(stack))
    task = client("ecs").describe_tasks(cluster=stack.outputs.cluster, tasks=[task_id])["tasks"][0]
    assert task["overrides"]["containerOverrides"] == [{"name": "app", "command": ["migrate"]}]


# -- waiting on and failing for exit codes and stop reasons -----------------------------------------------

def test_a_migration_that_exits_0_passes_the_gate(stack, target):
    outcome = flow.migrate(target, an_image(stack), FAST, sleep=_ends_with(stack, 0))
    assert (outcome.exit_code, outcome.failure) == (0, None)


def test_a_migration_that_exits_non_zero_fails_with_its_exit_code(stack, target):
    with pytest.raises(ReleaseError, match=r"the migration failed: it exited with code 3 .*service was not changed"):
        flow.migrate(target, an_image(stack), FAST, sleep=_ends_with(stack, 3))


def test_a_migration_stopped_by_ecs_fails_even_with_exit_code_0(stack, target):
    with pytest.raises(ReleaseError, match="it was stopped: Task stopped by user"):
        flow.migrate(target, an_image(stack), FAST, sleep=_ends_with(stack, 0, reason="Task stopped by user"))


def test_a_migration_whose_container_never_ran_fails_with_the_reason(stack, target):
    with pytest.raises(ReleaseError, match="never exited normally: Task failed to start .CannotPullContainerError"):
        flow.migrate(target, an_image(stack), FAST, sleep=_ends_with(
            stack, None, reason="Task failed to start", container_reason="CannotPullContainerError: not found"))


def _active_migration_revisions(client, stack) -> list[str]:
    return client("ecs").list_task_definitions(familyPrefix=f"{stack.outputs.cluster}-migrate",
                                               status="ACTIVE")["taskDefinitionArns"]


def test_a_migration_that_never_stops_fails_after_the_timeout_and_leaves_no_one_off_revision(client, stack, target):
    with pytest.raises(ReleaseError, match="did not stop within 0 s"):
        flow.migrate(target, an_image(stack), flow.Timing(migration_timeout=0, poll=0), sleep=lambda _: None)
    assert _active_migration_revisions(client, stack) == [stack.outputs.migration_task_definition]


class _Eventually:
    """The ECS client as AWS may answer right after RunTask: DescribeTasks says MISSING `times` times."""

    def __init__(self, ecs, times: int, fail_run_task: bool = False) -> None:
        self.ecs, self.left, self.fail_run_task = ecs, times, fail_run_task

    def describe_tasks(self, **kwargs):
        if self.left:
            self.left -= 1
            return {"tasks": [], "failures": [{"arn": kwargs["tasks"][0], "reason": "MISSING"}]}
        return self.ecs.describe_tasks(**kwargs)

    def run_task(self, **kwargs):
        if self.fail_run_task:
            from botocore.exceptions import ClientError
            raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, "RunTask")
        return self.ecs.run_task(**kwargs)

    def __getattr__(self, name):
        return getattr(self.ecs, name)


def _with_ecs(target, wrapper):
    real = target.client
    ecs = wrapper(real("ecs"))
    target.client = lambda service: ecs if service == "ecs" else real(service)
    return target


def test_a_task_ecs_answers_missing_twice_is_waited_for_and_its_real_outcome_counts(client, stack, target):
    _with_ecs(target, lambda ecs: _Eventually(ecs, times=2))
    with pytest.raises(ReleaseError, match="it exited with code 4"):
        flow.migrate(target, an_image(stack), FAST, sleep=_ends_with(stack, 4))
    assert _active_migration_revisions(client, stack) == [stack.outputs.migration_task_definition]


def test_a_task_ecs_never_knows_fails_the_migration_naming_missing_and_leaves_no_one_off_revision(client, stack,
                                                                                               target):
    _with_ecs(target, lambda ecs: _Eventually(ecs, times=10**6))
    target.missing_grace = 0
    with pytest.raises(ReleaseError, match=r"ECS still does not know the migration task [\w-]+ \d+ s after RunTask "
                                           r"started it \(MISSING\); the service was not changed"):
        flow.migrate(target, an_image(stack), FAST, sleep=lambda _: None)
    assert _active_migration_revisions(client, stack) == [stack.outputs.migration_task_definition]


def test_a_run_task_that_aws_refuses_leaves_no_one_off_revision(client, stack, target):
    from botocore.exceptions import ClientError

    _with_ecs(target, lambda ecs: _Eventually(ecs, times=0, fail_run_task=True))
    with pytest.raises(ClientError, match="Rate exceeded"):
        flow.migrate(target, an_image(stack), FAST, sleep=lambda _: None)
    assert _active_migration_revisions(client, stack) == [stack.outputs.migration_task_definition]


def test_the_migration_log_is_streamed_into_the_output(client, stack, target, capsys):
    logs = client("logs")

    def sleep(_seconds):
        task_id = _task_ids(stack)[0]
        stream = f"{LOG_PREFIX}/app/{task_id}"
        now = int(time.time() * 1000)  # CloudWatch Logs drops events older than 14 days
        logs.create_log_stream(logGroupName=stack.log_group, logStreamName=stream)
        logs.put_log_events(logGroupName=stack.log_group, logStreamName=stream, logEvents=[
            {"timestamp": now, "message": "applying 0002_add_column"},
            {"timestamp": now + 1, "message": "ERROR: column already exists"}])
        finish_task(stack.outputs.cluster, task_id, 1)

    with pytest.raises(ReleaseError):
        flow.migrate(target, an_image(stack), FAST, sleep=sleep)
    assert "| applying 0002_add_column\n" in capsys.readouterr().err


# -- the gate -----------------------------------------------------------------------------------------------

def test_a_failed_migration_leaves_the_service_untouched(client, stack, target, tmp_path):
    with pytest.raises(ReleaseError, match="exited with code 1"):
        flow.release(target, an_image(stack), FAST, sleep=_ends_with(stack, 1))
    assert (stack.applied, _service_task_definition(client, stack)) == ([], stack.old_task_definition)


def test_a_migration_that_exits_0_lets_the_release_deploy_the_image(client, stack, target, tmp_path):
    image = an_image(stack)

    def sleep(_seconds):
        for task_id in _task_ids(stack):
            finish_task(stack.outputs.cluster, task_id, 0)
        if stack.applied:  # ECS finishing the rollout
            set_deployments(stack.outputs.cluster, stack.outputs.service, {
                "status": "PRIMARY", "taskDefinition": _service_task_definition(client, stack),
                "rolloutState": "COMPLETED"})

    flow.release(target, image, FAST, sleep=sleep)
    assert stack.applied == [image]


@pytest.mark.parametrize("action", ["ecs:RunTask", "ecs:ListTasks", "logs:GetLogEvents", "ecs:DescribeServices",
                                    "iam:PassRole"])
def test_a_release_call_whose_permission_is_removed_from_the_deploy_role_is_named(
        client, stack, target, tmp_path, emulator_requests, deploy_policy_text, action):
    """The recorded-calls check the autouse fixture runs after every test fails when a permission is missing."""
    before = last_request(emulator_requests)
    test_a_migration_that_exits_0_lets_the_release_deploy_the_image(client, stack, target, tmp_path)
    denials, unmapped, calls = release_denials(emulator_requests, before, stack, json.dumps(without_action(json.loads(deploy_policy_text), action)))
    allowed, _, _ = release_denials(emulator_requests, before, stack, deploy_policy_text)
    assert (allowed, unmapped) == ([], []) and len(calls) > 5
    assert {d.check.action for d in denials} == {action}
    assert denials and all(str(d).endswith("-> deploy: no statement allows it") and stack.outputs.cluster in str(d)
                           for d in denials)


# -- the rollout -------------------------------------------------------------------------------------------

def _rolled_back(client, stack):
    """A `sleep` playing the circuit breaker: the new deployment FAILED, the old one is PRIMARY again."""
    def sleep(_seconds):
        new = _service_task_definition(client, stack)
        set_deployments(stack.outputs.cluster, stack.outputs.service,
                        {"status": "PRIMARY", "taskDefinition": stack.old_task_definition, "rolloutState": "COMPLETED"},
                        {"status": "ACTIVE", "taskDefinition": new, "rolloutState": "FAILED",
                         "rolloutStateReason": "ECS deployment circuit breaker: tasks failed to start."})
        task = client("ecs").run_task(cluster=stack.outputs.cluster, taskDefinition=new, launchType="FARGATE",
                                      networkConfiguration={"awsvpcConfiguration": {
                                          "subnets": list(stack.outputs.subnets), "securityGroups": [stack.outputs.security_group]}})["tasks"][0]
        model = ecs_model().tasks[stack.outputs.cluster][task["taskArn"]]
        model.group = f"service:{stack.outputs.service}"
        model.started_by = f"ecs-svc/{stack.outputs.service}"
        finish_task(stack.outputs.cluster, task["taskArn"].rsplit("/", 1)[1], 1,
                    reason="Task failed container health checks")
    return sleep


def test_a_deployment_the_circuit_breaker_rolled_back_fails_loudly(client, stack, target, tmp_path):
    with pytest.raises(ReleaseError, match="ECS rolled the service back to .*circuit breaker: tasks failed to start"):
        flow.deploy(target, an_image(stack), FAST, sleep=_rolled_back(client, stack))


def _watching(client, stack, *alarm_ids: str) -> list[str]:
    """The service watches deployment alarms named as infra/monitoring.py names them (all in OK)."""
    cloudwatch, names = client("cloudwatch"), [f"{stack.outputs.cluster}-{id}" for id in alarm_ids]
    for name in names:
        cloudwatch.put_metric_alarm(AlarmName=name, MetricName="HTTPCode_Target_5XX_Count", Namespace="AWS/ApplicationELB",
                                    Statistic="Sum", Period=60, EvaluationPeriods=1, Threshold=0,
                                    ComparisonOperator="GreaterThanThreshold")
        cloudwatch.set_alarm_state(AlarmName=name, StateValue="OK", StateReason="fine")
    client("ecs").update_service(cluster=stack.outputs.cluster, service=stack.outputs.service, deploymentConfiguration={
        "alarms": {"alarmNames": names, "enable": True, "rollback": True}})
    return names


def _rolled_back_by(client, stack, alarm: str):
    """A `sleep` playing ECS's alarm-based rollback: the alarm goes to ALARM, the new deployment FAILED."""
    def sleep(_seconds):
        client("cloudwatch").set_alarm_state(AlarmName=alarm, StateValue="ALARM",
                                             StateReason="Threshold Crossed: 3 datapoints were greater than 5.0")
        new = _service_task_definition(client, stack)
        set_deployments(stack.outputs.cluster, stack.outputs.service,
                        {"status": "PRIMARY", "taskDefinition": stack.old_task_definition, "rolloutState": "COMPLETED"},
                        {"status": "ACTIVE", "taskDefinition": new, "rolloutState": "FAILED",
                         "rolloutStateReason": "ECS deployment detected triggered alarm(s)."})
    return sleep


def test_a_deployment_rolled_back_by_an_alarm_fails_naming_the_alarm_and_its_reason(client, stack, target):
    target_5xx, latency = _watching(client, stack, "target-5xx", "latency-p99")
    with pytest.raises(ReleaseError) as failed:
        flow.deploy(target, an_image(stack), FAST, sleep=_rolled_back_by(client, stack, target_5xx))
    message = str(failed.value)
    assert "ECS rolled the service back to" in message
    assert f"the deployment alarm(s) that went off: {target_5xx} (Threshold Crossed: 3 datapoints" in message
    assert latency not in message, "only the alarms in ALARM are named"


def test_an_alarm_already_in_alarm_is_named_up_front_as_not_watched_and_not_blamed_later(client, stack, target, capsys):
    target_5xx, latency = _watching(client, stack, "target-5xx", "latency-p99")
    client("cloudwatch").set_alarm_state(AlarmName=latency, StateValue="ALARM", StateReason="slow since yesterday")
    with pytest.raises(ReleaseError) as failed:
        flow.deploy(target, an_image(stack), FAST, sleep=_rolled_back_by(client, stack, target_5xx))
    said = capsys.readouterr().err
    assert f"==> note: {latency} already in ALARM: ECS will not roll this deployment back on it" in said
    assert f"{target_5xx} (Threshold" in str(failed.value) and latency not in str(failed.value)


def test_a_failed_rollout_names_only_its_own_stopped_tasks_not_an_earlier_ones(client, stack, target, tmp_path):
    """A task of the previous revision stopped before this deployment (ListTasks keeps them an hour) is not
    named among the reasons."""
    earlier = client("ecs").run_task(cluster=stack.outputs.cluster, taskDefinition=stack.old_task_definition,
                                     launchType="FARGATE", networkConfiguration={"awsvpcConfiguration": {
                                         "subnets": list(stack.outputs.subnets),
                                         "securityGroups": [stack.outputs.security_group]}})["tasks"][0]
    model = ecs_model().tasks[stack.outputs.cluster][earlier["taskArn"]]
    model.group = f"service:{stack.outputs.service}"
    finish_task(stack.outputs.cluster, earlier["taskArn"].rsplit("/", 1)[1], 137, reason="OutOfMemoryError an hour ago")
    with pytest.raises(ReleaseError) as failed:
        flow.deploy(target, an_image(stack), FAST, sleep=_rolled_back(client, stack))
    assert "Task failed container health checks" in str(failed.value)
    assert "OutOfMemoryError an hour ago" not in str(failed.value)


def test_stopped_tasks_are_those_of_the_rollout_newest_first():
    import datetime

    from release.aws import STOPPED_TASKS_SHOWN, this_deployments_stopped

    at = lambda minute: datetime.datetime(2026, 12, 7, 3, minute, tzinfo=datetime.timezone.utc)  # noqa: E731
    tasks = [{"taskArn": f"t{i}", "taskDefinitionArn": "app:8", "stoppedAt": at(i)} for i in range(8)]
    tasks += [{"taskArn": "old", "taskDefinitionArn": "app:7", "stoppedAt": at(59)},
              {"taskArn": "by-deployment", "taskDefinitionArn": "app:7", "startedBy": "ecs-svc/42", "stoppedAt": at(30)}]
    found = [t["taskArn"] for t in this_deployments_stopped(tasks, "app:8", {"ecs-svc/42"})]
    assert found == ["by-deployment", "t7", "t6", "t5", "t4"][:STOPPED_TASKS_SHOWN]


def test_a_rollout_still_in_progress_at_the_timeout_fails_and_says_how_to_roll_back(stack, target, tmp_path):
    with pytest.raises(ReleaseError, match="did not reach a steady state .*python -m release rollback --env dev"):
        flow.deploy(target, an_image(stack), flow.Timing(rollout_timeout=0, poll=0),
                    sleep=lambda _: None)


# -- the push ----------------------------------------------------------------------------------------------

def test_the_push_authenticates_with_the_ecr_token_for_the_proxy_endpoint(client, stack, target, tmp_path):
    token = client("ecr").get_authorization_token()["authorizationData"][0]
    archive = tiny_archive(tmp_path / "image.tar", "0123456789ab")
    image = target.push(archive)
    host = token["proxyEndpoint"].removeprefix("https://")
    assert stack.pushed == [("0123456789ab", f"{host}/{stack.outputs.repository_name}:0123456789ab",
                             {"auths": {host: {"auth": token["authorizationToken"]}}})]
    assert base64.b64decode(token["authorizationToken"]).startswith(b"AWS:") and image.digest == archive.digest


def test_the_push_goes_to_the_given_registry_with_the_same_token(client, stack, target, tmp_path, local_registry):
    target.registry = local_registry.address
    target.push(tiny_archive(tmp_path / "image.tar", "0123456789ab"))
    assert list(stack.pushed[0][2]["auths"]) == [local_registry.address]


def test_a_tag_that_holds_other_content_is_refused_before_anything_is_pushed(client, stack, target, tmp_path):
    client("ecr").put_image(repositoryName=stack.outputs.repository_name, imageManifest=manifest(),
                            imageTag="0123456789ab")
    with pytest.raises(BadInput, match=r"the tag 0123456789ab in .* holds sha256:.*, not this archive's .*\(tags are "
                       r"immutable\)"):
        target.push(tiny_archive(tmp_path / "image.tar", "0123456789ab"))
    assert stack.pushed == []


# -- build once, push by digest, re-run ----------------------------------------------------------------------

def _real_pushes(target, local_registry):
    """The target pushes with skopeo to the local registry; the returned list counts the copies."""
    copies, copy = [], skopeo_pusher(registry_tls=False)
    target.registry = local_registry.address
    target.pusher = lambda archive, destination, auth: copies.append(destination) or copy(archive, destination, auth)
    return copies


@pytest.mark.integration
def test_the_archive_is_pushed_by_digest_and_the_registry_serves_that_digest(stack, target, tmp_path, local_registry):
    copies = _real_pushes(target, local_registry)
    archive = tiny_archive(tmp_path / "image.tar", "0123456789ab")
    image = target.push(archive)
    assert image.digest == archive.digest == local_registry.digest(stack.outputs.repository_name, "0123456789ab")
    assert len(copies) == 1


@pytest.mark.integration
def test_a_second_push_of_the_same_archive_reuses_it_without_copying(stack, target, tmp_path, local_registry, capsys):
    copies = _real_pushes(target, local_registry)
    archive = tiny_archive(tmp_path / "image.tar", "0123456789ab")
    assert target.push(archive) == target.push(archive)
    assert len(copies) == 1 and "already holds" in capsys.readouterr().err


@pytest.mark.integration
def test_an_archive_whose_tag_holds_another_image_is_refused(stack, target, tmp_path, local_registry):
    copies = _real_pushes(target, local_registry)
    target.push(tiny_archive(tmp_path / "a.tar", "0123456789ab", content="first build"))
    with pytest.raises(BadInput, match="holds sha256:.*, not this archive's sha256:.*tags are immutable"):
        target.push(tiny_archive(tmp_path / "b.tar", "0123456789ab", content="another build"))
    assert len(copies) == 1


def _steady(client, stack):
    """A `sleep`: the migration task exits 0 and the service is steady on whatever it was last moved to."""
    def sleep(_seconds):
        for task_id in _task_ids(stack):
            finish_task(stack.outputs.cluster, task_id, 0)
        set_deployments(stack.outputs.cluster, stack.outputs.service, {
            "status": "PRIMARY", "taskDefinition": _service_task_definition(client, stack), "rolloutState": "COMPLETED"})
    return sleep


@pytest.mark.integration
def test_a_re_run_after_a_failed_deploy_resumes_without_pushing_again(client, stack, target, tmp_path, local_registry,
                                                                     site):
    copies = _real_pushes(target, local_registry)
    archive = tiny_archive(tmp_path / "image.tar", "0123456789ab")
    image = target.push(archive)
    flow.migrate(target, image, FAST, sleep=_steady(client, stack))
    with pytest.raises(ReleaseError, match="circuit breaker"):
        flow.deploy(target, image, FAST, sleep=_rolled_back(client, stack))
    # The same job again: the image is reused, the migration (a no-op) runs, the deployment and the check pass.
    again = target.push(archive)
    flow.release(target, again, FAST, sleep=_steady(client, stack))
    assert (again, len(copies), stack.applied) == (image, 1, [image, image])
    assert site.calls == ["GET /ready", "POST /ready/probe"]


# -- what ran before: ECS's revisions, from any machine ---------------------------------------------------------

def _released(client, stack, target, tmp_path, local_registry, *tags):
    """Push and deploy each tag in turn (steady each time); return the images."""
    _real_pushes(target, local_registry)
    images = []
    for tag in tags:
        image = target.push(tiny_archive(tmp_path / f"{tag}.tar", tag))
        flow.deploy(target, image, FAST, sleep=_steady(client, stack))
        flow.verify(target, image, FAST)
        images.append(image)
    return images


@pytest.mark.integration
def test_status_lists_the_revisions_newest_first_with_their_digests(client, stack, target, tmp_path, local_registry):
    first, second = _released(client, stack, target, tmp_path, local_registry, "aaaaaaaaaaaa", "bbbbbbbbbbbb")
    history = target.releases()
    assert [r.digest for r in history] == [second.digest, first.digest, ""]
    assert [bool(r.verified) for r in history] == [True, True, False]
    assert history[0].task_definition == _service_task_definition(client, stack)
    assert target.image_by_digest(first.digest).tag == "aaaaaaaaaaaa"


@pytest.mark.integration
def test_a_rollback_finds_the_image_before_in_ecs_with_no_file_on_this_machine(client, stack, target, tmp_path,
                                                                              local_registry, site):
    first, second = _released(client, stack, target, tmp_path, local_registry, "aaaaaaaaaaaa", "bbbbbbbbbbbb")
    assert not list(tmp_path.glob("**/*.json"))  # nothing recorded here: ECS and the repository are the record
    back = flow.rollback(target, None, FAST, sleep=_steady(client, stack))
    assert (back, stack.applied[-1]) == (first, first)
    assert site.calls[-2:] == ["GET /ready", "POST /ready/probe"]


@pytest.mark.integration
def test_a_rollback_to_a_tag_or_digest_deploys_exactly_that(client, stack, target, tmp_path, local_registry):
    first, second, third = _released(client, stack, target, tmp_path, local_registry, "aaaaaaaaaaaa", "bbbbbbbbbbbb",
                                     "cccccccccccc")
    assert flow.rollback(target, "aaaaaaaaaaaa", FAST, sleep=_steady(client, stack)) == first
    assert flow.rollback(target, second.digest, FAST, sleep=_steady(client, stack)) == second
    with pytest.raises(BadInput, match="holds no image dddddddddddd"):
        flow.rollback(target, "dddddddddddd", FAST, sleep=_steady(client, stack))


@pytest.mark.integration
def test_a_revision_whose_rollout_failed_is_never_what_a_rollback_returns_to(client, stack, target, tmp_path,
                                                                            local_registry):
    first, second = _released(client, stack, target, tmp_path, local_registry, "aaaaaaaaaaaa", "bbbbbbbbbbbb")
    broken = target.push(tiny_archive(tmp_path / "broken.tar", "cccccccccccc"))
    with pytest.raises(ReleaseError, match="circuit breaker"):
        flow.deploy(target, broken, FAST, sleep=_rolled_back(client, stack))
    # ECS runs `second` again; the configuration names `broken`: rollback goes to the last verified image.
    assert flow.rollback(target, None, FAST, sleep=_steady(client, stack)) == second


def test_a_rollback_with_no_earlier_image_is_refused(client, stack, target):
    # The service runs its first revision only (an image by tag, as the stack fixture registers it).
    with pytest.raises(BadInput, match="nothing to roll back to"):
        flow.rollback(target, None, FAST)
    assert stack.applied == []


# -- verify where users arrive -------------------------------------------------------------------------------

def test_a_release_whose_probe_fails_fails_naming_the_request_and_how_to_roll_back(client, stack, target, site):
    site.answers["POST /ready/probe"] = (500, {"status": "failing", "step": "read",
                                              "reason": "UndefinedColumn: column notes.body does not exist"})
    with pytest.raises(ReleaseError) as failed:
        flow.release(target, an_image(stack), FAST, sleep=_steady(client, stack))
    message = str(failed.value)
    assert f"POST {site.url}/ready/probe answered 500" in message and "column notes.body does not exist" in message
    assert "python -m release rollback --env dev" in message and failed.value.changed


def test_a_release_whose_app_never_gets_ready_fails_after_the_wait(client, stack, target, site):
    site.answers["GET /ready"] = (503, {"status": "unavailable"})
    with pytest.raises(ReleaseError, match=r"GET .*/ready answered 503: .*unavailable.* \(\d+ attempts"):
        flow.release(target, an_image(stack), flow.Timing(migration_timeout=60, rollout_timeout=60, poll=0,
                                                          ready_timeout=0), sleep=_steady(client, stack))
    assert "POST /ready/probe" not in site.calls


def test_a_first_deploy_reads_the_cluster_and_service_the_apply_created(client, stack, target, tmp_path):
    from release.outputs import StackOutputs

    target.outputs = StackOutputs(repository_url=stack.outputs.repository_url)  # before the first apply
    target.reread_outputs = lambda: stack.outputs

    def sleep(_seconds):
        set_deployments(stack.outputs.cluster, stack.outputs.service, {
            "status": "PRIMARY", "taskDefinition": _service_task_definition(client, stack), "rolloutState": "COMPLETED"})

    flow.deploy(target, an_image(stack), FAST, sleep=sleep)
    assert stack.applied == [an_image(stack)]


def test_an_image_pushed_from_another_machine_is_found_in_the_repository_by_tag(client, stack, target):
    pushed = client("ecr").put_image(repositoryName=stack.outputs.repository_name, imageManifest=manifest(),
                                     imageTag="aaaaaaaaaaaa")["image"]["imageId"]["imageDigest"]
    assert (target.find_image("aaaaaaaaaaaa").digest, target.find_image("bbbbbbbbbbbb")) == (pushed, None)


# -- the workflow's command, as CI runs it --------------------------------------------------------------------

@pytest.mark.integration
def test_the_promote_command_ci_runs_pushes_migrates_deploys_and_verifies_then_resumes_when_run_again(
        client, stack, target, tmp_path, local_registry, site, capsys):
    """`python -m release promote --env ENV --image FILE` (.github/workflows/release.yml), on the emulator: a thread
    plays ECS (the migration task exits 0, the rollout completes) while the command polls."""
    import threading

    from release.__main__ import main

    copies = _real_pushes(target, local_registry)
    archive = tiny_archive(tmp_path / "image.tar", "0123456789ab")
    outputs = _outputs(stack, tmp_path)
    playing, ecs = threading.Event(), _steady(client, stack)

    def play():
        while not playing.wait(0.2):
            ecs(0)

    argv = ["promote", "--env", "dev", "--image", str(archive.path), "--outputs", str(outputs), "--poll", "0.2"]
    runs = []
    for _ in range(2):
        player = threading.Thread(target=play)
        player.start()
        try:
            runs.append((main(argv, target_factory=lambda env, outs: target), capsys.readouterr().err))
        finally:
            playing.set()
            player.join()
            playing.clear()
    (first, said_first), (again, said_again) = runs
    assert (first, again, len(copies)) == (0, 0, 1), said_first + said_again
    assert "already holds" in said_again and "promote dev: done" in said_again
    assert site.calls == ["GET /ready", "POST /ready/probe"] * 2
    assert [r.digest for r in target.releases()[:2]] == [archive.digest] * 2 and target.releases()[0].verified


# -- the compatibility gate against AWS ----------------------------------------------------------------------------

def _outputs(stack, tmp_path):
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps({"cluster_name": stack.outputs.cluster, "service_name": stack.outputs.service,
                                "migration_task_definition_arn": stack.outputs.migration_task_definition,
                                "task_subnet_ids": ",".join(stack.outputs.subnets),
                                "task_security_group_id": stack.outputs.security_group,
                                "ecr_repository_url": stack.outputs.repository_url,
                                "load_balancer_url": stack.outputs.load_balancer_url}))
    return path


@pytest.mark.integration
def test_the_gate_gets_both_images_by_digest_with_the_ecr_tokens_auth_and_its_failure_stops_before_the_migration(
        client, stack, target, tmp_path, local_registry, capsys):
    from release.__main__ import main

    (running,) = _released(client, stack, target, tmp_path, local_registry, "aaaaaaaaaaaa")
    stack.gate.answer = ("the running release's own queries, on the schema after this release's migrations failed "
                         "(exit 1): selfcheck.failing at the step 'create': UndefinedColumn")
    archive = tiny_archive(tmp_path / "new.tar", "bbbbbbbbbbbb")
    capsys.readouterr()
    code = main(["promote", "--env", "dev", "--image", str(archive.path), "--outputs", str(_outputs(stack, tmp_path)),
                 "--poll", "0.2"], target_factory=lambda env, outs: target)
    err = capsys.readouterr().err
    where = f"{local_registry.address}/{stack.outputs.repository_name}"
    assert code == 1 and "the compatibility gate stopped the release: the running release's own queries" in err, err
    [(old, new, auth)] = stack.gate.calls
    assert (old, new) == (f"{where}@{running.digest}", f"{where}@{archive.digest}")
    assert base64.b64decode(auth["auths"][local_registry.address]["auth"]).decode().startswith("AWS:")
    assert _task_ids(stack) == [], "no migration task was started"
    assert target.releases()[0].digest == running.digest, "the service was not changed"


@pytest.mark.integration
def test_where_the_gate_cannot_run_a_promote_is_refused_before_the_push_naming_skip_gate(
        client, stack, target, tmp_path, local_registry, capsys):
    from release.__main__ import main

    _released(client, stack, target, tmp_path, local_registry, "aaaaaaaaaaaa")
    copies = _real_pushes(target, local_registry)
    stack.gate.missing = lambda: "it needs root (the throw-away PostgreSQL runs as the postgres user): run the release with sudo"
    archive = tiny_archive(tmp_path / "new.tar", "bbbbbbbbbbbb")
    capsys.readouterr()
    code = main(["promote", "--env", "dev", "--image", str(archive.path), "--outputs", str(_outputs(stack, tmp_path))],
                target_factory=lambda env, outs: target)
    err = capsys.readouterr().err
    assert code == 2, err
    assert "the compatibility gate cannot run here: it needs root" in err and "pass --skip-gate" in err
    assert (copies, stack.gate.calls, _task_ids(stack)) == ([], [], [])


# -- from nothing: no task before the first migration ------------------------------------------------------------

def _desired(client, stack) -> int:
    return client("ecs").describe_services(cluster=stack.outputs.cluster,
                                           services=[stack.outputs.service])["services"][0]["desiredCount"]


@pytest.mark.integration
def test_a_promote_from_nothing_starts_the_services_tasks_only_after_the_first_migration_exited_0(
        client, stack, target, tmp_path, local_registry, site, capsys):
    """`promote` of an environment whose stack was never applied (its outputs have no cluster or service): the
    stack is applied with the service at 0 tasks, the archive pushed, the migration run; only the release's own
    apply gives the service its tasks, which Application Auto Scaling raises from 0 a few polls after the apply
    (ECS's count, played by a thread): the release verifies only once they run. Each step is recorded with the
    service's task count at that moment."""
    import threading

    from release.__main__ import main

    stack.desired_count, target.least_tasks = 0, 3  # the apply leaves 0; the configuration's minimum is 3
    steps: list[tuple[str, int]] = []
    copies = _real_pushes(target, local_registry)
    apply, push, start, endpoint = target.applier, target.pusher, target.start_migration, target.endpoint
    target.applier = lambda env, image, stopped=False: (
        apply(env, image, stopped), steps.append(("create" if stopped else "apply", _desired(client, stack))))
    target.pusher = lambda *a: (steps.append(("push", _desired(client, stack))), push(*a))[1]
    target.start_migration = lambda image: (steps.append(("migration", _desired(client, stack))), start(image))[1]
    target.endpoint = lambda: (steps.append(("verify", _desired(client, stack))), endpoint())[1]
    target.reread_outputs = lambda: stack.outputs
    archive = tiny_archive(tmp_path / "image.tar", "0123456789ab")
    nothing = tmp_path / "outputs.json"
    nothing.write_text("{}")  # `terraform output -json` of a stack never applied
    playing, ticks_after_apply = threading.Event(), []

    def ecs_plays():
        """The migration task exits 0; the service is steady on its task definition with as many tasks as its
        count, which goes from 0 to 3 three polls after the release's apply (Application Auto Scaling's part)."""
        while not playing.wait(0.2):
            for task_id in _task_ids(stack):
                finish_task(stack.outputs.cluster, task_id, 0)
            if ("apply", 0) in steps:
                ticks_after_apply.append(1)
                if len(ticks_after_apply) == 3:
                    client("ecs").update_service(cluster=stack.outputs.cluster, service=stack.outputs.service,
                                                 desiredCount=3)
            count = _desired(client, stack)
            set_deployments(stack.outputs.cluster, stack.outputs.service, {
                "status": "PRIMARY", "taskDefinition": _service_task_definition(client, stack),
                "rolloutState": "COMPLETED", "desiredCount": count, "runningCount": count})

    player = threading.Thread(target=ecs_plays)
    player.start()
    try:
        code = main(["promote", "--env", "dev", "--image", str(archive.path), "--outputs", str(nothing), "--poll", "0.2"],
                    target_factory=lambda env, outs: (setattr(target, "outputs", outs), target)[1])
    finally:
        playing.set()
        player.join()
    said = capsys.readouterr().err
    assert code == 0, said
    assert steps == [("create", 0), ("push", 0), ("migration", 0), ("apply", 0), ("verify", 3)]
    assert [image.digest for image in stack.created] == [archive.digest] and len(copies) == 1
    assert "dev has no service yet: applying its stack with the service at 0 tasks" in said
    assert site.calls == ["GET /ready", "POST /ready/probe"]
    assert target.outputs.exists


@pytest.mark.integration
def test_a_first_apply_that_fails_stops_the_promote_before_anything_is_pushed_or_migrated(
        client, stack, target, tmp_path, local_registry, capsys):
    from release.__main__ import main

    copies = _real_pushes(target, local_registry)

    def failing(env, image, stopped=False):
        raise ReleaseError("`npx cdktf deploy dev` failed (its output is above)", changed=True)

    target.applier = failing
    nothing = tmp_path / "outputs.json"
    nothing.write_text("{}")
    code = main(["promote", "--env", "dev", "--image", str(tiny_archive(tmp_path / "i.tar", "0123456789ab").path),
                 "--outputs", str(nothing)], target_factory=lambda env, outs: (setattr(target, "outputs", outs), target)[1])
    assert code == 1 and copies == [] and _task_ids(stack) == []
    assert "cdktf deploy dev` failed" in capsys.readouterr().err

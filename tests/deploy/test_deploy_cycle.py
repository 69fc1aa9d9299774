"""Terraform and the real AWS provider create, re-plan, change and destroy the dev stack on the emulator.

Every test reads the session's one recorded cycle (see conftest.py); none of them deploys anything itself.
"""
from __future__ import annotations

import json

import pytest

from infra.environments import ENVIRONMENTS
from security.scan import Stack, load_skips, scan_plan
from tests.deploy.conftest import STACK
from tools import terraform as tf
from tools.plan_scope import outside_release

pytestmark = pytest.mark.integration


def _changes(plan: dict) -> dict[str, list[str]]:
    """address -> actions, for every resource the plan does something to."""
    return {c["address"]: c["change"]["actions"] for c in plan.get("resource_changes", [])
            if c["change"]["actions"] not in (["no-op"], ["read"])}


def _has_unknown(value) -> bool:
    """`after_unknown` mirrors the attribute's shape; only a `true` somewhere in it marks an unknown."""
    if isinstance(value, dict):
        return any(_has_unknown(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_unknown(v) for v in value)
    return value is True


def _changed_attributes(plan: dict, address: str) -> set[str]:
    change = next(c["change"] for c in plan["resource_changes"] if c["address"] == address)
    before, after, unknown = change["before"] or {}, change["after"] or {}, change.get("after_unknown") or {}
    return {k for k in set(before) | set(after) | set(unknown)
            if _has_unknown(unknown.get(k)) or (k not in unknown and before.get(k) != after.get(k))}


def _by_type(addresses, rtype: str) -> list[str]:
    return sorted(a for a in addresses if a.split(".")[0] == rtype)


# 1. the state bootstrap stack, with the user-facing command

def test_cdktf_deploy_applies_the_bootstrap_stack_onto_the_emulator(cycle, aws):
    step = cycle.step("bootstrap-cdktf-deploy")
    assert step.ok, step.errors()
    bucket = cycle.deployment.stack_json()["terraform"]["backend"]["s3"]["bucket"]
    assert bucket in {b["Name"] for b in aws("s3").list_buckets()["Buckets"]}


def test_cdktf_deploy_writes_the_state_bucket_name_to_its_outputs_file(cycle):
    outputs = cycle.fact("bootstrap-outputs")
    assert outputs["bootstrap"]["state_bucket"] == cycle.deployment.stack_json()["terraform"]["backend"]["s3"]["bucket"]


def test_the_synthesized_stacks_point_only_at_the_emulator(cycle, emulator_endpoint):
    assert cycle.fact("targets-emulator") == {tf.BOOTSTRAP: {emulator_endpoint}, STACK: {emulator_endpoint}}


def test_the_state_bucket_is_versioned_and_blocks_public_access(cycle, aws):
    cycle.step("bootstrap-cdktf-deploy")
    s3 = aws("s3")
    bucket = cycle.deployment.stack_json()["terraform"]["backend"]["s3"]["bucket"]
    block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert (s3.get_bucket_versioning(Bucket=bucket).get("Status"), set(block.values())) == ("Enabled", {True})


# 2. init with the S3 backend

def test_terraform_init_configures_the_s3_backend_with_a_lock_file(cycle):
    step = cycle.step("dev-init")
    backend = json.loads((cycle.deployment.stack_dir() / ".terraform" / "terraform.tfstate").read_text())["backend"]
    assert (step.ok, backend["type"], backend["config"]["use_lockfile"]) == (True, "s3", True), step.errors()


# 3. plan, then apply

def test_the_first_plan_creates_every_resource_of_the_stack_and_nothing_else(cycle):
    assert cycle.step("dev-plan").ok, cycle.step("dev-plan").errors()
    changes = _changes(cycle.fact("dev-plan-json"))
    declared = sum(len(v) for v in cycle.deployment.stack_json()["resource"].values())
    assert ({tuple(a) for a in changes.values()}, len(changes)) == ({("create",)}, declared)


def test_the_applied_plan_passes_checkov_but_for_the_reviewed_skip_list(cycle, tmp_path):
    # The plan holds resolved values, so checkov's graph checks see what was really applied; the skip
    # list applies by the stack's settings.
    plan_json = tmp_path / "dev-plan.json"
    plan_json.write_text(json.dumps(cycle.fact("dev-plan-json")))
    report = scan_plan(plan_json, Stack(STACK, "app", ENVIRONMENTS[STACK]))
    assert report.passed > 0
    assert report.problems(load_skips()) == []


def test_apply_creates_every_planned_resource(cycle):
    step = cycle.step("dev-apply")
    assert step.ok, step.errors()
    assert f"Resources: {len(_changes(cycle.fact('dev-plan-json')))} added, 0 changed, 0 destroyed" in step.output


def test_the_state_lists_every_resource_of_the_stack(cycle):
    declared = sum(len(v) for v in cycle.deployment.stack_json()["resource"].values())
    assert len(cycle.fact("resources-in-state")) == declared


def test_the_state_is_stored_in_the_bucket_under_the_stack_key(cycle):
    state = cycle.fact("state-object")
    assert state["serial"] >= 1 and state["lock"] is None


# 4. no perpetual diff

def test_a_second_plan_shows_no_changes(cycle):
    step = cycle.step("dev-replan")
    assert step.returncode == 0, f"perpetual diff (exit {step.returncode}):\n{step.output[-6000:]}"


# 5. what was created, read back through boto3

def test_the_load_balancer_is_internet_facing_in_the_public_subnets(cycle):
    seen = cycle.fact("observed")
    lb = seen["load_balancer"]
    zones = {z["SubnetId"] for z in lb["AvailabilityZones"]}
    assert (lb["Scheme"], lb["Type"], {seen["subnet_tiers"][s] for s in zones}) == (
        "internet-facing", "application", {"public"})


def test_the_listeners_are_the_ones_the_stack_declares(cycle):
    declared = sorted((l["port"], l["protocol"], l["default_action"][0]["type"])
                      for l in cycle.deployment.stack_json()["resource"]["aws_lb_listener"].values())
    seen = sorted((l["Port"], l["Protocol"], l["DefaultActions"][0]["Type"]) for l in cycle.fact("observed")["listeners"])
    assert seen == declared


def test_a_listener_forwards_to_the_app_target_group(cycle):
    seen = cycle.fact("observed")
    forwards = {a["TargetGroupArn"] for l in seen["listeners"] for a in l["DefaultActions"] if a["Type"] == "forward"}
    assert forwards == {tg["TargetGroupArn"] for tg in seen["target_groups"]}


def test_the_target_group_checks_the_app_health_path_on_the_container_port(cycle, dev_config):
    [tg] = cycle.fact("observed")["target_groups"]
    assert (tg["HealthCheckPath"], tg["Port"], tg["TargetType"], tg["Matcher"]["HttpCode"]) == (
        dev_config.service.health_check_path, dev_config.service.container_port, "ip", "200")


def test_the_service_runs_the_desired_count_of_fargate_tasks(cycle, dev_config):
    service = cycle.fact("observed")["service"]
    assert (service["desiredCount"], service["launchType"], service["status"]) == (
        dev_config.service.desired_count, "FARGATE", "ACTIVE")


def test_the_service_tasks_run_in_the_private_subnets(cycle, dev_config):
    seen = cycle.fact("observed")
    subnets = seen["service"]["networkConfiguration"]["awsvpcConfiguration"]["subnets"]
    assert ({seen["subnet_tiers"][s] for s in subnets}, len(subnets)) == ({"private"}, dev_config.network.az_count)


def test_the_service_tasks_get_no_public_ip(cycle):
    config = cycle.fact("observed")["service"]["networkConfiguration"]["awsvpcConfiguration"]
    assert config["assignPublicIp"] == "DISABLED"


def test_the_task_definition_reads_the_database_credentials_from_the_rds_managed_secret(cycle):
    seen = cycle.fact("observed")
    secret_arn = seen["database"]["MasterUserSecret"]["SecretArn"]
    [container] = seen["task_definition"]["containerDefinitions"]
    assert sorted((s["name"], s["valueFrom"]) for s in container["secrets"]) == [
        ("DB_PASSWORD", f"{secret_arn}:password::"), ("DB_USERNAME", f"{secret_arn}:username::")]


def test_the_task_definition_holds_no_password_in_its_environment(cycle):
    [container] = cycle.fact("observed")["task_definition"]["containerDefinitions"]
    assert not [e["name"] for e in container["environment"] if "PASSWORD" in e["name"].upper()]


def test_the_rds_managed_secret_holds_the_master_username_and_a_password(cycle, dev_config):
    seen = cycle.fact("observed")
    assert (seen["secret_keys"], seen["secret_username"]) == (["password", "username"], dev_config.database.master_username)


def test_the_database_is_encrypted_with_the_stack_key(cycle):
    seen = cycle.fact("observed")
    assert (seen["database"]["StorageEncrypted"], seen["database"]["KmsKeyId"]) == (True, seen["key_arn"])


def test_the_database_is_not_publicly_accessible(cycle):
    assert cycle.fact("observed")["database"]["PubliclyAccessible"] is False


def test_the_database_lives_in_the_isolated_subnets(cycle):
    seen = cycle.fact("observed")
    subnets = {s["SubnetIdentifier"] for s in seen["database"]["DBSubnetGroup"]["Subnets"]}
    assert {seen["subnet_tiers"][s] for s in subnets} == {"isolated"}


def test_the_repository_scans_images_on_push(cycle):
    assert cycle.fact("observed")["repository"]["imageScanningConfiguration"]["scanOnPush"] is True


def test_the_repository_tags_are_immutable(cycle):
    assert cycle.fact("observed")["repository"]["imageTagMutability"] == "IMMUTABLE"


def test_every_log_group_of_the_stack_keeps_logs_for_the_declared_retention(cycle):
    declared = {g["name"]: g["retention_in_days"]
                for g in cycle.deployment.stack_json()["resource"]["aws_cloudwatch_log_group"].values()}
    groups = cycle.fact("observed")["log_groups"]
    assert {name: groups.get(name, {}).get("retentionInDays") for name in declared} == declared


# 6. one real change: a release of a new image tag

def test_a_new_image_tag_plans_new_task_definitions_and_a_service_update_only(cycle):
    changes = _changes(cycle.fact("change-plan-json"))
    task_definitions = _by_type(changes, "aws_ecs_task_definition")
    services = _by_type(changes, "aws_ecs_service")
    assert (changes, len(task_definitions), len(services)) == (
        {**{a: ["delete", "create"] for a in task_definitions}, **{a: ["update"] for a in services}}, 2, 1)


def test_the_release_workflows_plan_check_lets_a_real_image_change_through_and_stops_the_first_deploy(cycle):
    assert outside_release(cycle.fact("change-plan-json")) == []
    # The first plan creates everything: an administrator's apply, never the deploy role's.
    assert len(outside_release(cycle.fact("dev-plan-json"))) > 50


def test_the_service_update_changes_only_its_task_definition(cycle):
    plan = cycle.fact("change-plan-json")
    [service] = _by_type(_changes(plan), "aws_ecs_service")
    assert _changed_attributes(plan, service) == {"task_definition"}


def test_the_new_task_definitions_differ_only_in_the_image(cycle, new_image_tag):
    plan = cycle.fact("change-plan-json")
    images = set()
    for address in _by_type(_changes(plan), "aws_ecs_task_definition"):
        change = next(c["change"] for c in plan["resource_changes"] if c["address"] == address)
        before, after = json.loads(change["before"]["container_definitions"]), json.loads(change["after"]["container_definitions"])
        images.add(after[0]["image"].rsplit(":", 1)[1])
        before[0].pop("image"), after[0].pop("image")
        assert _normalized(before) == _normalized(after)
    assert images == {new_image_tag}


def _normalized(definitions: list[dict]) -> list[dict]:
    """The definitions as AWS echoes them: no empty lists/maps (the provider reads back AWS's form)."""
    def clean(value):
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items() if v not in ([], {}, None)}
        if isinstance(value, list):
            return [clean(v) for v in value]
        return value
    return clean(definitions)


def test_applying_the_new_image_tag_succeeds(cycle):
    step = cycle.step("dev-apply-change")
    assert step.returncode == 0 and "Apply complete! Resources: 2 added, 1 changed, 2 destroyed." in step.output, \
        step.output[-4000:]


def test_after_the_change_the_service_runs_the_new_image(cycle, new_image_tag):
    [container] = cycle.fact("observed-after-change")["task_definition"]["containerDefinitions"]
    assert container["image"].endswith(f":{new_image_tag}")


def test_after_the_change_a_plan_shows_no_changes(cycle):
    step = cycle.step("dev-replan-after-change")
    assert step.returncode == 0, f"diff after the change (exit {step.returncode}):\n{step.output[-6000:]}"


# 7. destroy

def test_destroy_succeeds(cycle):
    step = cycle.step("dev-destroy")
    assert step.ok, step.errors()


def test_after_destroy_the_state_holds_no_resources(cycle):
    assert [a for a in cycle.fact("state-after-destroy") if not a.startswith("data.")] == []


def test_after_destroy_nothing_the_stack_created_is_left_on_the_emulator(cycle):
    before, after = cycle.fact("baseline"), cycle.fact("after-destroy")
    left = {kind: sorted(set(after[kind]) - set(before.get(kind, []))) for kind in after}
    assert {kind: ids for kind, ids in left.items() if ids} == {}

"""tools/plan_scope.py: the release workflow refuses, before applying, a plan that changes more than the deploy
role may (RELEASE_CHANGES), naming each such change."""
from __future__ import annotations

import json
import subprocess
import sys

from tests.stacks import ROOT
from tools.plan_scope import outside_release


def change(rtype: str, *actions: str, name: str = "this", mode: str = "managed") -> dict:
    """One entry of `terraform show -json`'s resource_changes."""
    return {"address": f"{rtype}.{name}", "mode": mode, "type": rtype, "name": name, "change": {"actions": list(actions)}}


RELEASE = {"format_version": "1.2", "resource_changes": [
    change("aws_ecs_task_definition", "delete", "create", name="app"),
    change("aws_ecs_task_definition", "create", "delete", name="migrate"),
    change("aws_ecs_service", "update"),
    change("aws_db_instance", "no-op"),
    change("aws_availability_zones", "read", mode="data"),
]}


def run(tmp_path, plan: dict) -> subprocess.CompletedProcess:
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan))
    return subprocess.run([sys.executable, "-m", "tools.plan_scope", str(path)], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)


def test_a_new_image_replacing_task_definitions_and_updating_the_service_is_within_a_release():
    assert outside_release(RELEASE) == []


def test_any_change_to_another_resource_type_is_outside_a_release():
    plan = {"resource_changes": [*RELEASE["resource_changes"], change("aws_cloudwatch_log_group", "update", name="logs")]}
    assert outside_release(plan) == ["aws_cloudwatch_log_group.logs: update"]


def test_replacing_the_service_is_outside_a_release_although_updating_it_is_not():
    assert outside_release({"resource_changes": [change("aws_ecs_service", "delete", "create")]}) == [
        "aws_ecs_service.this: delete/create"]


def test_the_command_exits_zero_on_a_release_plan(tmp_path):
    result = run(tmp_path, RELEASE)
    assert (result.returncode, result.stdout) == (0, "plan within a release: 3 change(s), all to aws_ecs_service, "
                                                     "aws_ecs_task_definition\n")


def test_the_command_fails_naming_each_change_and_who_applies_it(tmp_path):
    result = run(tmp_path, {"resource_changes": [change("aws_vpc", "create"), change("aws_lb", "delete")]})
    assert result.returncode == 1
    assert "  aws_vpc.this: create\n  aws_lb.this: delete\n" in result.stderr
    assert "An administrator applies these" in result.stderr

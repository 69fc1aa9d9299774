"""`python -m demo up` (make demo) whose apply fails half-way: it says so, the state stays consistent and
`python -m demo down` still removes everything.

It runs on an emulator of its own, from nothing: `up` applies the bootstrap stack, then dev, whose
apply fails for a real reason: an IAM role with the name of one of the stack's roles already exists,
so CreateRole answers EntityAlreadyExists while the other resources are being created (conftest.py).
"""
from __future__ import annotations

import pytest

from tools import terraform as tf

pytestmark = pytest.mark.integration


def test_up_exits_with_an_error_when_the_apply_fails(failed_apply):
    assert failed_apply.step("up").returncode == 1


def test_up_names_the_failed_step_and_terraform_error(failed_apply):
    output = failed_apply.step("up").output
    assert "terraform apply of dev failed" in output and "EntityAlreadyExists" in output, output[-3000:]


def test_up_says_the_apply_stopped_half_way_and_how_to_clean_up(failed_apply):
    output = failed_apply.step("up").output
    assert "stopped half-way" in output and "make demo-down" in output, output[-3000:]


def test_after_the_failed_apply_every_resource_in_the_state_exists(failed_apply):
    plan = failed_apply.fact("plan-after-failure-json")
    vanished = [d["address"] for d in plan.get("resource_drift", []) if "delete" in d["change"]["actions"]]
    assert (vanished, len(failed_apply.fact("resources-in-state")) > 0) == ([], True)


def test_after_the_failed_apply_a_plan_only_creates_what_is_missing(failed_apply):
    plan = failed_apply.fact("plan-after-failure-json")
    actions = {tuple(c["change"]["actions"]) for c in plan["resource_changes"]} - {("no-op",), ("read",)}
    assert actions == {("create",)}


def test_down_after_the_failed_apply_succeeds(failed_apply):
    step = failed_apply.step("down")
    assert step.ok, step.output[-4000:]


def test_down_after_the_failed_apply_leaves_nothing_on_the_emulator_but_the_bootstrap_stack(failed_apply):
    before, after = failed_apply.fact("baseline"), failed_apply.fact("after-down")
    left = {kind: sorted(set(after[kind]) - set(before.get(kind, []))) for kind in after}
    # The bootstrap stack (the state bucket and its key, the CI roles) is never destroyed by `down`; it goes
    # when the emulator stops. Keys are named by generated ids: counted.
    bootstrap = failed_apply.deployment.stack_json(tf.BOOTSTRAP)["resource"]
    expected = {"s3:bucket": sorted(b["bucket"] for b in bootstrap["aws_s3_bucket"].values()),
                "iam:role": sorted(r["name"] for r in bootstrap.get("aws_iam_role", {}).values()),
                "kms:alias": sorted(a["name"] for a in bootstrap.get("aws_kms_alias", {}).values()),
                "kms:key": len(bootstrap.get("aws_kms_key", {}))}
    found = {kind: len(ids) if kind == "kms:key" else ids for kind, ids in left.items() if ids}
    assert found == {k: v for k, v in expected.items() if v}


def test_up_reports_how_many_resources_the_state_holds(failed_apply):
    count = len(failed_apply.fact("resources-in-state"))
    assert f"{count} resources were created and are recorded in the state" in failed_apply.step("up").output

"""S3-native state locking: while a real `terraform apply` holds the lock, other runs fail fast.

The holder is a `terraform apply` of the dev stack waiting at its approval prompt (it holds the lock
from before its plan until it finishes); see conftest.py `_locked_change`.
"""
from __future__ import annotations

import pytest

pytestmark = pytest.mark.integration

FAST_SECONDS = 30  # without -lock-timeout Terraform gives up at once; this only bounds a hang


def test_the_held_lock_is_a_tflock_object_next_to_the_state_naming_the_apply(cycle):
    lock = cycle.fact("lock-held")["lock"]
    bucket = cycle.deployment.stack_json()["terraform"]["backend"]["s3"]
    assert (lock or {}).get("Operation"), lock
    assert (lock["Operation"], lock["Path"]) == ("OperationTypeApply", f"{bucket['bucket']}/{bucket['key']}")


LOCKED_OUT = pytest.mark.parametrize("run", ["dev-plan-while-locked", "dev-apply-while-locked"])


@LOCKED_OUT
def test_a_plan_or_apply_while_the_lock_is_held_fails_with_a_lock_error(cycle, run):
    step = cycle.step(run)
    assert (step.returncode, "Error acquiring the state lock" in step.output) == (1, True), step.output[-3000:]


@LOCKED_OUT
def test_a_plan_or_apply_while_the_lock_is_held_fails_fast(cycle, run):
    assert cycle.step(run).seconds < FAST_SECONDS


def test_a_plan_while_the_lock_is_held_names_the_holder_lock_id(cycle):
    lock = cycle.fact("lock-held")["lock"]
    assert f"ID:        {lock['ID']}" in cycle.step("dev-plan-while-locked").output


def test_the_state_is_unchanged_after_the_locked_out_runs(cycle):
    before, after = cycle.fact("lock-held"), cycle.fact("lock-after-locked-out-runs")
    keys = ("etag", "version", "sha256", "serial", "lock")
    assert {k: after[k] for k in keys} == {k: before[k] for k in keys}


def test_the_lock_is_released_when_the_holding_apply_finishes(cycle):
    cycle.step("dev-apply-change")
    released = cycle.fact("lock-released")
    assert (released["lock"], released["serial"] > cycle.fact("lock-held")["serial"]) == (None, True)

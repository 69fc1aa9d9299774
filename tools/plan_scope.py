"""Refuse a Terraform plan that changes more than a release may, before anything is applied.

The deploy role (infra/ci_identity.py) may apply only RELEASE_CHANGES below: a new task definition revision and
the service moving to it. Any other change is an administrator's to apply (README, Release); without this
check the release would fail half-way through the apply, on the first AccessDenied.

    terraform show -json tfplan > plan.json
    .venv/bin/python -m tools.plan_scope plan.json     exit 0 within a release, 1 naming every other change
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

# What an image or configuration release may change (Terraform's plan actions by resource type): a new task
# definition revision replaces the old one, and the service moves to it. tests/infra/test_ci_identity.py
# checks that the deploy role can make these changes; anything else is an administrator's.
RELEASE_CHANGES: dict[str, frozenset[str]] = {
    "aws_ecs_task_definition": frozenset({"create", "delete"}),
    "aws_ecs_service": frozenset({"update"}),
}
# Plan actions that change nothing.
UNCHANGED = frozenset({"no-op", "read"})


def outside_release(plan: dict) -> list[str]:
    """`address: actions` of every planned change that RELEASE_CHANGES does not allow (`terraform show -json`)."""
    found = []
    for change in plan.get("resource_changes", []):
        actions = change["change"]["actions"]
        if change.get("mode", "managed") != "managed" or set(actions) <= UNCHANGED:
            continue
        if not set(actions) <= RELEASE_CHANGES.get(change["type"], frozenset()):
            found.append(f"{change['address']}: {'/'.join(actions)}")
    return found


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m tools.plan_scope PLAN.json (the output of `terraform show -json PLAN`)", file=sys.stderr)
        return 2
    plan = json.loads(Path(argv[0]).read_text())
    outside = outside_release(plan)
    if outside:
        print(f"error: the plan changes {len(outside)} resource(s) that a release may not (the deploy role may change "
              f"only {', '.join(sorted(RELEASE_CHANGES))}):", file=sys.stderr)
        for line in outside:
            print(f"  {line}", file=sys.stderr)
        print("An administrator applies these with their own credentials (README, Release: infrastructure "
              "changes); then run this workflow again.", file=sys.stderr)
        return 1
    changed = sum(1 for c in plan.get("resource_changes", []) if not set(c["change"]["actions"]) <= UNCHANGED)
    print(f"plan within a release: {changed} change(s), all to {', '.join(sorted(RELEASE_CHANGES))}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

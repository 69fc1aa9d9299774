"""release.flow.rollout_verdict: when a rollout is done, still going, or failed (target-independent)."""
from __future__ import annotations

from release.flow import rollout_verdict
from release.model import Deployment, ServiceStatus

NEW, OLD = "arn:aws:ecs:us-east-1:1:task-definition/notes-dev-app:8", "arn:aws:ecs:us-east-1:1:task-definition/notes-dev-app:7"


def status(*deployments: Deployment) -> ServiceStatus:
    return ServiceStatus(deployments=deployments)


def test_a_single_completed_primary_on_the_new_definition_with_every_task_running_is_steady():
    assert rollout_verdict(status(Deployment("PRIMARY", NEW, "COMPLETED", desired=3, running=3)), NEW) == ""


def test_a_rollout_with_the_old_deployment_still_draining_is_not_done():
    assert rollout_verdict(status(Deployment("PRIMARY", NEW, "IN_PROGRESS", desired=3, running=3),
                                  Deployment("ACTIVE", OLD, "COMPLETED", desired=3, running=1)), NEW) is None


def test_a_completed_primary_short_of_running_tasks_is_not_done():
    assert rollout_verdict(status(Deployment("PRIMARY", NEW, "COMPLETED", desired=3, running=2)), NEW) is None


def test_a_primary_on_the_old_definition_means_ecs_rolled_back():
    verdict = rollout_verdict(status(Deployment("PRIMARY", OLD, "COMPLETED", desired=1, running=1)), NEW)
    assert verdict.startswith(f"the deployment of {NEW} failed and ECS rolled the service back to {OLD}")


def test_a_failed_primary_without_rollback_is_a_failure_with_its_reason():
    verdict = rollout_verdict(status(Deployment("PRIMARY", NEW, "FAILED", "tasks failed to start")), NEW)
    assert verdict == f"the deployment of {NEW} failed: tasks failed to start"


def test_a_service_without_a_primary_deployment_is_a_failure():
    assert rollout_verdict(status(), NEW) == "the service has no PRIMARY deployment (was it deleted?)"


def test_a_service_still_at_0_tasks_is_not_steady_while_its_configuration_gives_it_tasks():
    # Right after a first release's apply: Application Auto Scaling has not raised the count from 0 yet.
    at_zero = status(Deployment("PRIMARY", NEW, "COMPLETED", desired=0, running=0))
    assert rollout_verdict(at_zero, NEW, least=2) is None
    assert rollout_verdict(status(Deployment("PRIMARY", NEW, "COMPLETED", desired=2, running=2)), NEW, least=2) == ""
    assert rollout_verdict(at_zero, NEW) == ""  # a service configured with 0 tasks (stopped) is steady at 0


def test_the_release_waits_for_the_fewest_tasks_the_configuration_gives():
    from infra.config import AutoscalingConfig, ServiceConfig

    assert ServiceConfig(desired_count=1).least_tasks == 1
    assert ServiceConfig(desired_count=0).least_tasks == 0
    assert ServiceConfig(migrations="task", desired_count=3,
                         autoscaling=AutoscalingConfig(min_count=2, max_count=6)).least_tasks == 2

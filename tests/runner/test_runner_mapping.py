"""How the runner maps what is deployed to local settings: image URIs, secret references, the target group's
matcher, the task definition's container settings as podman flags. No containers, no emulator."""

from pathlib import Path

import pytest

from runner.balancer import status_regex
from runner.deployment import DeploymentError, TaskSpec, local_image, split_value_from
from runner.tasks import run_argv

SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!db-1234-AbCdEf"


def test_an_ecr_image_uri_maps_to_the_same_repository_and_tag_in_the_local_registry():
    uri = "123456789012.dkr.ecr.us-east-1.amazonaws.com/notes-dev/app:0.1.0"
    assert local_image(uri, "127.0.0.1:5001") == "127.0.0.1:5001/notes-dev/app:0.1.0"


def test_an_ecr_image_pinned_by_digest_stays_pinned_in_the_local_registry():
    uri = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/notes@sha256:" + "a" * 64
    assert local_image(uri, "127.0.0.1:5001") == "127.0.0.1:5001/notes@sha256:" + "a" * 64


def test_an_image_outside_ecr_is_refused_by_name():
    with pytest.raises(DeploymentError, match="'docker.io/library/python:3.11' is not an ECR image URI"):
        local_image("docker.io/library/python:3.11", "127.0.0.1:5001")


def test_a_secret_reference_with_a_json_key_names_the_secret_and_the_key():
    assert split_value_from(f"{SECRET}:password::") == (SECRET, "password")


def test_a_secret_reference_without_a_key_means_the_whole_secret():
    assert split_value_from(SECRET) == (SECRET, None)


def test_a_secret_reference_to_the_parameter_store_is_refused():
    with pytest.raises(DeploymentError, match="not a Secrets Manager ARN"):
        split_value_from("arn:aws:ssm:us-east-1:123456789012:parameter/db-password")


@pytest.mark.parametrize(("matcher", "accepted", "refused"), [
    ("200", ["200"], ["201", "2000", "302"]),
    ("200,202", ["200", "202"], ["201"]),
    ("200-299", ["200", "250", "299"], ["300", "199"]),
])
def test_the_target_groups_matcher_becomes_an_anchored_status_regex(matcher, accepted, refused):
    import re
    pattern = re.compile(status_regex(matcher))
    assert all(pattern.match(code) for code in accepted)
    assert not any(pattern.match(code) for code in refused)


def test_the_container_settings_of_the_task_definition_become_podman_flags():
    task = TaskSpec(arn="arn", family="notes-app", revision=3, image="127.0.0.1:5001/notes:1", command=("serve",),
                    environment={}, secrets={}, user="10001", read_only=True, tmpfs=("/tmp",), stop_timeout=30,
                    port=8000, init=True, cap_drop=("ALL",))
    argv = run_argv(task, name="t", db_host=("db.rds.amazonaws.com", "127.0.10.2"), env_file=Path("/x.env"),
                    label="runner.workdir=/w", detach=True)
    flags = " ".join(argv)
    for expected in ["--user 10001", "--read-only", "--tmpfs /tmp", "--init", "--cap-drop ALL", "--stop-timeout 30",
                     "--network host", "--add-host db.rds.amazonaws.com:127.0.10.2", "--env-file /x.env"]:
        assert expected in flags
    assert argv[-2:] == ["127.0.0.1:5001/notes:1", "serve"]

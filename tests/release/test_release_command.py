"""`python -m release`: bad input is refused with a clear message, exit 2, before anything changes."""
from __future__ import annotations

import json

import pytest


from release.__main__ import main
from release.model import BadInput

OUTPUTS = {"cluster_name": "notes-dev", "service_name": "notes-dev-app",
           "migration_task_definition_arn": "arn:aws:ecs:us-east-1:123456789012:task-definition/notes-dev-migrate:1",
           "task_subnet_ids": "subnet-1,subnet-2", "task_security_group_id": "sg-1",
           "ecr_repository_url": "123456789012.dkr.ecr.us-east-1.amazonaws.com/notes-dev/app",
           "load_balancer_url": "http://notes-dev-123.us-east-1.elb.amazonaws.com"}


def _never(*_):
    raise AssertionError("no target may be made for refused input")


class _WithoutImages:
    """A target whose repository holds no image."""

    selector = "--env dev"

    def __init__(self, outputs) -> None:
        self.outputs = outputs

    def find_image(self, tag):
        return None


def _without_images(env, outputs):
    return _WithoutImages(outputs)


def _outputs_file(tmp_path, **changes):
    path = tmp_path / "outputs.json"
    values = {k: v for k, v in {**OUTPUTS, **changes}.items() if v is not None}
    path.write_text(json.dumps({k: {"value": v, "type": "string"} for k, v in values.items()}))
    return path


def test_an_unknown_environment_is_refused_naming_the_known_ones(tmp_path, capsys):
    code = main(["deploy", "--env", "staging"], target_factory=_never)
    assert (code, capsys.readouterr().err.splitlines()[0]) == (
        2, "error: deploy staging: unknown environment 'staging': use one of dev, prod (infra/environments.py)")


def test_a_missing_stack_output_is_refused_naming_it(tmp_path, capsys):
    outputs = _outputs_file(tmp_path, task_security_group_id=None)
    code = main(["migrate", "--env", "dev", "--outputs", str(outputs)], target_factory=_never)
    assert code == 2 and "lack task_security_group_id: deploy the environment's stack first" in capsys.readouterr().err


def test_a_missing_outputs_file_is_refused_saying_how_to_write_it(tmp_path, capsys):
    code = main(["migrate", "--env", "dev", "--outputs", str(tmp_path / "none.json")], target_factory=_never)
    assert code == 2 and "write it with `terraform output -json >" in capsys.readouterr().err


def test_a_deploy_of_a_commit_never_pushed_is_refused_saying_to_push_it(tmp_path, capsys, monkeypatch):
    import release.__main__ as command

    monkeypatch.setattr(command, "commit_tag", lambda repo, allow_dirty=False: "0123456789ab")
    # Only the repository exists yet (a first deploy): deploy reads the rest after its apply.
    outputs = _outputs_file(tmp_path, **{k: None for k in OUTPUTS if k != "ecr_repository_url"})
    code = main(["deploy", "--env", "dev", "--outputs", str(outputs)], target_factory=_without_images)
    assert code == 2 and "no image is tagged 0123456789ab" in (err := capsys.readouterr().err)
    assert "push it first (`python -m release push --env dev`)" in err


def test_promote_without_an_image_archive_is_refused(tmp_path, capsys):
    code = main(["promote", "--env", "dev", "--outputs", str(_outputs_file(tmp_path))], target_factory=_never)
    assert code == 2 and "promote copies a built image: give --image FILE" in capsys.readouterr().err


def test_an_image_archive_that_is_not_one_is_refused_naming_the_file(tmp_path, capsys):
    bogus = tmp_path / "image.tar"
    bogus.write_text("not a tar")
    code = main(["promote", "--env", "dev", "--image", str(bogus), "--outputs", str(_outputs_file(tmp_path))],
                target_factory=_never)
    assert code == 2 and f"{bogus} is not an OCI image archive" in capsys.readouterr().err


def test_build_takes_no_environment(capsys):
    code = main(["build", "--env", "dev"], target_factory=_never)
    assert code == 2 and "build makes one image for every environment" in capsys.readouterr().err


def test_a_push_to_the_emulator_without_a_local_registry_is_refused(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:5000")
    code = main(["push", "--env", "dev", "--outputs", str(_outputs_file(tmp_path))], target_factory=_never)
    assert code == 2 and "serves no registry: pass --registry 127.0.0.1:PORT" in capsys.readouterr().err


def test_a_first_push_needs_only_the_repository_output(tmp_path, capsys):
    only_repository = _outputs_file(tmp_path, **{k: None for k in OUTPUTS if k != "ecr_repository_url"})
    made = []

    def factory(env, outputs):
        made.append(outputs)
        raise BadInput("stop here: this test pushes nothing")

    main(["push", "--env", "dev", "--outputs", str(only_repository)],
         target_factory=factory)
    assert [o.repository_url for o in made] == [OUTPUTS["ecr_repository_url"]]


def test_a_deploy_of_a_tag_not_in_the_repository_is_refused(tmp_path, capsys):
    only_repository = _outputs_file(tmp_path, **{k: None for k in OUTPUTS if k != "ecr_repository_url"})
    code = main(["deploy", "--env", "dev", "--tag", "aaaaaaaaaaaa", "--outputs", str(only_repository)],
                target_factory=_without_images)
    assert code == 2 and "no image is tagged aaaaaaaaaaaa in 123456789012.dkr.ecr" in capsys.readouterr().err


def test_a_push_from_a_tree_the_tag_rule_refuses_exits_2_with_its_words(tmp_path, capsys, monkeypatch):
    import release.__main__ as command
    from image.tag import TagError

    def dirty(repo, allow_dirty=False):
        raise TagError("the git tree has 1 uncommitted change(s) (a.txt): ... or pass --allow-dirty")

    monkeypatch.setattr(command, "commit_tag", dirty)
    code = main(["push", "--env", "dev", "--outputs", str(_outputs_file(tmp_path))],
                target_factory=lambda env, outputs: object())
    assert code == 2 and "1 uncommitted change(s) (a.txt)" in capsys.readouterr().err


def test_credentials_that_expire_mid_command_are_reported_as_expiry_naming_the_command(tmp_path, capsys):
    """Not "AWS refused": a rollback whose session ended is a rollback that may still be running."""
    from botocore.exceptions import ClientError

    def expired(env, outputs):
        raise ClientError({"Error": {"Code": "ExpiredTokenException", "Message": "The security token included in the "
                                     "request is expired"}}, "DescribeServices")

    code = main(["rollback", "--env", "dev", "--outputs", str(_outputs_file(tmp_path))],
                target_factory=expired)
    err = capsys.readouterr().err
    assert code == 1 and "error: rollback dev: the AWS credentials expired" in err and "may still be running" in err
    assert "AWS refused" not in err


def test_a_refusal_by_aws_is_still_reported_as_one(tmp_path, capsys):
    from botocore.exceptions import ClientError

    def denied(env, outputs):
        raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "not authorized"}}, "RunTask")

    code = main(["migrate", "--env", "dev", "--tag", "aaaaaaaaaaaa", "--outputs", str(_outputs_file(tmp_path))], target_factory=denied)
    assert code == 1 and "error: migrate dev: AWS refused or could not be reached" in capsys.readouterr().err


def test_an_image_that_cannot_be_built_is_one_clean_message_not_a_traceback(tmp_path, capsys, monkeypatch):
    """A fresh CI runner without the base image and without root: debootstrap refuses (issue: release-real)."""
    import release.__main__ as command
    from image.build import ImageError

    class Unpushed:
        def find_image(self, tag):
            return None

    def unbuildable(settings):
        raise ImageError("debootstrap needs root to build the base image: run `sudo tools/setup.sh containers`")

    monkeypatch.setattr(command, "commit_tag", lambda repo, allow_dirty=False: "0123456789ab")
    monkeypatch.setattr(command, "build", unbuildable)
    code = main(["push", "--env", "dev", "--outputs", str(_outputs_file(tmp_path))],
                target_factory=lambda env, outputs: Unpushed())
    err = capsys.readouterr().err
    assert code == 1 and "error: push dev: the image could not be built or pushed: debootstrap needs root" in err
    assert "Traceback" not in err and "nothing was deployed" in err


@pytest.mark.parametrize("argv, said", [
    (["rollback", "--env", "dev", "--to", "sha256:xyz"], "--to 'sha256:xyz' is neither an image tag"),
    (["rollback", "--env", "dev", "--to", "../etc"], "--to '../etc' is neither an image tag"),
    (["deploy", "--env", "dev", "--tag=-rf"], "--tag '-rf' is not an image tag"),
    (["deploy", "--env", "dev", "--tag", "a" * 129], "is not an image tag: 1-128"),
    (["deploy", "--env", "dev", "--to", "aaaaaaaaaaaa"], "--to is for rollback, not deploy"),
    (["rollback", "--env", "dev", "--image", "image.tar"], "--image is for push and migrate and deploy and promote"),
    (["promote", "--env", "dev", "--output", "x.tar"], "--output is for build, not promote"),
    (["status", "--env", "dev", "--tag", "aaaaaaaaaaaa"], "--tag is for migrate and deploy, not status"),
    (["deploy", "--env", "dev", "--skip-gate"], "--skip-gate is for migrate and promote and release, not deploy"),
])
def test_options_a_command_does_not_take_or_malformed_are_refused_before_anything(argv, said, capsys):
    assert main(argv, target_factory=_never) == 2 and said in capsys.readouterr().err


def test_build_into_a_folder_is_refused_naming_a_file_to_give(tmp_path, capsys):
    assert main(["build", "--output", str(tmp_path)], target_factory=_never) == 2
    assert f"--output {tmp_path} is a folder" in capsys.readouterr().err


# -- from nothing: promote and release read a stack that was never applied as "create it first" -----------------

@pytest.mark.parametrize("present", [(), ("ecr_repository_url",), ("cluster_name", "ecr_repository_url"),
                                     ("service_name",)])
def test_promote_reads_a_stack_never_applied_or_half_created_as_one_to_create(tmp_path, present):
    made = []
    outputs = _outputs_file(tmp_path, **{k: None for k in OUTPUTS if k not in present})
    main(["promote", "--env", "dev", "--image", str(tmp_path / "none.tar"), "--outputs", str(outputs)],
         target_factory=lambda env, outs: made.append(outs))
    assert made == []  # the archive is checked first: this one does not exist
    from release import outputs as stack_outputs

    outs = stack_outputs.from_file(outputs, stack_outputs.NEEDED_BY["promote"], from_nothing=True)
    assert not outs.exists and outs.repository_url == OUTPUTS["ecr_repository_url"] * ("ecr_repository_url" in present)


def test_an_applied_stack_missing_an_output_a_promote_needs_is_still_refused_naming_it(tmp_path, capsys):
    from release import outputs as stack_outputs

    outputs = _outputs_file(tmp_path, load_balancer_url=None)
    with pytest.raises(BadInput, match="lack load_balancer_url"):
        stack_outputs.from_file(outputs, stack_outputs.NEEDED_BY["promote"], from_nothing=True)


@pytest.mark.parametrize("command", ["migrate", "deploy", "push", "rollback", "status"])
def test_only_promote_and_release_take_an_environment_from_nothing(tmp_path, capsys, command):
    code = main([command, "--env", "dev", "--tag" if command in ("migrate", "deploy") else "--poll",
                 "aaaaaaaaaaaa" if command in ("migrate", "deploy") else "1",
                 "--outputs", str(_outputs_file(tmp_path, **{k: None for k in OUTPUTS}))], target_factory=_never)
    assert code == 2
    assert "deploy the environment's stack first" in capsys.readouterr().err


# -- the applier: SERVICE_STOPPED only when the release asks for it -----------------------------------------------

@pytest.mark.parametrize("stopped", [False, True])
def test_the_cdktf_applier_sets_service_stopped_only_when_asked_never_from_the_shell(tmp_path, monkeypatch, stopped):
    from release.aws import cdktf_applier
    from release.model import Image

    npx = tmp_path / "bin" / "npx"
    npx.parent.mkdir()
    npx.write_text(f"#!/bin/sh\necho \"$@|$IMAGE_TAG|$ENVIRONMENTS|${{SERVICE_STOPPED-unset}}\" > {tmp_path}/called\n")
    npx.chmod(0o755)
    monkeypatch.setenv("PATH", f"{npx.parent}:{__import__('os').environ['PATH']}")
    monkeypatch.setenv("SERVICE_STOPPED", "1")  # left in a shell by hand: a release must not stop the service with it
    digest = "sha256:" + "ab" * 32
    cdktf_applier(root=tmp_path)("dev", Image(repository_url="r/app", tag="t", digest=digest), stopped=stopped)
    assert (tmp_path / "called").read_text().strip() == \
        f"cdktf deploy dev --auto-approve|{digest}|dev|{'1' if stopped else 'unset'}"

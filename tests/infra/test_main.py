"""main.py: writes every stack, or on bad input writes nothing and says what to fix."""
import dataclasses
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import main
from infra import environments
from infra.config import BOOTSTRAP_STACK
from tests.stacks import ROOT, run_main
from tools.mirror import terraform_env

# What the user-facing variables of this machine's shell must not leak into a run.
SETTINGS = ("AWS_ENDPOINT_URL", "ENVIRONMENTS", "IMAGE_TAG", "SERVICE_STOPPED", "STOCK_SYNTH", "CDKTF_OUTDIR")
# The configured environments, whatever their names: the tests follow infra/environments.py.
NAMES = list(environments.ENVIRONMENTS)
FIRST, LAST = NAMES[0], NAMES[-1]


def project_copy(tmp_path: Path, edit: tuple[str, str]) -> Path:
    """main.py and infra/ in a scratch folder, with one edit to infra/environments.py (its first place), and a
    previous cdktf.out."""
    project = tmp_path / "project"
    shutil.copytree(ROOT / "infra", project / "infra", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "main.py", project / "main.py")
    source = project / "infra" / "environments.py"
    old, new = edit
    assert old in source.read_text(), old
    source.write_text(source.read_text().replace(old, new, 1))
    (project / "cdktf.out").mkdir()
    (project / "cdktf.out" / "marker").write_text("previous synth")
    return project


def run_copy(project: Path) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k not in SETTINGS}
    return subprocess.run([sys.executable, "main.py"], cwd=project, env=environ, capture_output=True, text=True,
                          timeout=120)


def line_of(path: Path, text: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if text in line)


def assert_nothing_written(project: Path) -> None:
    assert sorted(p.name for p in project.iterdir()) == ["cdktf.out", "infra", "main.py"]
    assert [p.name for p in (project / "cdktf.out").iterdir()] == ["marker"]
    assert (project / "cdktf.out" / "marker").read_text() == "previous synth"


@pytest.mark.integration
def test_main_writes_the_bootstrap_stack_and_one_stack_per_environment(main_run, outdir):
    result, out = main_run
    assert result.returncode == 0, result.stderr
    stacks = sorted(p.name for p in (out / "stacks").iterdir())
    assert stacks == sorted([BOOTSTRAP_STACK, *NAMES])
    assert (out / "manifest.json").is_file()
    # What the tests assert is exactly what main.py writes.
    for stack in stacks:
        assert (out / "stacks" / stack / "cdk.tf.json").read_bytes() == \
            (outdir / "stacks" / stack / "cdk.tf.json").read_bytes()
    assert f"wrote {len(NAMES) + 1} stacks" in result.stdout


def test_unknown_environment_writes_nothing_and_names_the_known_ones(tmp_path):
    result = run_main(tmp_path, ENVIRONMENTS=f"{FIRST},nosuchenv")
    assert result.returncode == 2
    assert ("error: invalid configuration: ENVIRONMENTS: 'nosuchenv' is not defined; known environments: "
            + ", ".join(NAMES)) in result.stderr
    assert "nothing was written" in result.stderr and "fix the ENVIRONMENTS variable" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_invalid_image_tag_leaves_the_previous_output_untouched(tmp_path):
    previous = tmp_path / "cdktf.out" / "marker"
    previous.parent.mkdir()
    previous.write_text("previous synth")
    result = run_main(tmp_path, IMAGE_TAG="not a tag")
    assert result.returncode == 2
    assert "error: invalid configuration: service.image_tag: 'not a tag' is neither an image tag" in result.stderr
    assert "fix the IMAGE_TAG variable and run again" in result.stderr
    assert "environments.py" not in result.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["cdktf.out"]
    assert previous.read_text() == "previous synth"


def test_a_synth_that_fails_half_way_leaves_no_partial_output(tmp_path, monkeypatch):
    previous = tmp_path / "cdktf.out" / "marker"
    previous.parent.mkdir()
    previous.write_text("previous synth")

    def half_written(outdir: Path, envs) -> list[str]:
        (outdir / "stacks" / FIRST).mkdir(parents=True)
        (outdir / "stacks" / FIRST / "cdk.tf.json").write_text("{")
        raise RuntimeError("synth failed")

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(main, "synthesize", half_written)
    with pytest.raises(RuntimeError, match="synth failed"):
        main.main()
    assert [p.name for p in tmp_path.iterdir()] == ["cdktf.out"]
    assert [p.name for p in (tmp_path / "cdktf.out").iterdir()] == ["marker"]


@pytest.mark.integration
def test_output_folder_given_by_cdktf_outdir_is_created_with_its_parents_and_node_prints_no_banner(tmp_path):
    environ = {k: v for k, v in os.environ.items()
               if k not in SETTINGS and k != "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION"}
    environ.update(ENVIRONMENTS=FIRST, CDKTF_OUTDIR=str(tmp_path / "new" / "cdktf.out"))
    result = subprocess.run([sys.executable, str(ROOT / "main.py")], cwd=tmp_path, env=environ, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert sorted(p.name for p in (tmp_path / "new" / "cdktf.out" / "stacks").iterdir()) == sorted([BOOTSTRAP_STACK, FIRST])


def test_a_bad_value_in_the_environments_file_ends_as_one_error_naming_the_field_and_its_line(tmp_path):
    project = project_copy(tmp_path, ("backup_retention_days=1,", "backup_retention_days=99,"))
    result = run_copy(project)
    assert result.returncode == 2
    line = line_of(project / "infra" / "environments.py", "backup_retention_days=99")
    assert result.stderr.splitlines() == [
        "error: invalid configuration: database.backup_retention_days: 99 is not allowed: use 1 to 35 days",
        f"nothing was written (the previous cdktf.out is unchanged); fix infra/environments.py, line {line} "
        "and run again"]
    assert result.stdout == ""
    assert_nothing_written(project)


def test_a_wrong_type_in_the_environments_file_is_refused_the_same_way(tmp_path):
    project = project_copy(tmp_path, ("http_only=True", "http_only='false'"))
    result = run_copy(project)
    assert result.returncode == 2
    assert result.stderr.startswith("error: invalid configuration: load_balancer.http_only: 'false' is not allowed: "
                                    "input should be a valid boolean\n")
    assert_nothing_written(project)


def test_a_python_mistake_in_the_environments_file_is_reported_with_its_line_and_no_traceback(tmp_path):
    project = project_copy(tmp_path, ("registry=RegistryConfig(force_delete=True),",
                                      "registry=RegistryConfig(force_delete=True), tags=ServiceSettings(cpu=512),"))
    result = run_copy(project)
    assert result.returncode == 2
    line = line_of(project / "infra" / "environments.py", "ServiceSettings")
    assert result.stderr.splitlines() == [
        f"error: invalid configuration: infra/environments.py, line {line}: NameError: name 'ServiceSettings' is "
        "not defined",
        f"nothing was written (the previous cdktf.out is unchanged); fix infra/environments.py, line {line} "
        "and run again"]
    assert_nothing_written(project)


def test_two_environments_under_one_name_are_refused(tmp_path):
    project = project_copy(tmp_path, (f'    "{LAST}": EnvironmentConfig(\n        name="{LAST}",',
                                      f'    "{LAST}": EnvironmentConfig(\n        name="other",'))
    result = run_copy(project)
    assert result.returncode == 2
    assert f"error: invalid configuration: {LAST}.name: 'other' differs from its key '{LAST}'" in result.stderr
    assert "fix infra/environments.py and run again" in result.stderr
    assert_nothing_written(project)


def test_an_environment_named_twice_in_the_variable_is_refused(tmp_path):
    result = run_main(tmp_path, ENVIRONMENTS=f"{FIRST},{FIRST}")
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"error: invalid configuration: ENVIRONMENTS: '{FIRST}' is named twice: name each environment once",
        "nothing was written (the previous cdktf.out is unchanged); fix the ENVIRONMENTS variable and run again"]
    assert list(tmp_path.iterdir()) == []


def test_a_moving_image_tag_is_refused_naming_the_variable(tmp_path):
    result = run_main(tmp_path, IMAGE_TAG="latest")
    assert result.returncode == 2
    assert "service.image_tag: 'latest' looks like a moving tag" in result.stderr
    assert "fix the IMAGE_TAG variable" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_overlapping_vpc_ranges_print_a_warning_and_the_synth_goes_on(tmp_path, monkeypatch, capsys):
    # GIVEN a new environment on the first one's VPC range
    first = environments.ENVIRONMENTS[FIRST]
    cidr = first.network.vpc_cidr
    monkeypatch.setitem(environments.ENVIRONMENTS, "other", dataclasses.replace(first, name="other"))
    for name in SETTINGS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(main, "synthesize", lambda outdir, envs: outdir.mkdir() or [BOOTSTRAP_STACK, *NAMES])
    assert main.main() == 0
    assert capsys.readouterr().err.splitlines() == [
        f"warning: other.network.vpc_cidr: {cidr} overlaps {FIRST}'s {cidr}: the two VPCs can never be peered "
        "or reached over one VPN; give each environment its own range"]
    assert (tmp_path / "cdktf.out").is_dir()


def test_the_system_interpreter_gets_one_line_saying_how_to_run_main():
    system_python = getattr(sys, "_base_executable", sys.executable)
    probe = subprocess.run([system_python, "-c", "import cdktf"], capture_output=True)
    assert probe.returncode != 0, f"{system_python} has cdktf installed: this test needs an interpreter without it"
    result = subprocess.run([system_python, "main.py"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"error: {system_python} does not have this project's packages (cdktf, ")
    assert line.endswith("): run `make synth`, or `.venv/bin/python main.py` once `make setup` has installed them")


@pytest.mark.integration
def test_npx_cdktf_synth_as_the_readme_writes_it_prints_no_node_banner_and_no_error(tmp_path):
    # The documented environment: CHECKPOINT_DISABLE (README), the provider mirror where there is one.
    # Not the Node banner's switch: main.py must set that itself.
    environ = terraform_env({k: v for k, v in os.environ.items()
                             if k not in SETTINGS and k != "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION"})
    environ["CHECKPOINT_DISABLE"] = "1"
    # The project seen through links, so that the CLI's cdktf.out lands here and not in the repository.
    for name in ("cdktf.json", "package.json", "node_modules", ".venv", "main.py", "infra"):
        (tmp_path / name).symlink_to(ROOT / name)
    result = subprocess.run(["npx", "cdktf", "synth"], cwd=tmp_path, env=environ, capture_output=True, text=True,
                            timeout=600)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Generated Terraform code for the stacks: " + ", ".join([BOOTSTRAP_STACK, *NAMES]) in output
    assert (tmp_path / "cdktf.out" / "stacks" / LAST / "cdk.tf.json").is_file()
    assert "end-of-life" not in output and "[ERROR]" not in output and "ERROR" not in output, output


# SERVICE_STOPPED: the release's first apply of an environment without a service (release/flow.py, create)

def test_service_stopped_synthesizes_every_chosen_service_with_no_task_and_no_autoscaling(monkeypatch):
    for name in SETTINGS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SERVICE_STOPPED", "1")
    stopped = {env.name: env.service for env in main.configured_environments()}
    assert {name: (service.desired_count, service.autoscaling) for name, service in stopped.items()} == \
        {name: (0, None) for name in NAMES}
    # Nothing else of the service changes: the image, the strategy, the sizes are the configured ones.
    assert {name: dataclasses.replace(service, desired_count=1, autoscaling=None) for name, service in stopped.items()} \
        == {name: dataclasses.replace(env.service, desired_count=1, autoscaling=None)
            for name, env in environments.ENVIRONMENTS.items()}


def test_without_service_stopped_the_configured_task_counts_are_synthesized(monkeypatch):
    for name in SETTINGS:
        monkeypatch.delenv(name, raising=False)
    assert {env.name: env.service for env in main.configured_environments()} == \
        {name: env.service for name, env in environments.ENVIRONMENTS.items()}


@pytest.mark.parametrize("value", ["0", "true", "yes", " 1", "1\n"])
def test_any_service_stopped_but_1_writes_nothing_and_names_the_variable(tmp_path, value):
    result = run_main(tmp_path, SERVICE_STOPPED=value)
    assert result.returncode == 2
    assert f"error: invalid configuration: SERVICE_STOPPED={value!r} is not allowed: set 1" in result.stderr
    assert "fix the SERVICE_STOPPED variable and run again" in result.stderr
    assert list(tmp_path.iterdir()) == []

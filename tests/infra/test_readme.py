"""The README's deployment steps name things that exist in what main.py writes."""
import dataclasses
import re
from pathlib import Path

from infra import environments

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_readme_targets_the_repository_resource_address_that_every_environment_synthesizes(env_stack):
    (address,) = set(re.findall(r"-target=(aws_ecr_repository\.\w+)", README))
    rtype, name = address.split(".")
    assert name in env_stack.resources(rtype)
    assert env_stack.resources(rtype)[name]["name"] == f"{env_stack.config.prefix}/app"


def test_readme_names_the_repository_of_the_environment_its_steps_synthesize():
    # The steps walk through one environment (`ENVIRONMENTS=<name> make synth`): the repository they
    # look up is the one that environment would get, whatever infra/environments.py holds today.
    (walked,) = set(re.findall(r"ENVIRONMENTS=(\w+) make synth", README))
    example = dataclasses.replace(next(iter(environments.ENVIRONMENTS.values())), name=walked)
    assert f"--repository-names {example.prefix}/app " in README


def test_readme_lists_every_output_the_stacks_declare(app_stack):
    for output in app_stack.json["output"]:
        assert f"`{output}`" in README, output

"""The README's deployment steps name things that exist in what main.py writes."""
import re
from pathlib import Path

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_readme_targets_the_repository_resource_address_that_dev_synthesizes(dev):
    (address,) = set(re.findall(r"-target=(aws_ecr_repository\.\w+)", README))
    rtype, name = address.split(".")
    assert name in dev.resources(rtype)
    assert dev.resources(rtype)[name]["name"] == "notes-dev/app"
    assert "--repository-names notes-dev/app" in README


def test_readme_lists_every_output_the_stacks_declare(dev):
    for output in dev.json["output"]:
        assert f"`{output}`" in README, output

"""The README's deployment steps name things that exist in what main.py writes."""
from pathlib import Path

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_readme_deploys_from_zero_without_a_targeted_apply():
    # A first deploy is `python -m release promote|release` (the service at 0 tasks until the first migration):
    # no step of the README applies part of a stack by hand.
    assert "-target=" not in README
    assert "SERVICE_STOPPED=1" in README


def test_readme_lists_every_output_the_stacks_declare(app_stack):
    for output in app_stack.json["output"]:
        assert f"`{output}`" in README, output

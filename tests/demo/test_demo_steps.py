"""`make demo`'s steps stop at the first command that fails: no apply after a failed init."""

from __future__ import annotations

import pytest

import demo.__main__ as demo
from tools.terraform import DeployError, Step


class Deployment:
    """A LocalDeployment whose init fails; it records which commands were asked for."""

    def __init__(self) -> None:
        self.ran: list[str] = []

    def init(self, stack: str) -> Step:
        self.ran.append(f"init {stack}")
        return Step("init", ["terraform", "init"], 1, 0.1, "Error: Failed to query available provider packages")

    def apply(self, stack: str, **_: object) -> Step:
        self.ran.append(f"apply {stack}")
        return Step("apply", ["terraform", "apply"], 0, 0.1, "")


def test_a_failed_init_of_the_bootstrap_stack_stops_before_its_apply():
    deployment = Deployment()
    with pytest.raises(DeployError, match=r"^terraform init of the bootstrap stack failed \(exit 1"):
        demo._apply_bootstrap(deployment)
    assert deployment.ran == ["init bootstrap"]

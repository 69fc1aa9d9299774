"""Shared by every test folder: load the AWS provider bindings the fast way (see infra/fast_synth.py), and
run the suite in parallel by units that share nothing.

This runs before any test module imports cdktf_cdktf_provider_aws, so the test session pays for the
~40 submodules the constructs use instead of all 2,135. Two plugins hold the fixtures that several folders
share: tests/stacks.py (every stack synthesized once per session: infra, security, tools and demo tests) and
tests/containers.py (the registry, the app image, podman, an emulator, a browser: image, runner, release).

Parallel runs (`make test`: pytest-xdist, `-n <cores + 1> --dist loadscope --no-loadscope-reorder`): a worker is
its own pytest session, so its session fixtures (a synth, an emulator, a PostgreSQL cluster, podman's
storage) are its own, on free ports and in its own folders. The scheduler below hands each worker whole
units: a test module, or modules that share one costly session fixture (SHARED), longest first so that
the last unit to start is a short one.
"""
from __future__ import annotations

import os
from collections import Counter

import pytest

from infra import fast_synth

pytest_plugins = ["tests.stacks", "tests.containers"]

fast_synth.skip_provider_index()

SHARED = {
    # One deployment on one emulator (tests/deploy/conftest.py's session fixtures): run apart, each
    # module would deploy the stack again.
    "deploy-cycle": ("tests/deploy/test_deploy_cycle.py", "tests/deploy/test_state_lock.py",
                     "tests/deploy/test_ci_permissions.py", "tests/deploy/test_failed_apply.py"),
    # One `python main.py` (tests/stacks.py's main_run).
    "main-synth": ("tests/infra/test_main.py", "tests/infra/test_fast_synth.py"),
}
UNIT_OF = {module: unit for unit, modules in SHARED.items() for module in modules}

LONGEST_FIRST = (
    # Seconds per unit in a 2-worker run (setup + call + teardown, `pytest -n 2 --durations=0`, this machine):
    "deploy-cycle",                           # 386
    "tests/release/test_release_local.py",    # 378
    "tests/runner/test_runner.py",            # 200
    "tests/infra/test_environments_derived.py",  # 61
    "tests/tools/test_drift.py",              # 57
    "main-synth",                             # 35
    "tests/runner/test_runner_tls.py",        # 34
    "tests/infra/test_terraform.py",          # 26
    "tests/test_parallel.py",                 # 26
    "tests/app/test_app_database_restart.py",  # 23
    "tests/app/test_app_serve.py",            # 22
    "tests/security/test_checkov_plan.py",    # 21
    "tests/release/test_release_aws.py",      # 19
    "tests/image/test_image.py",              # 17
    "tests/deploy/test_demo_command.py",      # 16
    "tests/security/test_checkov.py",         # 16
    # A unit not named here keeps its place after these (all under 12 s).
)
SENSITIVE = {"deploy-cycle"}
"""Units whose worker keeps its priority: the provider retries a create whose answer came late, and AWS
(as the emulator) then refuses the second one as a duplicate. The other workers lower theirs (os.nice)."""


def unit(nodeid: str) -> str:
    """The unit a test belongs to: its module, or the SHARED group its module is in."""
    module = nodeid.split("::", 1)[0]
    return UNIT_OF.get(module, module)


def _unique_ids(items: list[pytest.Item]) -> None:
    """Give each test its own id. pytest 9.2 gives the cases of a schemathesis test one id (the function's):
    xdist hands out tests by id, so it ran one case of eight and said nothing of the others. Such cases get
    `<module>::<name>` (name = `test[GET /notes]`), as pytest 8 gave them; any clash left stops the run."""
    from _pytest.nodeid import NodeId

    counts = Counter(item.nodeid for item in items)
    for item in items:
        if counts[item.nodeid] > 1 and item.name != item.nodeid.rsplit("::", 1)[-1]:
            item._id = NodeId.parse(f"{item.nodeid.rsplit('::', 1)[0]}::{item.name}")
    clashes = [nodeid for nodeid, n in Counter(item.nodeid for item in items).items() if n > 1]
    if clashes:
        raise pytest.UsageError(f"tests share an id, a parallel run would run one of them: {clashes[:5]}")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    _unique_ids(items)
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(unit(item.nodeid), len(rank)))  # stable: file order within a rank


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    if config.getoption("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class UnitScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return unit(nodeid)

    return UnitScheduling(config, log)


_lowered = False


def pytest_runtest_setup(item: pytest.Item) -> None:
    global _lowered
    if not _lowered and os.environ.get("PYTEST_XDIST_WORKER") and unit(item.nodeid) not in SENSITIVE:
        os.nice(10)  # children (terraform, podman, PostgreSQL) inherit it
        _lowered = True


# -- reports a worker wrote, printed by the controller ------------------------------------------------

SECTIONS: list[tuple[str, list[str]]] = []
"""(title, lines) that a conftest's report puts in `config.workeroutput["sections"]` in a worker."""


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error) -> None:
    SECTIONS.extend((title, lines) for title, lines in getattr(node, "workeroutput", {}).get("sections", []))


def pytest_terminal_summary(terminalreporter) -> None:
    for title, lines in SECTIONS:
        terminalreporter.section(title)
        for line in lines:
            terminalreporter.write_line(line)

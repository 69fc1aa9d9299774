"""The parallel run (`make test`: pytest-xdist with tests/conftest.py's scheduler) runs every test, keeps each
unit whole on one worker, and loses no report. Each test below runs a real pytest with xdist on a small
project that uses tests/conftest.py's hooks."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections import defaultdict
from pathlib import Path

import pytest

from tests import conftest

ROOT = Path(__file__).resolve().parents[1]
HOOKS = ("pytest_collection_modifyitems", "pytest_xdist_make_scheduler", "pytest_runtest_setup",
         "pytest_testnodedown", "pytest_terminal_summary")


def run_project(tmp_path: Path, files: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    (tmp_path / "conftest.py").write_text(f"from tests.conftest import {', '.join(HOOKS)}\n" + files.pop("conftest.py", ""))
    for name, text in files.items():
        (tmp_path / name).write_text(textwrap.dedent(text))
    env = {**os.environ, "PYTHONPATH": f"{ROOT}:{tmp_path}"}
    env.pop("PYTEST_XDIST_WORKER", None)
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--rootdir", str(tmp_path), *args],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)


WHERE = """
    import os, pathlib, pytest

    @pytest.mark.parametrize("n", range(4))
    def test_where(n):
        with open(pathlib.Path(__file__).with_suffix(".log"), "a") as log:
            log.write(f"{os.environ['PYTEST_XDIST_WORKER']} {os.nice(0)}\\n")
"""


def test_each_module_runs_whole_on_one_worker_and_every_test_runs(tmp_path):
    lowered = str(min(os.nice(0) + 10, 19))
    result = run_project(tmp_path, {"test_one.py": WHERE, "test_two.py": WHERE},
                         "-n", "2", "--dist", "loadscope", "--no-loadscope-reorder")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "8 passed" in result.stdout
    seen = {name: (tmp_path / f"{name}.log").read_text().split() for name in ("test_one", "test_two")}
    workers = {name: set(words[0::2]) for name, words in seen.items()}
    assert all(len(w) == 1 for w in workers.values()), workers  # whole on one worker
    assert workers["test_one"] != workers["test_two"], workers  # and both workers used
    # A worker running units other than the deploy cycle lowers its priority for it (tests/conftest.py).
    assert {nice for words in seen.values() for nice in words[1::2]} == {lowered}


def test_the_deploy_cycle_modules_and_main_py_modules_are_units_and_exist():
    assert conftest.unit("tests/deploy/test_state_lock.py::test_x") == "deploy-cycle"
    assert conftest.unit("tests/infra/test_fast_synth.py::test_x[a::b]") == "main-synth"
    assert conftest.unit("tests/app/test_app_api.py::test_x") == "tests/app/test_app_api.py"
    modules = [m for ms in conftest.SHARED.values() for m in ms]
    missing = [m for m in modules if not (ROOT / m).is_file()]
    assert not missing, f"SHARED names modules that are gone: {missing}"


def test_every_unit_named_longest_first_exists():
    gone = [u for u in conftest.LONGEST_FIRST if u not in conftest.SHARED and not (ROOT / u).is_file()]
    assert not gone, f"LONGEST_FIRST names modules that are gone: {gone}"


def test_longest_units_are_collected_first(tmp_path):
    result = run_project(tmp_path, {"test_a.py": "def test_a(): pass\n", "test_b.py": "def test_b(): pass\n",
                                    "conftest.py": "from tests import conftest as c\nc.LONGEST_FIRST = ('test_b.py',)\n"},
                         "--collect-only", "-q")
    assert result.stdout.splitlines()[:2] == ["test_b.py::test_b", "test_a.py::test_a"], result.stdout


def test_parametrized_cases_that_share_an_id_get_their_names_and_all_run(tmp_path):
    # The shape of schemathesis's cases on pytest 9.2: items whose nodeid is the function's. Without the fix,
    # `--dist loadscope` keys its work by id and runs one of the three (tried: "1 passed").
    plugin = """
        from _pytest.nodeid import NodeId

        def pytest_itemcollected(item):
            if item.originalname == "test_case":
                item._id = NodeId.parse(item.nodeid.split("[")[0])
    """
    (tmp_path / "shape.py").write_text(textwrap.dedent(plugin))
    test = """
        import pytest

        @pytest.mark.parametrize("n", ["GET /a", "POST /a", "GET /b"])
        def test_case(n):
            pass
    """
    result = run_project(tmp_path, {"test_cases.py": test}, "-p", "shape", "-n", "2", "--dist", "loadscope", "-v")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 passed" in result.stdout, result.stdout
    for name in ("test_case[GET /a]", "test_case[POST /a]", "test_case[GET /b]"):
        assert f"test_cases.py::{name}" in result.stdout


def test_a_clash_left_stops_the_run_naming_the_id():
    class Item:
        def __init__(self, nodeid: str) -> None:
            self.nodeid, self.name = nodeid, nodeid.rsplit("::", 1)[-1]

    with pytest.raises(pytest.UsageError, match=r"tests share an id.*test_x\.py::test_y"):
        conftest._unique_ids([Item("test_x.py::test_y"), Item("test_x.py::test_y")])


def test_the_schemathesis_cases_have_ids_of_their_own():
    result = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "tests/app/test_app_schemathesis.py"],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    ids = [line for line in result.stdout.splitlines() if "::" in line]
    assert len(ids) == len(set(ids)) == 10, result.stdout
    assert "tests/app/test_app_schemathesis.py::test_every_answer_is_documented_by_the_schema_and_none_is_a_server_error[GET /notes]" in ids


def test_a_report_a_worker_writes_is_printed_once_by_the_controller(tmp_path):
    reporting = """
        def pytest_sessionfinish(session):
            output = getattr(session.config, "workeroutput", None)
            if output is not None:
                output.setdefault("sections", []).append(("a worker's report", ["  42.0 s  ok    a step"]))
    """
    result = run_project(tmp_path, {"conftest.py": textwrap.dedent(reporting), "test_a.py": "def test_a(): pass\n"},
                         "-n", "1")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("a worker's report") == 1 and "42.0 s  ok    a step" in result.stdout, result.stdout


def test_the_deploy_cycle_report_reaches_a_parallel_run(monkeypatch):
    # tests/deploy/conftest.py hands its report to the controller in a worker, and prints it when serial.
    from tests.deploy import conftest as deploy

    monkeypatch.setattr(deploy, "_report", lambda: ["  1.0 s  ok    dev-apply"])
    config = type("Config", (), {"workeroutput": {}})()
    deploy.pytest_sessionfinish(type("Session", (), {"config": config})())
    assert config.workeroutput["sections"] == [(deploy.TITLE, ["  1.0 s  ok    dev-apply"])]


def test_workers_by_unit_cover_the_suite():
    # Every collected test belongs to exactly one unit; the units named SHARED each hold several modules.
    result = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "tests/deploy", "tests/infra"],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    modules = defaultdict(set)
    for line in result.stdout.splitlines():
        if "::" in line:
            modules[conftest.unit(line)].add(line.split("::")[0])
    assert modules["deploy-cycle"] == set(conftest.SHARED["deploy-cycle"]), modules["deploy-cycle"]
    assert modules["main-synth"] == set(conftest.SHARED["main-synth"]), modules["main-synth"]

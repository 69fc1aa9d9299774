"""`make demo` deploys the first environment of infra/environments.py, whatever it is called, or the one
`make demo ENV=...` names; one at a time; `make demo-down` takes down the one that runs."""
import dataclasses

from infra import environments
from tests.stacks import TEST_STACK_CONFIGS


def test_make_demo_deploys_the_first_configured_environment_whatever_its_name(monkeypatch):
    import demo.__main__ as demo

    # GIVEN a configuration whose first entry is one the repository does not ship
    first = TEST_STACK_CONFIGS["weakened"]
    monkeypatch.setattr(environments, "ENVIRONMENTS", {first.name: first, **environments.ENVIRONMENTS})
    chosen = []
    monkeypatch.setattr(demo, "up", lambda args: chosen.append((args.stack, args.region)) or 0)
    # WHEN `make demo` runs without --stack
    assert demo.main(["up"]) == 0
    # THEN it deploys that first environment, in its region
    assert chosen == [(first.name, first.region)]


def _demo_argv(*make_args: str, env: dict | None = None) -> list[str]:
    """The `python -m demo` command `make demo` would run (make -n: printed, not run)."""
    import os
    import shlex
    import subprocess
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    printed = subprocess.run(["make", "-n", "--no-print-directory", *make_args], cwd=root, capture_output=True,
                             text=True, env={**os.environ, **(env or {})}, timeout=60)
    assert printed.returncode == 0, printed.stderr
    line = next(line for line in printed.stdout.splitlines() if " -m demo " in line)
    return shlex.split(line)[1:]


def test_make_demo_env_names_the_environment_as_one_argument_whatever_it_holds():
    assert _demo_argv("demo", "ENV=prod") == ["-m", "demo", "up", "--stack", "prod"]
    hostile = "x'; touch /tmp/pwned; echo '$HOME"
    assert _demo_argv("demo", f"ENV={hostile}") == ["-m", "demo", "up", "--stack", hostile]
    assert _demo_argv("demo-down", "ENV=prod") == ["-m", "demo", "down", "--stack", "prod"]


def test_an_env_variable_in_the_shell_is_not_taken_for_the_environment():
    # sh reads ENV as its startup file: only `make demo ENV=...` on the command line chooses the environment
    assert _demo_argv("demo", env={"ENV": "/root/.shrc"}) == ["-m", "demo", "up"]


def test_up_of_another_environment_while_one_runs_is_refused_before_anything_starts(monkeypatch, tmp_path, capsys):
    import demo.__main__ as demo

    # GIVEN `make demo` left dev running on the emulator it started in this work folder
    (tmp_path / "demo-stack").write_text("dev\n")
    monkeypatch.setattr(demo, "running_endpoint", lambda pidfile: "http://127.0.0.1:4566")
    started = []
    monkeypatch.setattr(demo, "_start_emulator", lambda *a: started.append(a))
    monkeypatch.setattr(demo, "check_tools", lambda: type("T", (), {"mirror": None, "terraform_version": (1, 11, 4),
                                                                    "node": "node", "terraform": "terraform"})())
    # WHEN prod is asked for THEN it stops, exit 2, saying how to switch, and nothing starts
    assert demo.main(["up", "--stack", "prod", "--workdir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "make demo runs dev here already" in err
    assert "Run `make demo-down` first, then `make demo ENV=prod`" in err
    assert started == []


def test_down_destroys_the_environment_up_deployed_unless_told_otherwise(monkeypatch, tmp_path):
    import demo.__main__ as demo

    (tmp_path / "demo-stack").write_text("prod\n")
    monkeypatch.setattr(demo, "running_endpoint", lambda pidfile: "http://127.0.0.1:4566")
    chosen = []
    monkeypatch.setattr(demo, "down", lambda args: chosen.append(args.stack) or 0)
    assert demo.main(["down", "--workdir", str(tmp_path)]) == 0
    assert demo.main(["down", "--workdir", str(tmp_path), "--stack", "dev"]) == 0
    assert chosen == ["prod", "dev"]


def test_down_of_an_environment_with_deletion_protection_stops_the_emulator_instead_of_destroying(monkeypatch, tmp_path,
                                                                                                capsys):
    import demo.__main__ as demo

    # GIVEN the first environment with its database protected (as prod is), running on an emulator of this folder
    first = TEST_STACK_CONFIGS["weakened"]
    protected = dataclasses.replace(first, database=dataclasses.replace(first.database, deletion_protection=True))
    monkeypatch.setattr(environments, "ENVIRONMENTS", {first.name: protected})
    monkeypatch.setattr(demo.subprocess, "run", lambda *a, **k: type("R", (), {"returncode": 0, "stderr": ""})())
    monkeypatch.setattr(demo, "check_tools", lambda need_node=True: type("T", (), {"terraform": "terraform"})())
    monkeypatch.setattr(demo, "running_endpoint", lambda pidfile: "http://127.0.0.1:4566")
    stopped, destroyed = [], []
    monkeypatch.setattr(demo, "stop_background", lambda pidfile: stopped.append(pidfile))
    monkeypatch.setattr(demo, "_destroy", lambda *a: destroyed.append(a))
    # WHEN make demo-down runs
    assert demo.main(["down", "--workdir", str(tmp_path)]) == 0
    # THEN no destroy is tried (RDS refuses it half-way), the emulator is stopped, and it says why
    assert (destroyed, len(stopped)) == ([], 1)
    assert "database have deletion protection on" in capsys.readouterr().out

"""The compatibility gate's decisions (release/flow.py gate), what it needs on the machine, and how it reads the
app's words (release/gate.py); the gate itself runs in tests/release/test_release_local.py, on the local system
and as against AWS (pulling with the ECR token's auth)."""
from __future__ import annotations

import json

import pytest

from release import flow
from release.gate import _words, steps
from release.model import Image, ReleaseError

RUNNING = Image("123456789012.dkr.ecr.us-east-1.amazonaws.com/notes-dev/app", "aaaaaaaaaaaa", "sha256:" + "aa" * 32)
NEW = Image(RUNNING.repository_url, "bbbbbbbbbbbb", "sha256:" + "bb" * 32)


class Target:
    def __init__(self, running, answer) -> None:
        self.running, self.answer, self.checked = running, answer, []

    def running_image(self):
        return self.running

    def check_compatibility(self, running, new):
        self.checked.append((running, new))
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def test_a_failing_check_stops_the_release_changing_nothing_and_says_to_expand_then_contract():
    target = Target(RUNNING, "the running release's own queries failed (exit 1): selfcheck.failing at the step "
                             "'create': UndefinedColumn: column \"body\" does not exist")
    with pytest.raises(ReleaseError) as stopped:
        flow.gate(target, NEW)
    message = str(stopped.value)
    assert message.startswith("the compatibility gate stopped the release: the running release's own queries")
    assert "UndefinedColumn" in message and "aaaaaaaaaaaa" in message and "Expand, then contract" in message
    assert stopped.value.changed is False and target.checked == [(RUNNING, NEW)]


def test_a_passing_check_lets_the_release_go_on(capsys):
    target = Target(RUNNING, None)
    flow.gate(target, NEW)
    assert "compatibility gate passed: aaaaaaaaaaaa works on the new schema" in capsys.readouterr().err


@pytest.mark.parametrize("running", [None, NEW])
def test_nothing_is_checked_without_a_running_release_or_when_it_is_this_image(running):
    target = Target(running, "would fail")
    flow.gate(target, NEW)
    assert target.checked == []


def test_skipped_by_the_release_nothing_is_checked_and_it_says_so(capsys):
    target = Target(RUNNING, "would fail")
    flow.gate(target, NEW, skip=True)
    assert target.checked == []
    assert "compatibility gate: skipped (--skip-gate): nothing checks" in capsys.readouterr().err


@pytest.mark.parametrize("lacking, said", [
    ("root", "it needs root (the throw-away PostgreSQL runs as the postgres user): run the release with sudo"),
    ("podman", "podman is missing: sudo tools/setup.sh containers"),
    ("postgresql", "PostgreSQL's server is missing: sudo tools/setup.sh postgres"),
])
def test_what_the_gate_needs_on_the_machine_is_named_when_missing(monkeypatch, lacking, said):
    from release import gate
    from runner.database import DatabaseError

    assert gate.missing() is None, "this machine has all of it (tools/setup.sh containers postgres, as root)"
    if lacking == "root":
        monkeypatch.setattr(gate.os, "geteuid", lambda: 1000)
    elif lacking == "podman":
        monkeypatch.setattr(gate.shutil, "which", lambda name: None)
    else:
        monkeypatch.setattr(gate, "binary", lambda name: (_ for _ in ()).throw(DatabaseError("no pg_ctl")))
    assert (gate.missing() or "").startswith(said)


def test_the_steps_migrate_the_running_schema_then_the_new_one_then_check_the_running_code():
    assert [(s.image, s.command) for s in steps("old", "new")] == [("old", "migrate"), ("new", "migrate"),
                                                                  ("old", "selfcheck")]


def test_the_apps_words_are_its_last_error_line_with_the_step_and_the_exceptions_own_words():
    log = "\n".join([json.dumps({"level": "INFO", "event": "selfcheck.start"}),
                     json.dumps({"level": "ERROR", "event": "selfcheck.failing", "step": "create",
                                 "reason": "UndefinedColumn: column \"body\" does not exist"})])
    assert _words(log) == "selfcheck.failing at the step 'create': UndefinedColumn: column \"body\" does not exist"
    traceback = json.dumps({"level": "ERROR", "event": "migrate.failed", "reason": "RuntimeError",
                            "exception": "Traceback ...\nRuntimeError: migration 0002 fails on purpose"})
    assert _words(traceback) == "migrate.failed: RuntimeError: migration 0002 fails on purpose"
    assert _words("Error: image not known\n") == "Error: image not known"


def test_where_the_gate_cannot_run_it_is_demanded_only_when_another_image_runs():
    """release/__main__.py asks for the gate's tools up front only when it would check something: a first release
    (nothing running) or a re-run of the image that runs needs none of them."""
    from types import SimpleNamespace

    from release.__main__ import _gate_needed

    archive = SimpleNamespace(digest=NEW.digest)
    assert [_gate_needed(Target(running, None), archive) for running in (None, NEW, RUNNING)] == [False, False, True]
    assert _gate_needed(Target(RUNNING, None), None) is True, "release builds its image after: assume another"

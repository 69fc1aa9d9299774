"""The compatibility gate's decisions (release/flow.py gate) and how it reads the app's words (release/gate.py);
the gate itself runs on the local system in tests/release/test_release_local.py."""
from __future__ import annotations

import json

import pytest

from release import flow
from release.gate import _words, steps
from release.model import GateUnavailable, Image, ReleaseError

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


def test_where_the_gate_cannot_run_the_release_says_so_and_goes_on(capsys):
    flow.gate(Target(RUNNING, GateUnavailable("it runs only with --local so far")), NEW)
    assert "==> compatibility gate: not run: it runs only with --local so far" in capsys.readouterr().err


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

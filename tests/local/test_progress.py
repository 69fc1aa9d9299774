"""One progress printer for every local command: numbered, timed steps that say when they failed."""

from __future__ import annotations

import io

import pytest

from local.progress import Steps, duration, step


def test_numbered_steps_print_their_number_title_and_time_and_keep_their_timings():
    out = io.StringIO()
    steps = Steps(total=2, stream=out)
    with steps.step("first"):
        pass
    with pytest.raises(RuntimeError), steps.step("second"):
        raise RuntimeError("boom")
    lines = out.getvalue().splitlines()
    assert lines[0] == "==> [1/2] first ..." and lines[1].startswith("    done in ") and lines[1].endswith(" s")
    assert lines[2] == "==> [2/2] second ..." and lines[3].startswith("    FAILED in ")
    assert [title for title, _ in steps.timings] == ["first", "second"]


def test_an_unnumbered_step_goes_to_stderr(capsys):
    with step("pushing"):
        pass
    assert capsys.readouterr().err.splitlines()[0] == "==> pushing ..."


@pytest.mark.parametrize("seconds, shown", [(0.04, "0.0 s"), (89.94, "89.9 s"), (90, "1 min 30 s"), (605, "10 min 05 s")])
def test_a_duration_reads_in_seconds_under_a_minute_and_a_half_and_in_minutes_above(seconds, shown):
    assert duration(seconds) == shown

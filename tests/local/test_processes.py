"""One pidfile for every background stand-in (emulator, registry, HAProxy, supervisor): a pid counts only
while its process is still the one recorded, and stop ends it (SIGKILL when SIGTERM is ignored)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from local.processes import Pidfile, pid_alive

SLEEPER = "import signal, sys, time; sys.argv[1:] == ['stubborn'] and signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)"


def sleeper(*args: str) -> subprocess.Popen:
    """A child running SLEEPER, returned once its command line is its own (after exec) and its handler is set."""
    process = subprocess.Popen([sys.executable, "-c", SLEEPER, *args])
    deadline = time.monotonic() + 10
    while b"time.sleep(60)" not in Path(f"/proc/{process.pid}/cmdline").read_bytes():
        assert time.monotonic() < deadline
        time.sleep(0.01)
    time.sleep(0.2)
    return process


def test_a_process_just_started_is_recorded_once_it_counts_as_ours(tmp_path):
    # Right after the fork /proc shows the parent's command line: record() waits for the child's own.
    process = subprocess.Popen([sys.executable, "-c", SLEEPER, "just-started"])
    pidfile = Pidfile(tmp_path / "x.pid", "just-started")
    pidfile.record(process)
    try:
        assert pidfile.pid() == process.pid
    finally:
        pidfile.stop(timeout=5)


def test_a_running_process_with_its_marks_counts_and_stop_ends_it_and_removes_the_file(tmp_path):
    process = sleeper("marked", str(tmp_path))
    pidfile = Pidfile(tmp_path / "x.pid", "marked", str(tmp_path))
    pidfile.write(process.pid, "http://127.0.0.1:1")
    assert (pidfile.pid(), pidfile.fields()) == (process.pid, [str(process.pid), "http://127.0.0.1:1"])
    assert pidfile.stop(timeout=5) is True
    assert (process.poll() is not None, pidfile.path.exists()) == (True, False)


def test_a_reused_pid_is_not_ours_and_stop_leaves_that_process_alone(tmp_path):
    # GIVEN the recorded pid now belongs to a process that is not the one recorded (no marks on its command line)
    stranger = sleeper("someone-else")
    try:
        pidfile = Pidfile(tmp_path / "x.pid", "emulator", "start")
        pidfile.write(stranger.pid)
        assert pidfile.pid() is None
        assert pidfile.stop(timeout=1) is False
        assert (pid_alive(stranger.pid), pidfile.path.exists()) == (True, False)
    finally:
        stranger.kill()
        stranger.wait()


def test_a_process_that_ignores_sigterm_is_killed_after_the_timeout(tmp_path):
    stubborn = sleeper("stubborn")
    pidfile = Pidfile(tmp_path / "x.pid", "stubborn")
    pidfile.write(stubborn.pid)
    started = time.monotonic()
    assert pidfile.stop(timeout=1) is True
    assert not pid_alive(stubborn.pid) and time.monotonic() - started >= 1


def test_a_missing_empty_or_dead_pidfile_names_no_process(tmp_path):
    dead = sleeper()
    dead.kill()
    dead.wait()
    files = [Pidfile(tmp_path / "missing.pid"), Pidfile(tmp_path / "empty.pid"), Pidfile(tmp_path / "dead.pid")]
    files[1].path.write_text("")
    files[2].write(dead.pid)
    assert [f.pid() for f in files] == [None, None, None]

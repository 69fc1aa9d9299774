"""The emulator serves on 127.0.0.1 only, as a library and from the command line."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from emulator import Emulator
from emulator.server import is_answering

REPO_ROOT = Path(__file__).resolve().parents[2]


def _cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "emulator", *args], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=timeout)


def _pid(pidfile: Path) -> int:
    return int(pidfile.read_text().split()[0])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/cmdline").read_bytes() != b""  # a zombie has an empty cmdline


def _background(directory: Path):
    """Start the emulator with the CLI's --background; always stop it afterwards."""
    pidfile = directory / "emulator.pid"
    result = _cli("start", "--background", "--pidfile", str(pidfile), "--port", "0")
    try:
        yield result, pidfile
    finally:
        _cli("stop", "--pidfile", str(pidfile))


@pytest.fixture(scope="module")
def background(tmp_path_factory):
    yield from _background(tmp_path_factory.mktemp("background"))


@pytest.fixture
def background_to_stop(tmp_path):
    yield from _background(tmp_path)


def test_the_emulator_listens_on_127_0_0_1(emu):
    assert emu.bound_address[0] == "127.0.0.1"


def test_the_emulator_is_not_reachable_through_another_local_address(emu):
    with socket.socket() as probe, pytest.raises(ConnectionRefusedError):
        probe.settimeout(2)
        probe.connect(("127.0.0.2", emu.port))


def test_port_zero_picks_a_free_port_and_puts_it_in_the_endpoint(emu):
    assert emu.port > 0 and emu.endpoint == f"http://127.0.0.1:{emu.port}"


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10", "example.com"])
def test_a_host_other_than_loopback_is_refused(host):
    with pytest.raises(ValueError, match="only 127.0.0.1 or localhost"):
        Emulator(port=0, host=host)


def test_localhost_is_accepted_and_bound_as_127_0_0_1():
    with Emulator(port=0, host="localhost") as local:
        assert local.bound_address[0] == "127.0.0.1"


def test_the_cli_refuses_a_non_loopback_host_with_a_clear_error():
    result = _cli("start", "--host", "0.0.0.0", "--port", "0")
    assert (result.returncode, "only 127.0.0.1 or localhost" in result.stderr) == (2, True)


def test_a_foreground_start_prints_the_endpoint_export_line_and_stops_on_sigterm():
    proc = subprocess.Popen([sys.executable, "-m", "emulator", "start", "--port", "0"], cwd=REPO_ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        lines = [proc.stdout.readline() for _ in range(2)]
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert lines[1].startswith("export AWS_ENDPOINT_URL=http://127.0.0.1:") and code == 0


def test_a_background_start_returns_once_the_emulator_answers(background):
    result, _ = background
    endpoint = result.stdout.split("export AWS_ENDPOINT_URL=")[1].split()[0]
    assert result.returncode == 0 and is_answering(endpoint)


def test_a_background_start_records_the_server_pid_in_the_pidfile(background):
    _, pidfile = background
    assert _alive(_pid(pidfile))


def test_stop_ends_the_background_emulator_and_removes_the_pidfile(background_to_stop):
    _, pidfile = background_to_stop
    pid = _pid(pidfile)
    result = _cli("stop", "--pidfile", str(pidfile))
    assert (result.returncode, _alive(pid), pidfile.exists()) == (0, False, False)


def test_stop_without_a_running_emulator_succeeds_and_says_so(tmp_path):
    result = _cli("stop", "--pidfile", str(tmp_path / "missing.pid"))
    assert result.returncode == 0 and "not running" in result.stdout


def test_a_port_in_use_is_refused_at_once_instead_of_waiting_on_moto_thread(emu):
    with pytest.raises(RuntimeError, match=f"port {emu.port} on 127.0.0.1 is already in use"):
        Emulator(port=emu.port).start()


def test_the_emulator_is_moto_own_threaded_server():
    from moto.server import ThreadedMotoServer

    with Emulator(port=0) as local:
        assert isinstance(local._server, ThreadedMotoServer)

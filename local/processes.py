"""What the local stand-ins (the emulator, the registry, HAProxy, the runner's supervisor) share: loopback
ports, and one pidfile for a process in the background."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path


def port_free(host: str, port: int) -> bool:
    """True if `port` on `host` can be bound now."""
    with socket.socket() as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
        return True


def free_port(host: str = "127.0.0.1") -> int:
    """A port on `host` that was free a moment ago."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def pid_alive(pid: int) -> bool:
    """True if a process with this pid exists (also when it belongs to another user)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Pidfile:
    """A background process's pid file: the pid first, then whatever else its writer recorded.

    A pid is reused once its process has ended, so a pid counts as running only while its command line
    still holds every one of `marks` (the program and what tells this instance from another: a config
    file, a work folder). On a system without /proc the pid alone is trusted.
    """

    def __init__(self, path: str | Path, *marks: str) -> None:
        self.path = Path(path)
        self.marks = [os.fsencode(mark) for mark in marks]

    def fields(self) -> list[str]:
        """What the file holds, split on white space; [] when there is none."""
        try:
            return self.path.read_text().split()
        except OSError:
            return []

    def write(self, pid: int, *extra: str) -> None:
        self.path.write_text(" ".join([str(pid), *extra]) + "\n")

    def record(self, process: subprocess.Popen, *extra: str, timeout: float = 10.0) -> None:
        """Write the pid of a process just started, and return once it counts: until the child has exec'd its
        program, /proc shows the parent's command line, without the marks."""
        self.write(process.pid, *extra)
        deadline = time.monotonic() + timeout
        while self.pid() is None and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)

    def pid(self) -> int | None:
        """The pid, if that process is still running and is the one that was recorded."""
        fields = self.fields()
        if not fields or not fields[0].isdigit():
            return None
        pid = int(fields[0])
        if not pid_alive(pid):
            return None
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except FileNotFoundError:
            return pid if not Path("/proc/self").exists() else None
        except OSError:
            return None
        return pid if all(mark in cmdline for mark in self.marks) else None

    def stop(self, timeout: float = 10.0) -> bool:
        """SIGTERM, SIGKILL after `timeout` s, then remove the file; False if nothing of ours was running."""
        pid = self.pid()
        if pid is not None:
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while pid_alive(pid) and time.monotonic() < deadline:
                _reap(pid)
                time.sleep(0.05)
            if pid_alive(pid):
                os.kill(pid, signal.SIGKILL)
                _reap(pid, block=True)
        self.path.unlink(missing_ok=True)
        return pid is not None


def _reap(pid: int, block: bool = False) -> None:
    """Collect the exit status when the process is our own child, so that it leaves no zombie."""
    try:
        os.waitpid(pid, 0 if block else os.WNOHANG)
    except ChildProcessError:
        pass

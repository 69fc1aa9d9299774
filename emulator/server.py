"""The local AWS emulator: moto's own ThreadedMotoServer, patched, on loopback only; and its lifecycle
as a background process (pidfile), which `make demo` and the tests share.

    with Emulator(port=0) as emu:      # 0 = pick a free port
        boto3.client("ecs", endpoint_url=emu.endpoint, ...)

moto keeps its state in module globals: every Emulator (and any other moto use) in one process shares
it. POST {endpoint}/moto-api/reset forgets everything.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from moto.server import DomainDispatcherApplication, MotoRequestHandler, ThreadedMotoServer, create_backend_app
from werkzeug.serving import make_server

from local import EMULATOR_ENV
from local.processes import Pidfile, free_port, port_free

from . import patches
from .record import Recorder

DEFAULT_PORT = 5000
ALLOWED_HOSTS = {"127.0.0.1": "127.0.0.1", "localhost": "127.0.0.1"}
FAKE_CREDENTIALS = {**EMULATOR_ENV, "AWS_DEFAULT_REGION": "us-east-1"}


def _loopback(host: str) -> str:
    try:
        return ALLOWED_HOSTS[host]
    except KeyError:
        raise ValueError(f"refusing to bind the emulator to {host!r}: only 127.0.0.1 or localhost "
                         "is allowed (it has no authentication).") from None


class _RecordingServer(ThreadedMotoServer):
    """moto's own threaded server, its application wrapped in a Recorder (emulator/record.py)."""

    def __init__(self, record: Path, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._record = record

    def _server_entry(self) -> None:  # as moto's, with the application wrapped
        app = Recorder(DomainDispatcherApplication(create_backend_app), self._record)
        self._server = make_server(self._ip_address, self._port, app, True, request_handler=MotoRequestHandler)
        self._server_ready_event.set()
        self._server.serve_forever()


class Emulator:
    """moto's ThreadedMotoServer with our patches, bound to 127.0.0.1; `record`: a file that gets every
    request (emulator/record.py)."""

    def __init__(self, port: int = DEFAULT_PORT, host: str = "127.0.0.1", record: str | Path | None = None) -> None:
        self.host = _loopback(host)
        self.port = int(port)
        self.record = Path(record) if record else None
        self._server: ThreadedMotoServer | None = None

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def bound_address(self) -> tuple[str, int]:
        if self._server is None:
            raise RuntimeError("emulator is not running")
        return self._server.get_host_and_port()

    def start(self) -> "Emulator":
        if self._server is not None:
            return self
        patches.apply_all()
        # ThreadedMotoServer binds in its own thread and would wait forever on a port in use: check first.
        if self.port and not port_free(self.host, self.port):
            raise RuntimeError(f"port {self.port} on {self.host} is already in use")
        options = dict(ip_address=self.host, port=self.port, verbose=False)
        self._server = _RecordingServer(self.record, **options) if self.record else ThreadedMotoServer(**options)
        self._server.start()
        self.port = self.bound_address[1]
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __enter__(self) -> "Emulator":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def is_answering(endpoint: str, timeout: float = 1.0) -> bool:
    """True if an HTTP server answers at endpoint (any status code)."""
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # ignore *_proxy
    try:
        direct.open(f"{endpoint}/moto-api/", timeout=timeout).close()
        return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


def banner(endpoint: str) -> str:
    lines = [f"AWS emulator (moto, patched) listening on {endpoint}", f"export AWS_ENDPOINT_URL={endpoint}"]
    lines += [f"export {k}={v}" for k, v in FAKE_CREDENTIALS.items()]
    lines.append("(fake credentials: any values work; the emulator does not check them)")
    return "\n".join(lines)


def run_foreground(port: int = DEFAULT_PORT, host: str = "127.0.0.1", record: str | None = None) -> int:
    """Serve until Ctrl-C or SIGTERM."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    emu = Emulator(port=port, host=host, record=record).start()
    try:
        print(banner(emu.endpoint), flush=True)
        stop.wait()
    finally:
        emu.stop()
        print("AWS emulator stopped", flush=True)
    return 0


# -- a background process with a pidfile ------------------------------------------------------------


def _pidfile(path: str | Path) -> Pidfile:
    """The pidfile of a background emulator: "<pid> <endpoint>"; the pid counts while it runs `emulator start`."""
    return Pidfile(path, "emulator", "start")


def running_endpoint(pidfile: str | Path) -> str | None:
    """The endpoint of the emulator the pidfile names, if it is still running and answering."""
    process = _pidfile(pidfile)
    fields = process.fields()
    if len(fields) >= 2 and process.pid() and is_answering(fields[1]):
        return fields[1]
    return None


def start_background(pidfile: str | Path, port: int = DEFAULT_PORT, host: str = "127.0.0.1",
                     logfile: str | Path | None = None, timeout: float = 30.0, record: str | Path | None = None) -> str:
    """Start the emulator as a detached process; return its endpoint once it answers. `record`: a file that
    gets every request it answers (emulator/record.py)."""
    host = _loopback(host)
    pidfile = Path(pidfile)
    old = _pidfile(pidfile).pid()
    if old:
        raise RuntimeError(f"emulator already running (pid {old}, pidfile {pidfile})")
    pidfile.unlink(missing_ok=True)
    if port == 0:
        port = free_port(host)
    if not port_free(host, port):
        raise RuntimeError(f"port {port} on {host} is already in use")
    endpoint = f"http://{host}:{port}"
    logfile = Path(logfile) if logfile else pidfile.with_name(pidfile.name + ".log")
    root = str(Path(__file__).resolve().parent.parent)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    with open(logfile, "ab") as log:
        argv = [sys.executable, "-m", "emulator", "start", "--port", str(port), "--host", host]
        argv += ["--record", str(Path(record).resolve())] if record else []
        proc = subprocess.Popen(argv,
                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=root, env=env,
                                start_new_session=True)
    _pidfile(pidfile).record(proc, endpoint)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pidfile.unlink(missing_ok=True)
            raise RuntimeError(f"emulator exited with code {proc.returncode}; see {logfile}:\n"
                               + Path(logfile).read_text(errors="replace")[-2000:])
        if is_answering(endpoint, timeout=0.5):
            return endpoint
        time.sleep(0.1)
    stop_background(pidfile)
    raise RuntimeError(f"emulator did not answer at {endpoint} within {timeout}s; see {logfile}")


def stop_background(pidfile: str | Path, timeout: float = 10.0) -> bool:
    """Stop the emulator named by pidfile. Returns False if it was not running."""
    return _pidfile(pidfile).stop(timeout)

"""What the runner's end-to-end tests share: `runner` (the command), `Up` (one `runner up` in its own work
folder), `started` (its exit status checked), `Load` (a bounded load generator through HAProxy) and
`nothing_running` (what `down` must leave)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import NamedTuple

import httpx

from local import paths
from local.processes import port_free
from runner.database import Database
from runner.layout import Layout
from tests.runner import emulated_service

ROOT = Path(__file__).resolve().parents[2]
CLIENT_TIMEOUT = 10


def runner(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "runner", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


class Up:
    """One `runner up` in its own work folder and loopback network; `down` at teardown."""

    def __init__(self, service: emulated_service.Service, registry: str, workdir: Path, network: str,
                 podman_storage: str | None) -> None:
        """podman_storage None: the runner's own, in the work folder (images pulled again)."""
        self.service, self.registry, self.workdir = service, registry, workdir
        self.network, self.podman_storage = network, podman_storage
        self.result: subprocess.CompletedProcess | None = None

    def target(self) -> list[str]:
        return ["--endpoint", self.service.endpoint, "--cluster", self.service.cluster, "--service",
                self.service.name, "--registry", self.registry, "--workdir", str(self.workdir)]

    def up(self, *extra: str) -> subprocess.CompletedProcess:
        storage = ["--podman-storage", self.podman_storage] if self.podman_storage else []
        self.result = runner("up", *self.target(), "--network", self.network, *storage, "--wait", "180", *extra)
        return self.result

    def down(self) -> subprocess.CompletedProcess:
        return runner("down", "--workdir", str(self.workdir))

    @property
    def url(self) -> str:
        return self.result.stdout.strip().splitlines()[-1]

    @property
    def layout(self) -> Layout:
        return Layout.load(self.workdir)[0]

    def status(self) -> dict:
        return json.loads((self.layout.folder / "status.json").read_text())

    def database(self) -> Database:
        return Database(self.layout.folder / "database.json")

    def containers(self) -> dict[str, str]:
        return self.layout.podman().containers()


def started(result: subprocess.CompletedProcess) -> None:
    assert result.returncode == 0, f"runner up failed:\n{result.stderr[-3000:]}"


class Answer(NamedTuple):
    sent: float
    """When the request was sent (time.monotonic())."""
    outcome: int | str
    """Its status, or the error's name."""
    who: str
    """"balancer" for HAProxy's own answer when no task serves, "app" for a task's, "none" for an error."""


class Load:
    """A bounded load generator through the balancer: GET `path` over a keep-alive connection until stopped (at most
    `seconds`). Without a path it first creates a note and reads that one back (the app must be up)."""

    def __init__(self, url: str, path: str | None = None, seconds: float = 120, pause: float = 0.01) -> None:
        self.url, self.seconds, self.pause = url, seconds, pause
        if path is None:
            with httpx.Client(base_url=url, trust_env=False, timeout=10) as client:
                path = f"/notes/{client.post('/notes', json={'title': 'load', 'body': ''}).json()['id']}"
        self.path = path
        self.results: list[Answer] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        deadline = time.monotonic() + self.seconds
        with httpx.Client(base_url=self.url, timeout=CLIENT_TIMEOUT, trust_env=False) as client:
            while not self._stop.is_set() and time.monotonic() < deadline:
                sent = time.monotonic()
                try:
                    answer = client.get(self.path)
                    who = "balancer" if "No server is available" in answer.text else "app"
                    self.results.append(Answer(sent, answer.status_code, who))
                except httpx.HTTPError as error:
                    self.results.append(Answer(sent, type(error).__name__, "none"))
                time.sleep(self.pause)

    def __enter__(self) -> "Load":
        self._thread.start()
        return self

    def __exit__(self, *_) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def failures(self) -> list[Answer]:
        return [r for r in self.results if r.outcome != 200]


def nothing_running(deployment: Up, port: int | None) -> None:
    folder = deployment.workdir.resolve() / "runner"
    assert not (folder / "runner.json").exists()
    assert not (folder / "database.json").exists()
    assert not (folder / "haproxy.pid").exists()
    storage = Path(deployment.podman_storage) if deployment.podman_storage else None
    podman = Layout(workdir=deployment.workdir, podman_storage=storage).podman()
    assert podman.containers() == {}
    if storage is None:  # the runner's own storage: its run root (outside the checkout) goes with `down`
        paths.remove(podman.storage)  # (listing the containers above made it again)
    assert not paths.short_folder(folder).exists(), "the balancer's socket folder outside the checkout is removed"
    assert port_free(f"{deployment.network}.2", 5432)
    if port:
        assert port_free("127.0.0.1", port)

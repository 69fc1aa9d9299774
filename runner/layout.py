"""Where the runner keeps its state in the work folder, and which loopback addresses it uses.

<workdir>/runner/: runner.json (the choices of `up`: network, port), desired.json (what `up` asked for),
status.json and tasks.json (written by the supervisor), supervisor.pid/.log, haproxy.*, database.json.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from local.processes import Pidfile
from runner.tasks import Podman


@dataclass(frozen=True)
class Layout:
    workdir: Path
    network: str = "127.0.10"
    """The first three octets of the loopback addresses: .2 is PostgreSQL, .11 and up are the tasks."""
    slots: int = 16
    """Task addresses (and HAProxy server slots): desired count x maximumPercent must fit."""
    podman_storage: Path | None = None
    """podman's storage; None: <workdir>/runner/podman."""

    @property
    def folder(self) -> Path:
        return Path(self.workdir).resolve() / "runner"

    @property
    def db_address(self) -> str:
        return f"{self.network}.2"

    @property
    def addresses(self) -> tuple[str, ...]:
        return tuple(f"{self.network}.{11 + i}" for i in range(self.slots))

    @property
    def prefix(self) -> str:
        """Container names start with this: one work folder's containers never clash with another's."""
        return "runner-" + hashlib.sha256(str(self.folder).encode()).hexdigest()[:6]

    def podman(self) -> Podman:
        return Podman(storage=Path(self.podman_storage or self.folder / "podman"), workdir=self.folder)

    settings_file = property(lambda self: self.folder / "runner.json")
    desired_file = property(lambda self: self.folder / "desired.json")
    status_file = property(lambda self: self.folder / "status.json")
    tasks_file = property(lambda self: self.folder / "tasks.json")
    pidfile = property(lambda self: self.folder / "supervisor.pid")

    @property
    def supervisor(self) -> Pidfile:
        """The supervisor's pidfile; its pid counts while that process runs `runner supervise` for this folder."""
        return Pidfile(self.pidfile, "runner", "supervise", str(self.folder.parent))
    log = property(lambda self: self.folder / "supervisor.log")

    def read(self, path: Path, default=None):
        """One of this layout's JSON files (desired_file, status_file, tasks_file); `default` when it is missing
        or unreadable."""
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):
            return default

    def write(self, path: Path, value) -> None:
        """Replace one of this layout's JSON files at once: a reader never sees half of it."""
        partial = path.with_suffix(".tmp")
        partial.write_text(json.dumps(value, indent=1) + "\n")
        os.replace(partial, path)

    def save(self, **extra) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.settings_file.write_text(json.dumps({"network": self.network, "slots": self.slots,
                                                  "podman_storage": str(self.podman_storage or "")} | extra) + "\n")

    @classmethod
    def load(cls, workdir: Path) -> tuple["Layout", dict]:
        """The layout `up` chose for this work folder, and what else it recorded (port)."""
        path = Path(workdir).resolve() / "runner" / "runner.json"
        data = json.loads(path.read_text())
        return cls(workdir=Path(workdir), network=data["network"], slots=data["slots"],
                   podman_storage=Path(data["podman_storage"]) if data["podman_storage"] else None), data

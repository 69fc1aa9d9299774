"""HAProxy standing in for the ALB: one listener on 127.0.0.1, one backend built from the target group.

The backend has a fixed number of server slots, slot i at the i-th task address (like an ENI per task).
Tasks come and go through HAProxy's runtime API on a unix socket, never by a reload, so no connection
is dropped: a new task's slot goes `ready` with its health forced down, so it gets traffic only after
`healthy_threshold` passing checks (as an ALB target in `initial`); a leaving task's slot goes `drain`
(no new requests, in-flight ones finish) for the deregistration delay, then `maint`.
"""

from __future__ import annotations

import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from local import paths
from local.processes import Pidfile, port_free
from runner.deployment import HealthCheck

BACKEND = "tasks"


class BalancerError(Exception):
    """HAProxy cannot be configured or started; the message says what to do next."""


@dataclass(frozen=True)
class BalancerSettings:
    port: int
    """The listener's local port on 127.0.0.1 (the ALB's listener port is usually 80, taken or privileged)."""
    addresses: tuple[str, ...]
    """One server slot per possible task address."""
    container_port: int
    health: HealthCheck
    certificate: Path | None = None
    """A PEM with the certificate and its key when the listener serves HTTPS (None: plain HTTP), served with
    TLS 1.2 at least, as the ALB's security policy (infra/load_balancer.py TLS_POLICY)."""

    @property
    def url(self) -> str:
        return f"{'https' if self.certificate else 'http'}://127.0.0.1:{self.port}/"


def status_regex(matcher: str) -> str:
    """The ALB matcher ("200", "200,202", "200-299") as an anchored regex for `http-check expect rstatus`."""
    codes: list[str] = []
    for part in matcher.split(","):
        low, _, high = part.strip().partition("-")
        codes += [str(code) for code in range(int(low), int(high or low) + 1)]
    return "^(" + "|".join(codes) + ")$"


def config(settings: BalancerSettings, socket_path: Path) -> str:
    h = settings.health
    # An HTTPS listener: TLS ends here and the tasks get plain HTTP, as behind the ALB.
    tls = f" ssl crt '{settings.certificate}' ssl-min-ver TLSv1.2" if settings.certificate else ""
    servers = "\n".join(f"  server slot{i} {address}:{settings.container_port} disabled"
                        for i, address in enumerate(settings.addresses))
    return f"""global
  stats socket '{socket_path}' level admin
  maxconn 4096
defaults
  mode http
  timeout connect 5s
  timeout client 65s
  timeout server 60s
  timeout check {h.timeout}s
  # No retry, as an ALB: a refused or reset connection to a task that just died fails the request (502,
  # "the load balancer received a TCP RST from the target": ELB User Guide, Troubleshoot your Application
  # Load Balancers, HTTP 502). HAProxy's retry-on would hide the failures a real ALB shows its clients.
  retries 0
frontend listener
  bind 127.0.0.1:{settings.port}{tls}
  default_backend {BACKEND}
backend {BACKEND}
  balance roundrobin
  option httpchk GET {h.path}
  http-check expect rstatus {status_regex(h.matcher)}
  default-server check inter {h.interval}s rise {h.healthy_threshold} fall {h.unhealthy_threshold}
{servers}
"""


class Balancer:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.config_file = folder / "haproxy.cfg"
        self.pidfile = folder / "haproxy.pid"
        self.process = Pidfile(self.pidfile, "haproxy", str(self.config_file))
        # Outside the work folder: a unix socket's path is limited to 107 bytes (local.paths).
        self.socket = paths.socket_path(folder, "haproxy.sock")
        self.log = folder / "haproxy.log"

    def start(self, settings: BalancerSettings) -> None:
        if self.process.pid():
            return
        if not port_free("127.0.0.1", settings.port):
            raise BalancerError(f"port {settings.port} on 127.0.0.1 is already in use: pass another --port "
                                "(0 picks a free one), or stop what listens there")
        self.folder.mkdir(parents=True, exist_ok=True)
        paths.ensure(self.socket.parent)
        self.config_file.write_text(config(settings, self.socket))
        result = subprocess.run(["haproxy", "-D", "-p", str(self.pidfile), "-f", str(self.config_file)],
                                capture_output=True, text=True, timeout=30)
        if result.returncode != 0:
            raise BalancerError(f"HAProxy did not start: {result.stderr.strip()}")
        deadline = time.monotonic() + 10
        while not self.socket.exists():
            if time.monotonic() > deadline:
                raise BalancerError(f"HAProxy started but its socket {self.socket} did not appear")
            time.sleep(0.05)

    def stop(self) -> None:
        self.process.stop()
        self.socket.unlink(missing_ok=True)

    def command(self, line: str) -> str:
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(10)
            s.connect(str(self.socket))
            s.sendall(line.encode() + b"\n")
            return s.makefile().read()

    def register(self, slot: int) -> None:
        """Traffic only after `healthy_threshold` passing checks."""
        self.command(f"set server {BACKEND}/slot{slot} state ready; set server {BACKEND}/slot{slot} health down")

    def drain(self, slot: int) -> None:
        self.command(f"set server {BACKEND}/slot{slot} state drain")

    def deregister(self, slot: int) -> None:
        self.command(f"set server {BACKEND}/slot{slot} state maint; shutdown sessions server {BACKEND}/slot{slot}")

    def states(self) -> dict[int, str]:
        """Each slot's status as HAProxy shows it: UP, DOWN, DOWN 1/2, DRAIN, MAINT, ..."""
        lines = self.command("show stat -1 4 -1").splitlines()
        header = lines[0].lstrip("# ").split(",")
        name, status = header.index("svname"), header.index("status")
        return {int(row[name].removeprefix("slot")): row[status]
                for row in (line.split(",") for line in lines[1:] if line) if row[name].startswith("slot")}

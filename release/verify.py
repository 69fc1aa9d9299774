"""After the rollout: call the app where its users arrive, and fail the release unless it works.

"Steady" is ECS's word that the tasks run and the load balancer finds them healthy; it says nothing of whether
the code and the schema agree. So, through the load balancer (with TLS to the environment's domain when it has
one: SNI, certificate check and Host header all name the domain, as a browser's would):

1. `GET /ready` until it answers 200 (the database answers), for at most `ready_timeout` seconds;
2. `POST /ready/probe` once: the app writes a marker note, reads it back, lists and updates it, through the
   code paths of its notes API, in a transaction it rolls back (app/api.py): no user data is touched.

Any other answer fails the release, naming the request and its status.
"""
from __future__ import annotations

import http.client
import json
import socket
import ssl
import time
import urllib.parse
from dataclasses import dataclass

from local.progress import say


@dataclass(frozen=True)
class Endpoint:
    url: str
    """Where to connect: http(s)://host[:port] (the load balancer's DNS name, or the local HAProxy)."""
    server_name: str | None = None
    """The environment's domain (LoadBalancerConfig.domain_name): the TLS server name, the name the certificate
    must carry, and the Host header. None: the URL's own host."""
    cafile: str | None = None
    """Certificates to trust instead of the system's (tests)."""

    @property
    def shown(self) -> str:
        """How users would write it."""
        parsed = urllib.parse.urlparse(self.url)
        return f"{parsed.scheme}://{self.server_name}" if self.server_name else self.url.rstrip("/")


class VerifyError(Exception):
    """The app does not work where users arrive: the message names the request and what it answered."""


def _connection(endpoint: Endpoint, timeout: float) -> http.client.HTTPConnection:
    parsed = urllib.parse.urlparse(endpoint.url)
    if parsed.scheme == "http":
        return http.client.HTTPConnection(parsed.hostname, parsed.port or 80, timeout=timeout)
    if parsed.scheme != "https":
        raise VerifyError(f"{endpoint.url}: only http and https URLs can be verified")
    context = ssl.create_default_context(cafile=endpoint.cafile)
    name = endpoint.server_name or parsed.hostname

    class ToTheLoadBalancer(http.client.HTTPSConnection):
        # Connect to the load balancer's address, speak TLS to `name`: as a browser does once the domain's DNS
        # record points at the load balancer.
        def connect(self) -> None:
            raw = socket.create_connection((parsed.hostname, parsed.port or 443), timeout)
            self.sock = context.wrap_socket(raw, server_hostname=name)

    return ToTheLoadBalancer(parsed.hostname, parsed.port or 443, timeout=timeout, context=context)


def call(endpoint: Endpoint, method: str, path: str, timeout: float = 10.0) -> tuple[int, str]:
    """One request; (status, body). OSError and ssl errors propagate (the caller names them)."""
    connection = _connection(endpoint, timeout)
    host = endpoint.server_name or urllib.parse.urlparse(endpoint.url).netloc
    try:
        connection.request(method, path, body=b"" if method == "POST" else None,
                           headers={"Host": host, "User-Agent": "notes-release-verify", "Accept": "application/json"})
        response = connection.getresponse()
        return response.status, response.read(4096).decode(errors="replace")
    finally:
        connection.close()


def _said(status: int | None, body: str, error: Exception | None) -> str:
    if error is not None:
        return f"failed: {type(error).__name__}: {error}"
    try:
        detail = json.loads(body)
    except ValueError:
        detail = body.strip()[:300]
    return f"answered {status}: {json.dumps(detail) if not isinstance(detail, str) else detail}"


def check(endpoint: Endpoint, ready_timeout: float = 120.0, poll: float = 5.0, sleep=time.sleep,
          clock=time.monotonic) -> None:
    """/ready (retried while it is not 200, up to ready_timeout), then the probe once; VerifyError otherwise."""
    started, attempts = clock(), 0
    while True:
        attempts += 1
        status, body, error = None, "", None
        try:
            status, body = call(endpoint, "GET", "/ready")
        except ssl.SSLError as tls:
            # A certificate that does not name the domain will not start to: no point in waiting.
            raise VerifyError(f"GET {endpoint.shown}/ready {_said(None, '', tls)} (TLS to {endpoint.server_name or endpoint.url})") from None
        except OSError as failed:
            error = failed
        if status == 200:
            break
        if clock() - started >= ready_timeout:
            raise VerifyError(f"GET {endpoint.shown}/ready {_said(status, body, error)} "
                              f"({attempts} attempts in {clock() - started:.0f} s)")
        sleep(poll)
    say(f"==> GET {endpoint.shown}/ready: 200")
    try:
        status, body = call(endpoint, "POST", "/ready/probe")
    except OSError as failed:
        raise VerifyError(f"POST {endpoint.shown}/ready/probe {_said(None, '', failed)}") from None
    if status != 200:
        raise VerifyError(f"POST {endpoint.shown}/ready/probe {_said(status, body, None)}")
    say(f"==> POST {endpoint.shown}/ready/probe: 200 (a marker note written, read back, listed and updated, "
        "then rolled back)")

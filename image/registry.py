"""The local image registry: the CNCF distribution registry (Debian `docker-registry`, the registry API
ECR serves) as a background process on 127.0.0.1, its blobs under the work folder, its pid in a pidfile.

    registry = Registry(RegistrySettings(workdir=Path(".local-deploy")))
    registry.start()            # safe to repeat: returns the running one
    registry.address            # "127.0.0.1:PORT", for image names: f"{registry.address}/notes-app:TAG"
    registry.stop()             # safe to repeat; leaves no process behind
"""

from __future__ import annotations

import argparse
import json
import secrets
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from local import WORKDIR
from local.processes import Pidfile, free_port, port_free

BINARY = "docker-registry"
# What a registry answers for a tag: its manifest in any of these formats, with the digest in a header.
MANIFEST_TYPES = ", ".join([
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
])


class RegistryError(Exception):
    """The registry cannot be started, reached or asked; the message says what to do next."""


@dataclass(frozen=True)
class RegistrySettings:
    """Where the registry keeps its files and where it listens."""

    workdir: Path = WORKDIR
    """The work folder; the registry uses `<workdir>/registry/` (blobs, config, pidfile, log)."""
    port: int = 0
    """The port on 127.0.0.1; 0 picks a free one at start (the one in use is in `state.json`)."""
    start_timeout: float = 15.0
    """Seconds to wait for a started registry to answer `GET /v2/`."""

    @property
    def folder(self) -> Path:
        return Path(self.workdir) / "registry"


def _direct() -> urllib.request.OpenerDirector:
    # Loopback only: never through an HTTP proxy from the environment.
    return urllib.request.build_opener(urllib.request.ProxyHandler({}))


class Registry:
    """One registry per work folder, shared by every process that names the same folder."""

    def __init__(self, settings: RegistrySettings = RegistrySettings()) -> None:
        self.settings = settings
        folder = settings.folder
        self.config = folder / "config.yml"
        self.pidfile = folder / "registry.pid"
        self.process = Pidfile(self.pidfile, BINARY, str(self.config))
        self.state = folder / "state.json"
        self.log = folder / "registry.log"
        self.storage = folder / "storage"

    # -- what is running ------------------------------------------------------------------------

    @property
    def address(self) -> str:
        """host:port of the running registry; raises when it is not running."""
        if self.process.pid() is None:
            raise RegistryError(f"the local registry of {self.settings.workdir} is not running: "
                                "start it with `python -m image.registry start` (or `python -m image push`)")
        return json.loads(self.state.read_text())["address"]

    def running(self) -> bool:
        return self.process.pid() is not None

    def answering(self, address: str, timeout: float = 1.0) -> bool:
        try:
            with _direct().open(f"http://{address}/v2/", timeout=timeout) as response:
                return response.status == 200
        except (OSError, urllib.error.HTTPError):
            return False

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> str:
        """Start the registry unless it already runs; return its address."""
        if self.running():
            return self.address
        if shutil.which(BINARY) is None:
            raise RegistryError(f"{BINARY} is not installed: apt-get install docker-registry "
                                "(or run tools/setup.sh containers)")
        port = self.settings.port or free_port()
        address = f"127.0.0.1:{port}"
        # Another server on the port would answer for us: refuse before starting.
        if not port_free("127.0.0.1", port):
            raise RegistryError(f"port {port} on 127.0.0.1 is already in use: choose another port "
                                "(0 picks a free one), or stop what listens there")
        self.storage.mkdir(parents=True, exist_ok=True)
        # JSON is YAML: the config is written without a YAML library.
        self.config.write_text(json.dumps({
            "version": 0.1,
            "log": {"level": "warn", "accesslog": {"disabled": True}},
            "storage": {"filesystem": {"rootdirectory": str(self.storage)}, "delete": {"enabled": True}},
            # A secret of its own (for upload state), so that it does not warn at every start.
            "http": {"addr": address, "secret": secrets.token_hex(16)},
        }, indent=2) + "\n")
        with self.log.open("ab") as log:
            process = subprocess.Popen([BINARY, "serve", str(self.config)], stdin=subprocess.DEVNULL,
                                       stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.process.record(process)
        self.state.write_text(json.dumps({"address": address, "pid": process.pid}) + "\n")
        deadline = time.monotonic() + self.settings.start_timeout
        while not (self.answering(address) and process.poll() is None):
            if process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                tail = self.log.read_text(errors="replace")[-1500:]
                raise RegistryError(f"the registry did not answer on {address} within "
                                    f"{self.settings.start_timeout:.0f} s (is the port in use?); "
                                    f"its log {self.log} ends with:\n{tail}")
            time.sleep(0.1)
        return address

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the registry if it runs (SIGTERM, then SIGKILL); keep its blobs."""
        self.process.stop(timeout)
        self.state.unlink(missing_ok=True)

    # -- questions -------------------------------------------------------------------------------

    def digest(self, repository: str, tag: str) -> str:
        """The manifest digest the registry serves for repository:tag (what `docker pull` resolves)."""
        found = manifest_digest(self.address, repository, tag)
        if found is None:
            raise RegistryError(f"the registry at {self.address} has no image {repository}:{tag}: "
                                "build and push it with `python -m image push`")
        return found


def manifest_digest(address: str, repository: str, tag: str) -> str | None:
    """The digest the registry at `address` serves for repository:tag, or None when it has no such tag."""
    request = urllib.request.Request(f"http://{address}/v2/{repository}/manifests/{tag}", method="HEAD",
                                     headers={"Accept": MANIFEST_TYPES})
    return _ask(address, request, f"{repository}:{tag}", lambda response: response.headers["Docker-Content-Digest"])


def registry_request(address: str, path: str) -> str | None:
    """GET `path` of the registry API at `address`: the body, or None when it answers 404."""
    return _ask(address, urllib.request.Request(f"http://{address}{path}"), path,
                lambda response: response.read().decode())


def _ask(address: str, request: urllib.request.Request, what: str, answer):
    """`answer(response)` of the request, None on 404; RegistryError naming `what` otherwise."""
    try:
        with _direct().open(request, timeout=10) as response:
            return answer(response)
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return None
        raise RegistryError(f"the registry at {address} answered {error.code} for {what}") from None
    except OSError as error:
        raise RegistryError(f"the registry at {address} does not answer ({error}): "
                            "restart it with `python -m image.registry stop` then `start`") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m image.registry", description="The local image registry.")
    parser.add_argument("command", choices=["start", "stop", "status"])
    parser.add_argument("--workdir", default=str(RegistrySettings.workdir), help="work folder (default .local-deploy)")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    args = parser.parse_args(argv)
    registry = Registry(RegistrySettings(workdir=Path(args.workdir), port=args.port))
    try:
        if args.command == "start":
            print(registry.start())
        elif args.command == "stop":
            registry.stop()
        elif registry.running():
            print(registry.address)
        else:
            print("not running", file=sys.stderr)
            return 1
    except RegistryError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The compatibility gate: before a release migrates, would the release that runs now still work on the schema
that this release's migrations make? During a rolling deploy the old and the new tasks serve side by side on the
new schema, and a rollback runs the old code on it (README: "Expand, then contract").

On a throw-away PostgreSQL (runner/database.py: TLS only, on a free loopback address, deleted afterwards), with the
images as they are (podman, no network but the host's loopback):
1. the running image's `migrate`: the schema the running release has;
2. the new image's `migrate`: this release's migrations on top of it;
3. the running image's `selfcheck` (app/__main__.py): its own queries on that schema, in a rolled-back transaction.
The first step that fails is the answer, in the app's own words (its JSON log's ERROR line).
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from local import paths
from local.processes import port_free
from runner.database import Database, DatabaseError, DatabaseSettings, binary
from runner.tasks import ULIMITS, Podman, write_env_file

NETWORK = "127.0.8"
"""Loopback addresses .2 to .250 of this network: the first free one holds the throw-away database."""


@dataclass(frozen=True)
class Step:
    image: str
    command: str
    what: str


def steps(running: str, new: str) -> tuple[Step, ...]:
    return (Step(running, "migrate", "the running release's migrations, on an empty database"),
            Step(new, "migrate", "this release's migrations, on the running release's schema"),
            Step(running, "selfcheck", "the running release's own queries, on the schema after this release's "
                                       "migrations"))


def _address() -> str:
    for last in range(2, 251):
        if port_free(f"{NETWORK}.{last}", 5432):
            return f"{NETWORK}.{last}"
    raise RuntimeError(f"no free address on {NETWORK}.0/24 for the gate's database")


def _words(output: str) -> str:
    """The app's last ERROR line of its JSON log, as `event (step): reason`; else the output's last line."""
    for line in reversed(output.splitlines()):
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and entry.get("level") == "ERROR":
            step = f" at the step {entry['step']!r}" if entry.get("step") else ""
            # A traceback's last line holds the exception's own words (`reason` may be only its class).
            last = (entry.get("exception") or "").strip().splitlines()[-1:]
            reason = last[0] if last and str(entry.get("reason", "")) in last[0] else entry.get("reason", "")
            return f"{entry.get('event', 'error')}{step}: {reason}".rstrip(": ")
    lines = [line for line in output.splitlines() if line.strip()]
    return lines[-1][-500:] if lines else "no output"


def missing() -> str | None:
    """Why the gate cannot run on this machine, or None: it needs root (PostgreSQL's server runs as the `postgres`
    user, started by runner/database.py), podman and PostgreSQL's server binaries."""
    if os.geteuid() != 0:
        return ("it needs root (the throw-away PostgreSQL runs as the postgres user): run the release with sudo, as "
                "the release workflow does")
    if shutil.which("podman") is None:
        return "podman is missing: sudo tools/setup.sh containers"
    try:
        binary("pg_ctl")
    except DatabaseError:
        return "PostgreSQL's server is missing: sudo tools/setup.sh postgres"
    return None


def check(podman: Podman, running: str, new: str, folder: Path, authfile: Path | None = None,
          tls: bool = False) -> str | None:
    """None when the running image still works on the schema after the new image's migrations, else what failed.
    `running` and `new` are references podman can pull (the images are pulled first, with `authfile` and `tls`
    as Podman.pull takes them)."""
    for image in dict.fromkeys((running, new)):
        podman.pull(image, authfile=authfile, tls=tls)
    database = Database(Path(folder) / "gate-database.json")
    database.stop()  # one a killed release left behind (stopping is safe to repeat)
    password = secrets.token_urlsafe(24)
    settings = DatabaseSettings(host=_address(), name="app", user="gate", password=password)
    env = {"DB_HOST": settings.host, "DB_PORT": str(settings.port), "DB_NAME": settings.name,
           "DB_USERNAME": settings.user, "DB_PASSWORD": password, "DB_SSLMODE": "require"}
    database.start(settings)
    try:
        with tempfile.TemporaryDirectory(prefix="release-gate-") as scratch:
            env_file = Path(scratch) / "env"
            write_env_file(env_file, env)  # the password: never on a command line
            for step in steps(running, new):
                result = podman.run("run", "--rm", "--label", podman.label, "--network", "host", *ULIMITS,
                                    "--read-only", "--tmpfs", "/tmp",
                                    "--env-file", str(env_file), step.image, step.command, timeout=900, check=False)
                if result.returncode != 0:
                    return f"{step.what} failed (exit {result.returncode}): {_words(result.stdout + result.stderr)}"
    finally:
        database.stop()
    return None


def check_pulling(running: str, new: str, auth: dict, tls: bool = True) -> str | None:
    """`check` for a release against AWS: the images pulled from the environment's repository with `auth` (a
    registry auth file's JSON, from the ECR token: owner-only, never on a command line) into a podman storage of
    its own, which is deleted afterwards with everything else the gate made."""
    with tempfile.TemporaryDirectory(prefix="release-gate-") as scratch:
        folder = Path(scratch)
        authfile = folder / "auth.json"
        authfile.touch(mode=0o600)
        authfile.write_text(json.dumps(auth))
        podman = Podman(storage=folder / "podman", workdir=folder)
        try:
            return check(podman, running, new, folder, authfile=authfile, tls=tls)
        finally:
            # The images' layers are podman's (some owned by the images' users): podman removes them, then its run
            # root outside the folder goes (local.paths).
            podman.run("rmi", "--all", "--force", check=False)
            paths.remove(podman.storage)

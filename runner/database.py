"""A throw-away PostgreSQL 15 standing in for the RDS instance: on its own loopback address, port 5432,
TLS required (a self-signed certificate; pg_hba `hostssl` only, as the RDS parameter group forces), its
master user and password the ones in the RDS-managed secret.

Its files live in a folder of their own under /tmp (owned by the `postgres` OS user: initdb refuses root,
and the work folder may not be traversable by that user); the path is kept in <workdir>/runner/database.json.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from local.processes import port_free

PG_LIB = Path("/usr/lib/postgresql")
"""Debian's and Ubuntu's server binaries, one folder per major version (15 on Debian 12, 16 on Ubuntu 24.04)."""


class DatabaseError(Exception):
    """PostgreSQL cannot be set up or started; the message says what to do next."""


def binary(name: str) -> str:
    versions = sorted(PG_LIB.glob("*/bin"), key=lambda folder: int(folder.parent.name) if folder.parent.name.isdigit()
                      else 0, reverse=True)
    for candidate in (shutil.which(name), *(str(folder / name) for folder in versions)):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise DatabaseError(f"PostgreSQL's {name} is not installed: apt-get install postgresql (tools/setup.sh postgres)")


@dataclass(frozen=True)
class DatabaseSettings:
    host: str
    """The loopback address it listens on (the RDS endpoint name maps to it in each task's /etc/hosts)."""
    name: str
    """The database name (the task definition's DB_NAME)."""
    user: str
    password: str
    port: int = 5432


class Database:
    def __init__(self, statefile: Path) -> None:
        self.statefile = statefile

    def _state(self) -> dict | None:
        try:
            return json.loads(self.statefile.read_text())
        except (OSError, ValueError):
            return None

    def _as_postgres(self, *argv: str, check: bool = True, input: str | None = None) -> subprocess.CompletedProcess:
        prefix = [] if os.geteuid() != 0 else [shutil.which("runuser") or "/usr/sbin/runuser", "-u", "postgres", "--"]
        result = subprocess.run([*prefix, *argv], capture_output=True, text=True, timeout=120, input=input)
        if check and result.returncode != 0:
            raise DatabaseError(f"{Path(argv[0]).name} failed: {result.stderr.strip() or result.stdout.strip()}")
        return result

    @property
    def folder(self) -> Path | None:
        state = self._state()
        return Path(state["folder"]) if state else None

    def start(self, settings: DatabaseSettings) -> None:
        """Create and start the cluster (master role, database, TLS), unless it already runs."""
        if self.running():
            return
        if not port_free(settings.host, settings.port):
            raise DatabaseError(f"port {settings.port} on {settings.host} is already in use: stop what listens "
                                "there, or give the runner another --network")
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            raise DatabaseError("the `postgres` OS user is missing: apt-get install postgresql creates it") from None
        folder = Path(tempfile.mkdtemp(prefix="runner-pg-"))
        self.statefile.parent.mkdir(parents=True, exist_ok=True)
        self.statefile.write_text(json.dumps({"folder": str(folder), "host": settings.host, "port": settings.port,
                                              "name": settings.name, "user": settings.user}) + "\n")
        os.chown(folder, owner.pw_uid, owner.pw_gid)
        data = folder / "data"
        self._as_postgres(binary("initdb"), "-D", str(data), "-U", "postgres", "-E", "UTF8",
                          "--auth-local=peer", "--auth-host=reject", "--no-sync")
        self._certificate(folder, settings.host, owner)
        # TLS only: every TCP connection must use it, as with rds.force_ssl = 1.
        (data / "pg_hba.conf").write_text(
            "local all postgres peer\n"
            "hostnossl all all 0.0.0.0/0 reject\n"
            "hostssl all all 127.0.0.0/8 scram-sha-256\n")
        with (data / "postgresql.conf").open("a") as conf:
            conf.write(f"listen_addresses = '{settings.host}'\nport = {settings.port}\n"
                       f"unix_socket_directories = '{folder}'\nssl = on\n"
                       f"ssl_cert_file = '{folder}/server.crt'\nssl_key_file = '{folder}/server.key'\n"
                       "max_connections = 200\nfsync = off\nsynchronous_commit = off\nfull_page_writes = off\n")
        self.resume()
        self.sql(f"CREATE ROLE {_ident(settings.user)} LOGIN CREATEDB CREATEROLE PASSWORD {_literal(settings.password)}")
        self.sql(f"CREATE DATABASE {_ident(settings.name)} OWNER {_ident(settings.user)}")

    def _certificate(self, folder: Path, host: str, owner: pwd.struct_passwd) -> None:
        key, cert = folder / "server.key", folder / "server.crt"
        result = subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30", "-subj", f"/CN={host}",
             "-keyout", str(key), "-out", str(cert)], capture_output=True, text=True, timeout=60)
        if result.returncode != 0:
            raise DatabaseError(f"openssl could not make the server certificate: {result.stderr.strip()}")
        for path in (key, cert):
            os.chown(path, owner.pw_uid, owner.pw_gid)
        key.chmod(0o600)

    def resume(self) -> None:
        """Start the (initialized) server, as after a reboot or failover."""
        folder = self.folder
        if folder is None:
            raise DatabaseError("no database set up in this work folder: run `python -m runner up`")
        result = self._as_postgres(binary("pg_ctl"), "-D", str(folder / "data"), "-l", str(folder / "server.log"),
                                   "-w", "-t", "30", "start", check=False)
        if result.returncode != 0:
            log = (folder / "server.log").read_text(errors="replace")[-1500:] if (folder / "server.log").exists() else ""
            raise DatabaseError(f"PostgreSQL did not start: {result.stderr.strip()}\n{log}")

    def halt(self) -> None:
        """Stop the server the way a restart does (every session ended, the data kept)."""
        if self.running():
            self._as_postgres(binary("pg_ctl"), "-D", str(self.folder / "data"), "-m", "fast", "-w", "stop")

    def running(self) -> bool:
        folder = self.folder
        if folder is None or not (folder / "data").exists():
            return False
        return self._as_postgres(binary("pg_ctl"), "-D", str(folder / "data"), "status", check=False).returncode == 0

    def sql(self, statement: str, database: str = "postgres") -> str:
        """Run SQL as the local superuser over the unix socket (the tasks only get TCP with TLS)."""
        # On stdin, so that a password never shows in the process list.
        return self._as_postgres(binary("psql"), "-h", str(self.folder), "-d", database, "-v", "ON_ERROR_STOP=1",
                                 "-At", "-f", "-", input=statement).stdout

    def set_password(self, user: str, password: str) -> None:
        """What RDS does on rotation: a new password; open sessions keep working."""
        self.sql(f"ALTER ROLE {_ident(user)} PASSWORD {_literal(password)}")

    def stop(self) -> None:
        """Stop the server and delete its files; safe to repeat."""
        folder = self.folder
        if folder is not None:
            if (folder / "data").exists():
                self._as_postgres(binary("pg_ctl"), "-D", str(folder / "data"), "-m", "immediate", "-w", "stop",
                                  check=False)
            shutil.rmtree(folder, ignore_errors=True)
        self.statefile.unlink(missing_ok=True)


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"

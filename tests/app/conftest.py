"""Fixtures for the app's tests: a throw-away PostgreSQL 15 cluster, fresh databases, `python -m app` processes, moto."""

import contextlib
import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest
from psycopg import sql

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # `import app` from the repository root, however pytest was started
    sys.path.insert(0, str(ROOT))

from app.settings import Settings  # noqa: E402
from local import EMULATOR_ENV  # noqa: E402
from local.processes import free_port  # noqa: E402
from runner.database import DatabaseError, binary  # noqa: E402

SUPERUSER_PASSWORD = "postgres-test-superuser"
# Every character here must be escaped in the connection URL.
APP_USER, APP_PASSWORD = "app_user", "s3cr:t/p@ss%w#rd?&="


def pg_binary(name: str) -> str:
    """runner/database.py's lookup (PATH, then any /usr/lib/postgresql/<major>/bin), failing the test with its words."""
    try:
        return binary(name)
    except DatabaseError as error:
        pytest.fail(str(error))


@dataclass
class Db:
    """Where one test database is, and how to reach it as the app or as the superuser."""

    host: str
    port: int
    name: str
    user: str
    password: str

    def env(self) -> dict[str, str]:
        return {
            "DB_HOST": self.host,
            "DB_PORT": str(self.port),
            "DB_NAME": self.name,
            "DB_USERNAME": self.user,
            "DB_PASSWORD": self.password,
            "DB_SSLMODE": "disable",  # the throw-away cluster has no certificate
        }

    def settings(self, **overrides) -> Settings:
        values = {k.lower(): v for k, v in self.env().items()} | overrides
        return Settings(**values)

    def connect(self, **kwargs) -> psycopg.Connection:
        return psycopg.connect(
            host=self.host, port=self.port, dbname=self.name, user="postgres", password=SUPERUSER_PASSWORD, **kwargs
        )

    def tables(self) -> set[str]:
        with self.connect() as c:
            return {r[0] for r in c.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}

    def revision(self) -> list[str]:
        with self.connect() as c:
            if not c.execute("SELECT to_regclass('alembic_version')").fetchone()[0]:
                return []
            return [r[0] for r in c.execute("SELECT version_num FROM alembic_version")]


class PgCluster:
    """A PostgreSQL cluster in a temporary directory, listening on 127.0.0.1 only."""

    def __init__(self):
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="app-test-pg-"))
        # initdb refuses to run as root: the cluster then belongs to the `postgres` OS user.
        self.as_user = []
        if os.geteuid() == 0:
            try:
                owner = pwd.getpwnam("postgres")
            except KeyError:
                pytest.fail("running as root needs the `postgres` OS user (apt-get install postgresql creates it)")
            os.chown(self.dir, owner.pw_uid, owner.pw_gid)
            self.as_user = [shutil.which("runuser") or "/usr/sbin/runuser", "-u", "postgres", "--"]
        self.data = self.dir / "data"
        self.log = self.dir / "server.log"
        self.options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -c unix_socket_directories={self.dir} "
            "-c max_connections=200 -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )

    def run(self, *args: str) -> None:
        subprocess.run([*self.as_user, *args], check=True, capture_output=True, text=True, timeout=60)

    def start(self) -> None:
        pwfile = self.dir / "pw"
        pwfile.write_text(SUPERUSER_PASSWORD)
        if self.as_user:
            shutil.chown(pwfile, "postgres")
        self.run(pg_binary("initdb"), "-D", str(self.data), "-U", "postgres", f"--pwfile={pwfile}", "-E", "UTF8",
                 "--auth-local=trust", "--auth-host=scram-sha-256", "--no-sync")  # fmt: skip
        self.resume()

    def resume(self) -> None:
        """Starts the (initialized) server, as after a database restart."""
        try:
            self.run(pg_binary("pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-o", self.options, "-w", "start")
        except subprocess.CalledProcessError as e:
            pytest.fail(f"PostgreSQL did not start: {e.stderr}\n{self.log.read_text() if self.log.exists() else ''}")

    def halt(self) -> None:
        """Stops the server the way a restart or failover does: every session is ended; the data stays."""
        self.run(pg_binary("pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def stop(self) -> None:
        try:
            self.run(pg_binary("pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)

    def admin(self, dbname: str = "postgres") -> psycopg.Connection:
        return psycopg.connect(
            host="127.0.0.1", port=self.port, dbname=dbname, user="postgres", password=SUPERUSER_PASSWORD,
            autocommit=True,
        )  # fmt: skip

    def create_role(self, user: str, password: str) -> None:
        with self.admin() as c:
            c.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(user), sql.Literal(password)))

    def create_database(self, name: str, user: str = APP_USER, password: str = APP_PASSWORD) -> Db:
        with self.admin() as c:
            c.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(name), sql.Identifier(user)))
        return Db("127.0.0.1", self.port, name, user, password)


def _started_cluster():
    """A started cluster with the app's role, stopped when the fixture ends."""
    cluster = PgCluster()
    cluster.start()
    try:
        cluster.create_role(APP_USER, APP_PASSWORD)
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def pg() -> PgCluster:
    yield from _started_cluster()


@pytest.fixture(scope="module")
def private_pg() -> PgCluster:
    """A cluster of the test module's own, for tests that stop or restart the database."""
    yield from _started_cluster()


@contextlib.contextmanager
def patch_waiting_on_a_row_lock(db: Db, server_url: str, note: dict, change: dict):
    """Another transaction holds `note`'s row lock, and a PATCH of the note with `change`, sent in a thread, waits
    for it. Yields (blocker, observer, finish): `blocker.commit()` lets the PATCH through, `observer` is an
    autocommit connection to watch with, `finish(timeout)` waits for the PATCH and returns its response."""
    with db.connect() as blocker, db.connect(autocommit=True) as observer:
        blocker.execute("SELECT * FROM notes WHERE id = %s FOR UPDATE", [note["id"]])
        result = {}
        request = threading.Thread(target=lambda: result.update(
            response=httpx.patch(f"{server_url}/notes/{note['id']}", json=change, timeout=20)))
        request.start()

        def finish(timeout: float) -> httpx.Response:
            request.join(timeout)
            return result["response"]

        yield blocker, observer, finish


_databases = iter(range(1, 10_000))


@pytest.fixture
def new_db(pg):
    """Makes an empty database owned by the app's role: `new_db()`."""
    return lambda: pg.create_database(f"test_{next(_databases)}")


@pytest.fixture(scope="module")
def migrated_db(pg) -> Db:
    """One database per test module, migrated to head."""
    from app.migrate import migrate

    db = pg.create_database(f"test_{next(_databases)}")
    migrate(db.settings())
    return db


# --- `python -m app` as the container runs it -------------------------------------------------


def app_env(extra: dict[str, str]) -> dict[str, str]:
    """The test's environment without any of the app's settings, plus `extra`."""
    names = set(Settings.model_fields) | {"database_url"}
    env = {k: v for k, v in os.environ.items() if k.lower() not in names and not k.startswith("AWS_")}
    return env | {"PYTHONUNBUFFERED": "1"} | extra


def run_app_command(command: str, env: dict[str, str], python: str = sys.executable, timeout: float = 60):
    return subprocess.run(
        [python, "-m", "app", command], cwd=ROOT, env=app_env(env), capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture(scope="session")
def spawn_app():
    """Starts `python -m app COMMAND` without waiting: `spawn_app("migrate", env)` is a Popen with text output."""

    def spawn(command: str, env: dict[str, str]) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "-m", "app", command], cwd=ROOT, env=app_env(env), text=True,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )  # fmt: skip

    return spawn


@pytest.fixture(scope="session")
def run_app():
    """Runs `python -m app COMMAND` to completion with only the given settings: `run_app("migrate", env)`."""
    return run_app_command


class AppServer:
    """`python -m app serve` on a free port, with its output collected in a file."""

    def __init__(self, env: dict[str, str], python: str = sys.executable):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.output = tempfile.NamedTemporaryFile(prefix="app-serve-", suffix=".log")
        self.process = subprocess.Popen(
            [python, "-m", "app", "serve"],
            cwd=ROOT,
            env=app_env({"HOST": "127.0.0.1", "PORT": str(self.port)} | env),
            stdout=self.output,
            stderr=subprocess.STDOUT,
        )

    def wait_until_healthy(self, timeout: float = 20) -> "AppServer":
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"server exited with {self.process.returncode}:\n{self.logs()}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.05)
        pytest.fail(f"server not healthy after {timeout} s:\n{self.logs()}")

    def logs(self) -> str:
        return Path(self.output.name).read_text()

    def events(self) -> list[dict]:
        return [json.loads(line) for line in self.logs().splitlines()]  # fails on any line that is not JSON

    def wait_for_event(self, matches, timeout: float = 5) -> dict:
        """The first log entry for which `matches(entry)` is true; lines are written just after the response."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [e for e in self.events() if matches(e)]
            if found:
                return found[0]
            time.sleep(0.05)
        pytest.fail(f"no matching log entry within {timeout} s:\n{self.logs()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self.output.close()


def _server_starter():
    servers = []

    def start(env: dict[str, str], python: str = sys.executable) -> AppServer:
        servers.append(AppServer(env, python))
        return servers[-1].wait_until_healthy()

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def start_server():
    """Starts `python -m app serve` with the given environment: `start_server(env)`; stopped after the test."""
    yield from _server_starter()


@pytest.fixture(scope="module")
def start_module_server():
    """Like start_server, stopped after the test module."""
    yield from _server_starter()


@pytest.fixture
def migrations_copy(tmp_path) -> Path:
    """A copy of the app's migrations (app.settings.MIGRATIONS_DIR) to add versions to; the app runs it when
    MIGRATIONS_LOCATION names it."""
    from app.settings import MIGRATIONS_DIR

    folder = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, folder, ignore=shutil.ignore_patterns("__pycache__"))
    return folder


@pytest.fixture(name="free_port", scope="session")
def free_port_fixture():
    return free_port


@pytest.fixture(scope="session")
def moto_env() -> dict[str, str]:
    """A local Secrets Manager (moto) and the AWS_* environment that points boto3 at it."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    yield {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "AWS_REGION": "us-east-1",
        **EMULATOR_ENV,
    }
    server.stop()


@pytest.fixture(scope="module")
def api_server(start_module_server, migrated_db) -> AppServer:
    """One `serve` process per test module, on the module's migrated database."""
    return start_module_server(migrated_db.env())


@pytest.fixture(scope="module")
def api(api_server) -> httpx.Client:
    with httpx.Client(base_url=api_server.url, timeout=10) as client:
        yield client

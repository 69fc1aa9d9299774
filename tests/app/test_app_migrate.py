"""`python -m app migrate`: Alembic to head, once, under an advisory lock, all-or-nothing."""

import json
import time

import psycopg
from alembic import command

from app.migrate import LOCK_KEY, alembic_config

FAILING_MIGRATION = '''"""Adds a column, then fails."""

from alembic import op
import sqlalchemy as sa

revision = "0002"
down_revision = "0001"


def upgrade():
    op.add_column("notes", sa.Column("colour", sa.Text))
    op.execute("SELECT 1 / 0")
'''


def events(output: str) -> list[str]:
    return [json.loads(line)["event"] for line in output.splitlines()]


def test_migrate_creates_the_schema_then_finds_nothing_to_do(new_db, run_app):
    db = new_db()

    first, second = run_app("migrate", db.env()), run_app("migrate", db.env())

    assert (first.returncode, second.returncode) == (0, 0), first.stdout + second.stdout
    assert "migrate.applied" in events(first.stdout)
    assert "migrate.up_to_date" in events(second.stdout)
    assert db.tables() == {"alembic_version", "notes"}
    assert db.revision() == ["0001"]


def test_migrations_go_down_to_an_empty_schema_and_up_again(new_db):
    db = new_db()
    settings = db.settings()
    command.upgrade(alembic_config(settings), "head")

    command.downgrade(alembic_config(settings), "base")
    assert db.tables() == {"alembic_version"}
    assert db.revision() == []

    command.upgrade(alembic_config(settings), "head")
    assert db.tables() == {"alembic_version", "notes"}


def test_eight_processes_migrating_at_once_all_succeed_and_apply_the_schema_once(new_db, spawn_app):
    db = new_db()
    with db.connect(autocommit=True) as holder:
        # GIVEN eight `migrate` processes all queued on the lock (held here so none can start early)
        holder.execute("SELECT pg_advisory_lock(%s)", [LOCK_KEY])
        processes = [spawn_app("migrate", db.env()) for _ in range(8)]
        wait_until(lambda: waiting_for_advisory_lock(holder) == 8, processes)

        # WHEN the lock is released
        holder.execute("SELECT pg_advisory_unlock(%s)", [LOCK_KEY])
        outputs = [p.communicate(timeout=60)[0] for p in processes]

    # THEN all succeed, one applied the schema and seven found nothing to do
    assert [p.returncode for p in processes] == [0] * 8, outputs
    outcomes = sorted(e for output in outputs for e in events(output) if e in ("migrate.applied", "migrate.up_to_date"))
    assert outcomes == ["migrate.applied"] + ["migrate.up_to_date"] * 7
    assert db.revision() == ["0001"]


def waiting_for_advisory_lock(connection: psycopg.Connection) -> int:
    return connection.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted").fetchone()[0]


def wait_until(condition, processes, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        exited = [p for p in processes if p.poll() is not None]
        assert not exited, exited[0].communicate()[0]
        assert time.monotonic() < deadline, "processes did not reach the lock in time"
        time.sleep(0.05)


def test_a_failing_migration_exits_non_zero_and_leaves_the_previous_schema_intact(new_db, run_app, migrations_copy):
    # GIVEN a database at 0001 holding a note
    db = new_db()
    assert run_app("migrate", db.env()).returncode == 0
    with db.connect() as c:
        c.execute("INSERT INTO notes (title) VALUES ('kept')")
    # AND a copy of the migrations with a 0002 that fails half-way
    migrations = migrations_copy
    (migrations / "versions" / "0002_fails.py").write_text(FAILING_MIGRATION)

    # WHEN migrating with it
    result = run_app("migrate", db.env() | {"MIGRATIONS_LOCATION": str(migrations)})

    # THEN the command fails, saying why, and nothing of 0002 remains
    assert result.returncode == 1
    assert "migrate.failed" in events(result.stdout)
    assert "division by zero" in result.stdout
    assert db.revision() == ["0001"]
    with db.connect() as c:
        columns = {r[0] for r in c.execute("SELECT column_name FROM information_schema.columns WHERE table_name = 'notes'")}
        assert "colour" not in columns
        assert c.execute("SELECT title FROM notes").fetchall() == [("kept",)]


def test_migrate_gives_up_with_a_clear_error_when_another_holds_the_lock_too_long(new_db, run_app):
    db = new_db()
    with db.connect(autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", [LOCK_KEY])

        result = run_app("migrate", db.env() | {"MIGRATE_LOCK_TIMEOUT_SECONDS": "0.5"})

    assert result.returncode == 1
    assert "another migration held the lock for more than 0.5 s (MIGRATE_LOCK_TIMEOUT_SECONDS)" in result.stdout
    assert db.revision() == []


def test_serve_with_migrate_on_start_migrates_before_serving(new_db, start_server):
    db = new_db()

    server = start_server(db.env() | {"MIGRATE_ON_START": "true"})

    assert db.revision() == ["0001"]
    assert "migrate.applied" in [e["event"] for e in server.events()]

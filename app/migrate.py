"""`migrate`: Alembic upgrade to head under an advisory lock, so any number of tasks can run it at once."""

import logging
import zlib

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, text
from sqlalchemy.exc import OperationalError

from app.db import Database
from app.settings import Settings

log = logging.getLogger(__name__)

# Any fixed 64-bit key works; every task of this service must use the same one.
LOCK_KEY = zlib.crc32(b"app.migrate")
LOCK_NOT_AVAILABLE = "55P03"


class MigrationError(Exception):
    """Migrations could not be applied; the schema is as it was."""


def alembic_config(settings: Settings, connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(settings.migrations_location))
    config.attributes.update(settings=settings, connection=connection)
    return config


def _heads(connection: Connection) -> list[str]:
    if connection.execute(text("SELECT to_regclass('alembic_version')")).scalar() is None:
        return []
    return sorted(connection.scalars(text("SELECT version_num FROM alembic_version")))


def migrate(settings: Settings) -> None:
    db = Database(settings)
    try:
        # A dedicated connection holds the session-level lock across the migration's own transaction.
        with db.connect() as lock_connection:
            lock_connection = lock_connection.execution_options(isolation_level="AUTOCOMMIT")
            _lock(lock_connection, settings)
            try:
                with db.engine.begin() as connection:
                    before = _heads(connection)
                    command.upgrade(alembic_config(settings, connection), "head")
                    after = _heads(connection)
            finally:
                # A connection returned to the pool keeps its session, and so the lock: release it.
                lock_connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": LOCK_KEY})
    finally:
        db.engine.dispose()
    if before == after:
        log.info("migrate.up_to_date", extra={"revision": after})
    else:
        log.info("migrate.applied", extra={"from_revision": before, "to_revision": after})


def _lock(connection: Connection, settings: Settings) -> None:
    timeout = settings.migrate_lock_timeout_seconds
    connection.execute(text("SELECT set_config('lock_timeout', :ms, false)"), {"ms": f"{int(timeout * 1000)}ms"})
    log.info("migrate.waiting_for_lock", extra={"lock_key": LOCK_KEY, "timeout_seconds": timeout})
    try:
        connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": LOCK_KEY})
    except OperationalError as e:
        if getattr(e.orig, "sqlstate", None) == LOCK_NOT_AVAILABLE:
            raise MigrationError(
                f"another migration held the lock for more than {timeout} s (MIGRATE_LOCK_TIMEOUT_SECONDS)"
            ) from None
        raise
    connection.execute(text("SELECT set_config('lock_timeout', '0', false)"))

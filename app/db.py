"""The migrations' (synchronous, SQLAlchemy) connections, and reading the RDS secret when its password was rotated.

Serving uses app.pool (psycopg_pool) instead: this engine only runs `migrate` and Alembic's own commands.
"""

import json
import logging
import threading

from sqlalchemy import Connection, create_engine, event
from sqlalchemy.exc import OperationalError

from app.settings import Settings

log = logging.getLogger(__name__)


class DatabaseUnavailable(Exception):
    """The database cannot be used right now; the request should get a 503."""


def is_auth_failure(error: Exception) -> bool:
    """Whether connecting failed for the credentials (a SQLAlchemy error wraps psycopg's as `orig`)."""
    # libpq reports failed authentication at connect time without a SQLSTATE, only as text.
    sqlstate = getattr(getattr(error, "orig", error), "sqlstate", None)
    return sqlstate == "28P01" or "password authentication failed" in str(error)


def read_secret(arn: str) -> tuple[str, str]:
    """The username and password in the RDS-managed secret, or DatabaseUnavailable (and a log line) if unreadable."""
    try:
        import boto3  # only needed, and slow to import, when credentials were rotated

        # The secret's region is in its ARN; the endpoint may come from AWS_ENDPOINT_URL.
        client = boto3.client("secretsmanager", region_name=arn.split(":")[3])
        secret = json.loads(client.get_secret_value(SecretId=arn)["SecretString"])
        return (secret["username"], secret["password"])
    except Exception as e:
        log.error("db.secret_unreadable", extra={"secret_arn": arn, "reason": f"{type(e).__name__}: {e}"})
        raise DatabaseUnavailable("database credentials rejected and the secret is unreadable") from None


class Database:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.engine = create_engine(
            settings.database_url_object(),
            pool_size=settings.db_pool_size,
            pool_pre_ping=True,  # a restarted or failed-over database leaves dead pooled connections
            connect_args={"connect_timeout": settings.db_connect_timeout_seconds},
        )
        # Credentials re-read from the secret replace the ones ECS injected at start.
        self._credentials: tuple[str, str] | None = None
        self._generation = 0
        self._lock = threading.Lock()
        event.listen(self.engine, "do_connect", self._use_current_credentials)

    def _use_current_credentials(self, dialect, conn_rec, cargs, cparams) -> None:
        if self._credentials is not None:
            cparams["user"], cparams["password"] = self._credentials

    def connect(self) -> Connection:
        """A pooled connection; on rejected credentials, re-read the secret and retry once."""
        generation = self._generation
        try:
            return self.engine.connect()
        except OperationalError as e:
            if not (self.settings.db_secret_arn and is_auth_failure(e)):
                raise
        self._refresh_credentials(generation)
        return self.engine.connect()

    def _refresh_credentials(self, failed_generation: int) -> None:
        with self._lock:
            if self._generation != failed_generation:
                return  # another request refreshed them while this one waited
            arn = self.settings.db_secret_arn
            log.warning("db.credentials_rejected", extra={"secret_arn": arn, "action": "re-reading the secret"})
            credentials = read_secret(arn)
            changed = credentials != self._current_credentials()
            self._credentials = credentials
            # Connections opened with the old password are dropped rather than kept around.
            self.engine.dispose()
            self._generation += 1
            log.info("db.credentials_refreshed", extra={"secret_arn": arn, "changed": changed})

    def _current_credentials(self) -> tuple[str, str]:
        if self._credentials is not None:
            return self._credentials
        url = self.engine.url
        return (url.username, url.password)

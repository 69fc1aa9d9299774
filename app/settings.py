"""The service's one settings object, read from the environment the way ECS hands it over."""

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import URL, make_url

MIGRATIONS_DIR = Path(__file__).parent / "migrations"

SslMode = Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]


class ConfigError(Exception):
    """A setting is missing or invalid; the message names the variable."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore")

    host: str = "0.0.0.0"
    port: int = Field(8000, ge=1, le=65535)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    # The task definition passes these as plain variables...
    db_host: str | None = None
    db_port: int = Field(5432, ge=1, le=65535)
    db_name: str | None = None
    # ...and injects these from the RDS-managed secret's `username` / `password` keys.
    db_username: str | None = None
    db_password: SecretStr | None = None
    # RDS enforces TLS, so anything weaker must be asked for explicitly.
    db_sslmode: SslMode = "require"
    # For local use: one URL instead of the parts above.
    database_url: SecretStr | None = None
    # Set to re-read credentials from Secrets Manager when RDS rotates them.
    db_secret_arn: str | None = Field(None, pattern=r"^arn:[\w-]+:secretsmanager:[\w-]+:\d{12}:secret:.+")
    # Connections per process, opened on first need and kept (steady load opens none). The app is
    # async: one connection serves many requests in turn, so a few per CPU core are enough.
    db_pool_size: int = Field(10, ge=1, le=100)
    # How long a request waits for a free connection (also while the database is down) before its 503.
    db_pool_timeout_seconds: float = Field(5, gt=0)
    # A pooled connection idle for longer is pinged (one round trip) before use; a fresher one only
    # gets a free check of its socket. Below the idle timeouts of NATs and proxies on the way.
    db_pool_check_idle_seconds: float = Field(30, ge=0)
    db_connect_timeout_seconds: int = Field(5, ge=1)

    migrate_on_start: bool = False
    migrate_lock_timeout_seconds: float = Field(60, gt=0)
    migrations_location: Path = MIGRATIONS_DIR
    # Must stay below the ECS task's stopTimeout (30 s) so we exit before SIGKILL.
    graceful_shutdown_seconds: int = Field(20, ge=0)

    # What one request may cost, bounded before it is parsed. A larger body gets 413 without being
    # read. The default holds the largest valid note in its longest encoding (every character as a
    # JSON \u escape pair or as percent-encoded UTF-8: about 122 KB), so no valid note is refused.
    max_body_bytes: int = Field(128 * 1024, ge=1024, le=16 * 1024 * 1024)
    # Notes per page of GET /notes (and on the HTML page); a page is read and encoded in one go.
    default_page_size: int = Field(20, ge=1)
    max_page_size: int = Field(100, ge=1, le=1000)

    @model_validator(mode="after")
    def _consistent(self) -> "Settings":
        check_consistent(self)
        return self

    def database_url_object(self) -> URL:
        """The SQLAlchemy URL; URL.create escapes the user and password."""
        if self.database_url is not None:
            url = make_url(self.database_url.get_secret_value()).set(drivername="postgresql+psycopg")
            if "sslmode" not in url.query:
                url = url.update_query_dict({"sslmode": self.db_sslmode})
            return url
        return URL.create(
            "postgresql+psycopg",
            username=self.db_username,
            password=self.db_password.get_secret_value(),
            host=self.db_host,
            port=self.db_port,
            database=self.db_name,
            query={"sslmode": self.db_sslmode},
        )


def check_consistent(settings: Settings) -> None:
    """The rules across fields. (A plain function, not the validator itself: mutmut skips decorated code.)"""
    if settings.database_url is None:
        missing = [
            name.upper()
            for name in ("db_host", "db_name", "db_username", "db_password")
            if not _is_set(getattr(settings, name))
        ]
        if missing:
            raise ValueError(f"{', '.join(missing)} must be set (or DATABASE_URL)")
    if settings.default_page_size > settings.max_page_size:
        raise ValueError(
            f"DEFAULT_PAGE_SIZE ({settings.default_page_size}) must not exceed MAX_PAGE_SIZE ({settings.max_page_size})"
        )


def _is_set(value) -> bool:
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    return value not in (None, "")


def load_settings(**overrides) -> Settings:
    """Settings from the environment, or ConfigError with one line naming each bad variable."""
    try:
        return Settings(**overrides)
    except ValidationError as e:
        problems = []
        for error in e.errors():
            # The settings are flat: an error is about one field, or (a cross-field rule) about none.
            message = error["msg"].removeprefix("Value error, ")
            problems.append(f"{str(error['loc'][0]).upper()}: {message}" if error["loc"] else message)
        raise ConfigError("invalid configuration: " + "; ".join(problems)) from None

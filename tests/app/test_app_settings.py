"""Settings come from the environment as ECS provides them; a bad one stops start-up naming the variable."""

import json

import pytest
from sqlalchemy.engine import make_url

from app.settings import ConfigError, load_settings

ECS_ENV = {
    "db_host": "db.example.internal",
    "db_port": "5432",
    "db_name": "notes",
    "db_username": "app@team",
    "db_password": "p@ss:w/rd%#?",
}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    for name in ["DATABASE_URL", "DB_HOST", "DB_PORT", "DB_NAME", "DB_USERNAME", "DB_PASSWORD", "DB_SSLMODE", "PORT"]:
        monkeypatch.delenv(name, raising=False)


def test_the_connection_url_escapes_user_and_password():
    url = load_settings(**ECS_ENV).database_url_object()

    rendered = url.render_as_string(hide_password=False)
    assert "p%40ss%3Aw%2Frd%25%23%3F" in rendered
    parsed = make_url(rendered)
    assert (parsed.username, parsed.password, parsed.host, parsed.database) == (
        "app@team", "p@ss:w/rd%#?", "db.example.internal", "notes",
    )  # fmt: skip


def test_ssl_is_required_by_default_because_rds_forces_it():
    assert load_settings(**ECS_ENV).database_url_object().query["sslmode"] == "require"


def test_ssl_mode_can_be_disabled_for_a_local_database():
    assert load_settings(**ECS_ENV, db_sslmode="disable").database_url_object().query["sslmode"] == "disable"


def test_database_url_overrides_the_parts_and_uses_psycopg():
    url = load_settings(database_url="postgresql://me:pw@localhost:5433/dev").database_url_object()

    assert (url.drivername, url.username, url.port, url.database) == ("postgresql+psycopg", "me", 5433, "dev")


def test_database_url_keeps_its_own_ssl_mode():
    url = load_settings(database_url="postgresql://me:pw@localhost/dev?sslmode=disable").database_url_object()

    assert url.query["sslmode"] == "disable"


def test_settings_are_read_from_the_environment(monkeypatch):
    monkeypatch.setenv("DB_HOST", "from-env")
    monkeypatch.setenv("PORT", "9000")

    settings = load_settings(**{k: v for k, v in ECS_ENV.items() if k != "db_host"})

    assert (settings.db_host, settings.port) == ("from-env", 9000)


def test_defaults_fit_ecs():
    settings = load_settings(**ECS_ENV)

    assert (settings.port, settings.db_port, settings.migrate_on_start) == (8000, 5432, False)
    assert settings.graceful_shutdown_seconds < 30  # the task's stopTimeout


def test_missing_database_settings_are_named():
    with pytest.raises(ConfigError, match=r"DB_HOST, DB_PASSWORD must be set \(or DATABASE_URL\)"):
        load_settings(**{k: v for k, v in ECS_ENV.items() if k not in ("db_host", "db_password")})


def test_an_empty_password_counts_as_missing():
    with pytest.raises(ConfigError, match="DB_PASSWORD must be set"):
        load_settings(**ECS_ENV | {"db_password": ""})


@pytest.mark.parametrize(
    "name, value",
    [("port", "eighty"), ("db_port", "0"), ("db_sslmode", "sometimes"), ("migrate_lock_timeout_seconds", "-1")],
)
def test_an_invalid_value_is_named(name, value):
    with pytest.raises(ConfigError, match=f"invalid configuration: {name.upper()}: "):
        load_settings(**ECS_ENV | {name: value})


def test_the_error_never_repeats_a_value():
    with pytest.raises(ConfigError) as error:
        load_settings(**ECS_ENV | {"db_port": "p@ss:w/rd%#?"})

    assert "p@ss" not in str(error.value)


@pytest.mark.parametrize("command", ["serve", "migrate"])
def test_a_command_without_database_settings_exits_non_zero_with_one_line_naming_the_variables(run_app, command):
    result = run_app(command, {})

    assert result.returncode == 2
    [line] = result.stdout.splitlines()
    entry = json.loads(line)
    assert entry["level"] == "ERROR"
    assert entry["event"] == "invalid configuration: DB_HOST, DB_NAME, DB_USERNAME, DB_PASSWORD must be set (or DATABASE_URL)"


def test_a_command_with_an_invalid_port_exits_non_zero_naming_port(run_app):
    result = run_app("serve", {"DATABASE_URL": "postgresql://u:p@localhost/db", "PORT": "http"})

    assert result.returncode == 2
    assert "invalid configuration: PORT: Input should be a valid integer" in result.stdout

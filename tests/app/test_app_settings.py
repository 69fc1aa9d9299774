"""Settings come from the environment as ECS provides them; a bad one stops start-up naming the variable."""

import json

import pytest
from sqlalchemy.engine import make_url

from app.settings import ConfigError, Settings, load_settings

ECS_ENV = {
    "db_host": "db.example.internal",
    "db_port": "5432",
    "db_name": "notes",
    "db_username": "app@team",
    "db_password": "p@ss:w/rd%#?",
}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)


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
    with pytest.raises(ConfigError) as error:
        load_settings(**{k: v for k, v in ECS_ENV.items() if k not in ("db_host", "db_password")})

    assert str(error.value) == "invalid configuration: DB_HOST, DB_PASSWORD must be set (or DATABASE_URL)"


def test_every_invalid_setting_is_named_in_one_message():
    with pytest.raises(ConfigError) as error:
        load_settings(**ECS_ENV | {"port": "x", "db_port": "0"})

    assert str(error.value) == (
        "invalid configuration: PORT: Input should be a valid integer, unable to parse string as an integer; "
        "DB_PORT: Input should be greater than or equal to 1"
    )


def test_the_connection_url_has_the_given_port_and_the_psycopg_driver():
    url = load_settings(**ECS_ENV | {"db_port": "6543"}).database_url_object()

    assert (url.drivername, url.port) == ("postgresql+psycopg", 6543)


def test_database_url_without_an_ssl_mode_takes_db_sslmode():
    url = load_settings(database_url="postgresql://me:pw@localhost/dev", db_sslmode="verify-full").database_url_object()

    assert dict(url.query) == {"sslmode": "verify-full"}


def test_the_request_limits_default_to_128_kib_bodies_and_pages_of_20_up_to_100():
    settings = load_settings(**ECS_ENV)

    assert (settings.max_body_bytes, settings.default_page_size, settings.max_page_size) == (131_072, 20, 100)


def test_the_default_page_may_equal_the_largest_page():
    settings = load_settings(**ECS_ENV, default_page_size="7", max_page_size="7")

    assert (settings.default_page_size, settings.max_page_size) == (7, 7)


def test_a_default_page_larger_than_the_largest_page_is_refused_naming_both():
    with pytest.raises(ConfigError) as error:
        load_settings(**ECS_ENV, default_page_size="8", max_page_size="7")

    assert str(error.value) == "invalid configuration: DEFAULT_PAGE_SIZE (8) must not exceed MAX_PAGE_SIZE (7)"


@pytest.mark.parametrize(
    "name, lowest, highest",
    [
        ("port", 1, 65535),
        ("db_port", 1, 65535),
        ("max_body_bytes", 1024, 16 * 1024 * 1024),
        ("max_page_size", 1, 1000),
        ("db_pool_size", 1, 100),
    ],
)
def test_a_bounded_setting_takes_its_edges_and_refuses_one_beyond(name, lowest, highest):
    overrides = {"default_page_size": "1"} if name == "max_page_size" else {}
    for value in (lowest, highest):
        assert getattr(load_settings(**ECS_ENV | overrides | {name: str(value)}), name) == value
    for value in (lowest - 1, highest + 1):
        with pytest.raises(ConfigError, match=f"invalid configuration: {name.upper()}: "):
            load_settings(**ECS_ENV | overrides | {name: str(value)})


@pytest.mark.parametrize(
    "name, lowest",
    [
        ("db_connect_timeout_seconds", 1),
        ("db_pool_check_idle_seconds", 0),
        ("graceful_shutdown_seconds", 0),
        ("default_page_size", 1),
    ],
)
def test_a_setting_with_a_floor_takes_it_and_refuses_one_below(name, lowest):
    assert getattr(load_settings(**ECS_ENV | {name: str(lowest)}), name) == lowest
    with pytest.raises(ConfigError, match=f"invalid configuration: {name.upper()}: "):
        load_settings(**ECS_ENV | {name: str(lowest - 1)})


def test_the_migration_lock_timeout_must_be_above_zero():
    assert load_settings(**ECS_ENV, migrate_lock_timeout_seconds="0.5").migrate_lock_timeout_seconds == 0.5
    with pytest.raises(ConfigError, match="MIGRATE_LOCK_TIMEOUT_SECONDS: Input should be greater than 0"):
        load_settings(**ECS_ENV, migrate_lock_timeout_seconds="0")


def test_the_pool_timeout_must_be_above_zero():
    assert load_settings(**ECS_ENV, db_pool_timeout_seconds="0.5").db_pool_timeout_seconds == 0.5
    with pytest.raises(ConfigError, match="DB_POOL_TIMEOUT_SECONDS: Input should be greater than 0"):
        load_settings(**ECS_ENV, db_pool_timeout_seconds="0")


def test_the_pool_keeps_ten_connections_waits_five_seconds_for_one_and_pings_after_thirty_idle():
    settings = load_settings(**ECS_ENV)

    assert (settings.db_pool_size, settings.db_pool_timeout_seconds, settings.db_pool_check_idle_seconds) == (10, 5, 30)


@pytest.mark.parametrize(
    "arn, valid",
    [
        ("arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-1a2b", True),
        ("arn:aws-us-gov:secretsmanager:us-gov-west-1:123456789012:secret:x", True),
        ("arn:aws:ssm:eu-west-1:123456789012:parameter/x", False),
        ("arn:aws:secretsmanager:eu-west-1:12345:secret:x", False),
        ("rds!db-1a2b", False),
    ],
)
def test_the_secret_arn_must_name_a_secrets_manager_secret(arn, valid):
    if valid:
        assert load_settings(**ECS_ENV, db_secret_arn=arn).db_secret_arn == arn
    else:
        with pytest.raises(ConfigError, match="DB_SECRET_ARN: String should match pattern"):
            load_settings(**ECS_ENV, db_secret_arn=arn)


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

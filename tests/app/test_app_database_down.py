"""With the database down, the service stays alive for the load balancer and says why it is not ready."""

import httpx
import pytest


@pytest.fixture(scope="module")
def api(start_module_server, migrated_db, free_port):
    # Nothing listens on a free port: as far as the app can tell, the database is down.
    env = migrated_db.env() | {"DB_PORT": str(free_port()), "DB_CONNECT_TIMEOUT_SECONDS": "2"}
    with httpx.Client(base_url=start_module_server(env).url, timeout=10) as client:
        yield client


def test_health_is_200_while_the_database_is_down(api):
    assert api.get("/health").json() == {"status": "ok"}


def test_ready_is_503_with_the_reason_while_the_database_is_down(api):
    response = api.get("/ready")

    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"
    assert "Connection refused" in response.json()["reason"]


def test_a_note_request_is_503_not_500_while_the_database_is_down(api):
    response = api.get("/notes/1")

    assert (response.status_code, response.json()) == (503, {"detail": "database unavailable"})

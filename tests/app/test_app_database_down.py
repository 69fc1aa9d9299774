"""With the database down, the service stays alive for the load balancer and says, briefly, that it is not ready."""

import httpx
import pytest


@pytest.fixture(scope="module")
def server(start_module_server, migrated_db, free_port):
    # Nothing listens on a free port: as far as the app can tell, the database is down.
    env = migrated_db.env() | {"DB_PORT": str(free_port()), "DB_CONNECT_TIMEOUT_SECONDS": "2"}
    return start_module_server(env)


@pytest.fixture(scope="module")
def api(server):
    with httpx.Client(base_url=server.url, timeout=10) as client:
        yield client


def test_health_is_200_while_the_database_is_down(api):
    assert api.get("/health").json() == {"status": "ok"}


def test_ready_is_503_saying_only_that_the_database_is_unavailable(api):
    response = api.get("/ready")

    assert response.status_code == 503
    # Exactly this: neither the database's address nor the driver's error text
    assert response.json() == {"status": "unavailable", "reason": "database unavailable"}


def test_ready_logs_why_the_database_is_unavailable(api, server):
    api.get("/ready")

    entry = server.wait_for_event(lambda e: e["event"] == "db.unavailable" and e["path"] == "/ready")
    assert "Connection refused" in entry["reason"]


def test_a_note_request_is_503_not_500_while_the_database_is_down(api):
    response = api.get("/notes/1")

    assert (response.status_code, response.json()) == (503, {"detail": "database unavailable"})


def test_the_page_says_the_database_is_unavailable_as_html(api):
    response = api.get("/")

    assert response.status_code == 503
    assert response.headers["content-type"].startswith("text/html")
    assert "database is unavailable" in response.text


def test_a_form_posted_while_the_database_is_down_is_503_as_html(api):
    response = api.post("/", content=b"title=kept+for+later", headers={"content-type": "application/x-www-form-urlencoded"})

    assert response.status_code == 503
    assert "database is unavailable" in response.text


def test_the_probe_is_503_like_ready_and_logs_why(api, server):
    response = api.post("/ready/probe")

    assert (response.status_code, response.json()) == (503, {"status": "unavailable", "reason": "database unavailable"})
    entry = server.wait_for_event(lambda e: e["event"] == "db.unavailable" and e["path"] == "/ready/probe")
    assert "Connection refused" in entry["reason"]

"""The database restarts (or fails over) under a running `serve`: pooled connections it ended are noticed
without a round trip, requests get 503 only while it is down, and the app recovers without a restart."""

import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from app.migrate import migrate
from tests.app.conftest import patch_waiting_on_a_row_lock


@pytest.fixture(scope="module")
def cluster(private_pg):
    return private_pg  # stopping it disturbs no other test module


@pytest.fixture
def db(cluster):
    database = cluster.create_database(f"restart_{time.monotonic_ns()}")
    migrate(database.settings())
    return database


def app_sessions(db) -> set[tuple]:
    with db.connect(autocommit=True) as observer:
        query = "SELECT pid, backend_start FROM pg_stat_activity WHERE datname = %s AND usename = %s"
        return set(observer.execute(query, [db.name, db.user]).fetchall())


def test_steady_requests_open_no_new_database_connections(db, start_server):
    server = start_server(db.env() | {"DB_POOL_SIZE": "4"})
    note = httpx.post(f"{server.url}/notes", json={"title": "steady"}).json()
    url = f"{server.url}/notes/{note['id']}"
    with ThreadPoolExecutor(8) as pool, httpx.Client(limits=httpx.Limits(max_connections=8)) as client:
        list(pool.map(lambda _: client.get(url), range(40)))  # warm
        before = app_sessions(db)

        statuses = set(pool.map(lambda _: client.get(url).status_code, range(200)))

    assert statuses == {200}
    assert 1 <= len(before) <= 4
    assert app_sessions(db) == before  # the same backends (pid and start time): none closed, none opened


def test_requests_after_a_database_restart_succeed_without_restarting_the_app(cluster, db, start_server):
    # GIVEN a server whose pool holds several connections
    server = start_server(db.env() | {"DB_POOL_SIZE": "4"})
    note = httpx.post(f"{server.url}/notes", json={"title": "outlives the restart"}).json()
    url = f"{server.url}/notes/{note['id']}"
    with ThreadPoolExecutor(8) as pool, httpx.Client(limits=httpx.Limits(max_connections=8)) as client:
        assert set(pool.map(lambda _: client.get(url).status_code, range(40))) == {200}

    # WHEN the database restarts, ending every pooled connection
    cluster.halt()
    cluster.resume()

    # THEN every following request succeeds: the dead connections are dropped before use, not failed on
    assert [httpx.get(url).status_code for _ in range(10)] == [200] * 10, server.logs()
    assert httpx.post(f"{server.url}/notes", json={"title": "after"}).status_code == 201
    assert "db.unavailable" not in [e["event"] for e in server.events()]


def test_while_the_database_is_stopped_requests_get_503_and_it_recovers_when_it_is_back(cluster, db, start_server):
    server = start_server(db.env() | {"DB_CONNECT_TIMEOUT_SECONDS": "2"})
    note = httpx.post(f"{server.url}/notes", json={"title": "waits"}).json()
    cluster.halt()
    try:
        response = httpx.get(f"{server.url}/notes/{note['id']}", timeout=10)
        assert (response.status_code, response.json()) == (503, {"detail": "database unavailable"})
        assert httpx.get(f"{server.url}/ready", timeout=10).json() == {"status": "unavailable", "reason": "database unavailable"}
    finally:
        cluster.resume()

    # The pool's next attempt (its backoff is at most 2 s while a slot retries) finds the database back.
    deadline = time.monotonic() + 10
    while httpx.get(f"{server.url}/ready").json() != {"status": "ready"}:
        assert time.monotonic() < deadline, f"not ready 10 s after the database came back:\n{server.logs()[-2000:]}"
        time.sleep(0.2)
    assert httpx.get(f"{server.url}/notes/{note['id']}").json()["title"] == "waits"


def test_while_the_database_is_stopped_a_request_gets_its_503_at_once_not_after_the_pool_timeout(cluster, db, start_server):
    server = start_server(db.env() | {"DB_CONNECT_TIMEOUT_SECONDS": "2", "DB_POOL_TIMEOUT_SECONDS": "10"})
    note = httpx.post(f"{server.url}/notes", json={"title": "waits"}).json()
    cluster.halt()
    try:
        httpx.get(f"{server.url}/notes/{note['id']}", timeout=60)  # the first one learns that the database is gone
        response = httpx.get(f"{server.url}/notes/{note['id']}", timeout=60)
    finally:
        cluster.resume()
    assert response.status_code == 503
    reasons = [e["reason"] for e in server.events() if e["event"] == "db.unavailable"]
    # Not "no connection within 10 s": it did not wait for DB_POOL_TIMEOUT_SECONDS.
    assert reasons and all(r.startswith("the database is unavailable; last connection attempt: ")
                           for r in reasons[1:]), reasons


def test_an_update_whose_connection_is_lost_mid_statement_is_retried_on_another(db, start_server):
    server = start_server(db.env())
    note = httpx.post(f"{server.url}/notes", json={"title": "before"}).json()
    # GIVEN an update waiting for a row lock
    with patch_waiting_on_a_row_lock(db, server.url, note, {"title": "after"}) as (blocker, observer, finish):
        waiting = "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE 'UPDATE notes%%'"
        pids = wait_for_rows(observer, waiting)

        # WHEN its connection is ended under it (as by a failover)
        observer.execute("SELECT pg_terminate_backend(%s)", pids[0])
        wait_for_rows(observer, waiting)  # the retry waits for the lock again, on a new connection
        blocker.commit()

    # THEN the update is applied once and answered 200
    response = finish(20)
    assert response.status_code == 200, server.logs()
    assert response.json()["title"] == "after"
    server.wait_for_event(lambda e: e["event"] == "db.connection_lost")


def wait_for_rows(connection, query: str, timeout: float = 10) -> list[tuple]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = connection.execute(query).fetchall()
        if rows:
            return rows
        time.sleep(0.05)
    pytest.fail(f"no rows for {query!r} within {timeout} s")

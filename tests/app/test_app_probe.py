"""POST /ready/probe, which the release calls after a deployment: it runs the notes endpoints' own queries on a
marker note in a transaction that is always rolled back, so a schema the code cannot use fails it (a 500 naming
the step) while /health and /ready stay green, and a working one leaves no trace."""

import contextlib

import httpx
import pytest

CHECKED = ["create", "read", "list", "update"]


def create(api, title: str) -> dict:
    response = api.post("/notes", json={"title": title, "body": f"{title}'s body"})
    assert response.status_code == 201, response.text
    return response.json()


def rows(db) -> list[tuple]:
    with db.connect() as c:
        return c.execute("SELECT * FROM notes ORDER BY id").fetchall()


def ids_taken(db) -> int:
    """The identity sequence's last value: it moves on for every insert, rolled back or not."""
    with db.connect() as c:
        return c.execute("SELECT last_value FROM pg_sequences WHERE sequencename = 'notes_id_seq'").fetchone()[0]


def every_listed_note(api) -> list[dict]:
    listed, after = [], 0
    while after is not None:
        page = api.get("/notes", params={"limit": 100, "after": after}).json()
        listed += page["items"]
        after = page["next_after"]
    return listed


@contextlib.contextmanager
def column_renamed(db, old: str, new: str):
    """A release's migration renamed a column that the running code still reads; put back afterwards."""
    with db.connect(autocommit=True) as c:
        c.execute(f"ALTER TABLE notes RENAME COLUMN {old} TO {new}")
        try:
            yield
        finally:
            c.execute(f"ALTER TABLE notes RENAME COLUMN {new} TO {old}")


def test_the_probe_checks_every_step_on_a_marker_and_leaves_the_notes_as_they_were(api, migrated_db):
    # GIVEN more notes than the default first page holds
    for i in range(25):
        create(api, f"kept {i}")
    before, ids_before = rows(migrated_db), ids_taken(migrated_db)

    response = api.post("/ready/probe")

    assert (response.status_code, response.json()) == (200, {"status": "ok", "checked": CHECKED})
    assert ids_taken(migrated_db) > ids_before  # the marker was inserted...
    assert rows(migrated_db) == before  # ...and rolled back: every row as it was, none added


def test_the_probe_leaves_no_marker_visible_to_get_notes(api):
    create(api, "a note of a user's")

    for _ in range(3):
        assert api.post("/ready/probe").status_code == 200

    titles = [note["title"] for note in every_listed_note(api)]
    assert "a note of a user's" in titles
    assert [title for title in titles if title.startswith("release probe")] == []


def test_with_a_column_the_code_reads_renamed_the_probe_is_500_naming_the_step_and_the_column(api, api_server, migrated_db):
    note = create(api, "written before the release")
    assert api.post("/ready/probe").status_code == 200

    with column_renamed(migrated_db, "body", "content"):
        response = api.post("/ready/probe")
        # What the probe is for: the shallow checks pass while every read of a note fails.
        assert api.get("/ready").status_code == 200
        # (On a connection of its own: after an unhandled error uvicorn closes the connection, and a kept-alive
        # client's next request on it would get a reset.)
        assert httpx.get(f"{api_server.url}/notes/{note['id']}", timeout=10).status_code == 500

    assert response.status_code == 500
    failing = response.json()
    assert (failing["status"], failing["step"]) == ("failing", "create")
    assert failing["reason"].startswith("UndefinedColumn: ")
    assert 'column "body"' in failing["reason"]
    assert len(failing["reason"].splitlines()) == 1
    assert migrated_db.password not in response.text and str(migrated_db.port) not in response.text
    entry = api_server.wait_for_event(lambda e: e["event"] == "probe.failing")
    assert (entry["level"], entry["path"], entry["step"], entry["reason"]) == ("ERROR", "/ready/probe", "create", failing["reason"])
    # Once the schema is back, so is the probe, and the failed one left nothing either.
    assert api.post("/ready/probe").json() == {"status": "ok", "checked": CHECKED}
    assert api.get(f"/notes/{note['id']}").json() == note
    assert [n for n in every_listed_note(api) if n["title"].startswith("release probe")] == []


def test_the_probe_is_in_the_schema_with_every_answer_it_gives(api):
    operation = api.get("/openapi.json").json()["paths"]["/ready/probe"]["post"]

    assert operation["tags"] == ["ops"]
    assert {status: answer["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
            for status, answer in operation["responses"].items()} == {"200": "Probe", "500": "ProbeFailing", "503": "NotReady"}


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_the_probe_takes_only_post(api, method):
    response = api.request(method, "/ready/probe")

    assert (response.status_code, response.headers["allow"]) == (405, "POST")

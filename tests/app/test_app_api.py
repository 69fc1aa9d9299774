"""The notes API, health and readiness, and request logs, against `python -m app serve` and a real PostgreSQL."""

from urllib.parse import quote

import pytest


def create(api, title="a note", body="its body") -> dict:
    response = api.post("/notes", json={"title": title, "body": body})
    assert response.status_code == 201, response.text
    return response.json()


def test_creating_a_note_returns_it_with_an_id_and_its_location(api):
    response = api.post("/notes", json={"title": "groceries", "body": "milk"})

    assert response.status_code == 201
    note = response.json()
    assert (note["title"], note["body"]) == ("groceries", "milk")
    assert response.headers["location"] == f"/notes/{note['id']}"
    assert note["created_at"] == note["updated_at"]


def test_a_created_note_can_be_read_back(api):
    note = create(api)

    assert api.get(f"/notes/{note['id']}").json() == note


def test_the_body_defaults_to_empty(api):
    response = api.post("/notes", json={"title": "title only"})

    assert response.json()["body"] == ""


def test_listing_pages_through_notes_in_id_order(api):
    # GIVEN five notes, the newest in the database
    ids = [create(api, title=f"page {i}")["id"] for i in range(5)]

    # WHEN listing two at a time from just before the first one
    pages, after = [], ids[0] - 1
    while after is not None:
        page = api.get("/notes", params={"limit": 2, "after": after}).json()
        pages.append([note["id"] for note in page["items"]])
        after = page["next_after"]

    # THEN every note comes once, in order, and the last page says there is no next one
    assert pages == [ids[0:2], ids[2:4], ids[4:5]]


def test_listing_defaults_to_twenty_notes_from_the_start(api):
    for i in range(21):
        create(api, title=f"bulk {i}")

    page = api.get("/notes").json()

    assert len(page["items"]) == 20
    assert page["next_after"] == page["items"][-1]["id"]


@pytest.mark.parametrize("params, field", [({"limit": 101}, "limit"), ({"limit": 0}, "limit"), ({"after": -1}, "after")])
def test_a_page_request_out_of_bounds_is_rejected_naming_the_parameter(api, params, field):
    response = api.get("/notes", params=params)

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", field]


def test_updating_a_note_changes_only_the_given_fields_and_its_update_time(api):
    note = create(api, title="before", body="kept")

    response = api.patch(f"/notes/{note['id']}", json={"title": "after"})

    assert response.status_code == 200
    updated = response.json()
    assert (updated["title"], updated["body"]) == ("after", "kept")
    assert updated["updated_at"] > note["updated_at"]
    assert api.get(f"/notes/{note['id']}").json() == updated


def test_a_deleted_note_is_gone(api):
    note = create(api)

    assert api.delete(f"/notes/{note['id']}").status_code == 204
    assert api.get(f"/notes/{note['id']}").status_code == 404


@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
def test_a_missing_note_is_404(api, method):
    response = api.request(method, "/notes/999999", json={"title": "x"} if method == "PATCH" else None)

    assert response.status_code == 404
    assert response.json() == {"detail": "note 999999 not found"}


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"body": "no title"}, "title"),
        ({"title": ""}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"title": "ok", "body": "x" * 10_001}, "body"),
        ({"title": "ok", "colour": "red"}, "colour"),
    ],
)
def test_an_invalid_note_is_rejected_with_422_naming_the_field(api, payload, field):
    response = api.post("/notes", json=payload)

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", field]


def test_an_update_cannot_null_the_title(api):
    note = create(api)

    response = api.patch(f"/notes/{note['id']}", json={"title": None})

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "title"]


@pytest.mark.parametrize("note_id", ["abc", "0", str(2**63)])
def test_an_id_that_cannot_be_a_note_is_rejected_with_422(api, note_id):
    response = api.get(f"/notes/{note_id}")

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["path", "note_id"]


def test_the_openapi_schema_describes_every_endpoint(api):
    paths = api.get("/openapi.json").json()["paths"]

    assert set(paths) == {"/health", "/ready", "/ready/probe", "/notes", "/notes/{note_id}"}
    assert set(paths["/notes/{note_id}"]) == {"get", "patch", "delete"}


def test_health_is_ok(api):
    assert api.get("/health").json() == {"status": "ok"}


def test_ready_is_200_when_the_database_answers(api):
    response = api.get("/ready")

    assert (response.status_code, response.json()) == (200, {"status": "ready"})


def test_each_request_is_logged_as_one_json_line_with_method_path_status_and_duration(api, api_server):
    note = create(api)

    api.get(f"/notes/{note['id']}")

    entry = api_server.wait_for_event(lambda e: e["event"] == "request" and e["path"] == f"/notes/{note['id']}")
    assert (entry["method"], entry["status"]) == ("GET", 200)
    assert entry["duration_ms"] > 0


def test_start_up_is_logged_as_json_without_the_password(api_server, migrated_db):
    logs = api_server.logs()

    events = [entry["event"] for entry in api_server.events()]
    assert "serve.start" in events
    assert "Application startup complete." in events
    assert migrated_db.password not in logs
    assert quote(migrated_db.password, safe="") not in logs

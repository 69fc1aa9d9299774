"""A client's mistake gets a small 4xx naming what is wrong, never a 500 and never its own input back."""

import json

import pytest

ID_MAX = 2**63 - 1


def post_raw(api, path: str, text: str, method: str = "POST"):
    return api.request(method, path, content=text.encode(), headers={"content-type": "application/json"})


def create(api, title="a note") -> dict:
    response = api.post("/notes", json={"title": title})
    assert response.status_code == 201, response.text
    return response.json()


@pytest.mark.parametrize(
    "field, escaped, problem",
    [
        ("title", r"a\u0000b", "NUL"),
        ("body", r"\u0000", "NUL"),
        ("title", r"\ud800", "valid string"),
        ("body", r"x\udfff", "valid string"),
    ],
)
def test_text_postgresql_cannot_store_or_utf8_cannot_encode_is_422_naming_the_field(api, field, escaped, problem):
    other = "body" if field == "title" else "title"
    response = post_raw(api, "/notes", f'{{"{field}": "{escaped}", "{other}": "ok"}}')

    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", field]
    assert problem in error["msg"]


def test_an_update_with_a_nul_is_422_and_leaves_the_note_as_it_was(api):
    note = create(api)

    response = post_raw(api, f"/notes/{note['id']}", r'{"body": "\u0000"}', method="PATCH")

    assert response.status_code == 422
    assert api.get(f"/notes/{note['id']}").json() == note


def test_a_valid_surrogate_pair_is_one_character_and_is_stored(api):
    response = post_raw(api, "/notes", r'{"title": "\ud83d\ude00"}')

    assert response.status_code == 201
    assert response.json()["title"] == "\U0001f600"


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_a_non_finite_number_is_422_not_500(api, number):
    response = post_raw(api, "/notes", f'{{"title": {number}}}')

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "title"]


def test_a_non_finite_number_in_an_unknown_field_is_422_not_500(api):
    response = post_raw(api, "/notes", '{"title": "ok", "colour": NaN}')

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "colour"]


@pytest.mark.parametrize("after", [str(ID_MAX + 1), str(2**64), "9" * 30])
def test_a_cursor_beyond_the_id_column_is_422_naming_it(api, after):
    response = api.get("/notes", params={"after": after})

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "after"]


def test_the_largest_cursor_the_id_column_holds_is_an_empty_last_page(api):
    response = api.get("/notes", params={"after": ID_MAX})

    assert (response.status_code, response.json()) == (200, {"items": [], "next_after": None})


def test_a_validation_error_does_not_repeat_the_input(api):
    title = "secret-looking-input-" * 5_000  # about 100 KB: below the body limit, far above the title's

    response = api.post("/notes", json={"title": title})

    assert response.status_code == 422
    assert "secret-looking-input" not in response.text
    assert set(response.json()["detail"][0]) == {"type", "loc", "msg"}
    assert len(response.content) < 1_000


def test_a_validation_error_lists_at_most_ten_problems_however_many_there_are(api):
    payload = {"title": "ok"} | {f"extra_{i}": i for i in range(1_000)}

    response = api.post("/notes", json=payload)

    assert response.status_code == 422
    assert len(response.json()["detail"]) == 10


def test_a_long_unknown_field_name_is_cut_short_in_the_error(api):
    response = api.post("/notes", json={"title": "ok", "k" * 50_000: 1})

    assert response.status_code == 422
    [name] = response.json()["detail"][0]["loc"][1:]
    assert name.startswith("kkk") and len(name) <= 200


def test_a_field_named_with_a_lone_surrogate_is_422_not_500(api):
    response = post_raw(api, "/notes", r'{"title": "ok", "\ud800": 1}')

    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "string_unicode"


def test_a_body_that_is_not_utf8_is_400_as_documented(api):
    response = api.post("/notes", content=b'{"title": "\xff"}', headers={"content-type": "application/json"})

    assert (response.status_code, response.json()) == (400, {"detail": "There was an error parsing the body"})
    assert "400" in api.get("/openapi.json").json()["paths"]["/notes"]["post"]["responses"]


def test_malformed_json_is_422_with_the_position(api):
    response = post_raw(api, "/notes", '{"title": ')

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", 10]


@pytest.mark.parametrize("path, allowed", [("/notes", "GET, POST"), ("/notes/1", "DELETE, GET, PATCH")])
def test_a_method_not_allowed_answer_lists_every_method_the_path_takes(api, path, allowed):
    response = api.request("PUT", path)

    assert response.status_code == 405
    assert response.headers["allow"] == allowed


@pytest.mark.parametrize(
    "method, path, statuses",
    [
        ("post", "/notes", {"201", "400", "413", "422", "503"}),
        ("get", "/notes", {"200", "422", "503"}),
        ("get", "/notes/{note_id}", {"200", "404", "422", "503"}),
        ("patch", "/notes/{note_id}", {"200", "400", "404", "413", "422", "503"}),
        ("delete", "/notes/{note_id}", {"204", "404", "422", "503"}),
        ("get", "/ready", {"200", "503"}),
        ("post", "/ready/probe", {"200", "500", "503"}),
    ],
)
def test_the_schema_documents_every_status_an_operation_answers(api, method, path, statuses):
    responses = api.get("/openapi.json").json()["paths"][path][method]["responses"]

    assert set(responses) == statuses


def test_the_schema_tells_clients_that_text_may_not_contain_nul(api):
    schemas = api.get("/openapi.json").json()["components"]["schemas"]

    assert schemas["NoteIn"]["properties"]["title"]["pattern"] == "^[^\x00]*$"
    assert json.dumps(schemas["NotePatch"]["properties"]["body"]["pattern"]) == r'"^[^\u0000]*$"'

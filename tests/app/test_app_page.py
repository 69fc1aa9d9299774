"""The page at `/`: the latest notes and a plain HTML form that adds one, from this site only."""

import re
from urllib.parse import urlencode

import pytest

from app.page import parse_form, same_origin, FormError

FORM = {"content-type": "application/x-www-form-urlencoded"}


def post_form(api, fields: dict, **headers):
    return api.post("/", content=urlencode(fields).encode(), headers=FORM | headers)


def test_the_page_is_html_with_a_form_that_posts_to_itself(api):
    response = api.get("/")

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert '<form method="post" action="/">' in response.text
    assert 'name="title"' in response.text and 'name="body"' in response.text


def test_the_page_loads_nothing_from_elsewhere(api):
    response = api.get("/")

    assert not re.search(r"<(script|link|img|iframe)\b|@import|url\(|https?://", response.text)
    assert "default-src 'none'" in response.headers["content-security-policy"]


def test_the_page_allows_only_its_own_inline_style(api):
    response = api.get("/")

    policy = response.headers["content-security-policy"]
    assert "style-src 'sha256-" in policy and "unsafe-inline" not in policy
    assert "form-action 'self'" in policy


def test_adding_a_note_through_the_form_redirects_to_the_page_which_shows_it(api):
    response = post_form(api, {"title": "from the form", "body": "line one\nline two"})

    assert (response.status_code, response.headers["location"]) == (303, "/")
    assert "from the form" in api.get("/").text
    assert any(n["title"] == "from the form" for n in api.get("/notes", params={"limit": 100}).json()["items"])


def test_the_page_lists_the_newest_notes_first(api):
    api.post("/notes", json={"title": "older"})
    api.post("/notes", json={"title": "newer"})

    text = api.get("/").text

    assert text.index("newer") < text.index("older")


def test_the_page_lists_at_most_the_default_page_size(api):
    for i in range(25):
        api.post("/notes", json={"title": f"many {i}"})

    assert api.get("/").text.count("<article>") == 20


def test_note_text_is_escaped_on_the_page(api):
    api.post("/notes", json={"title": "<script>alert(1)</script>", "body": '"><img src=x onerror=alert(1)>'})

    text = api.get("/").text

    assert "<script>alert(1)" not in text and "<img src=x" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text


def test_an_invalid_form_is_422_showing_the_problem_and_keeping_what_was_typed(api):
    response = post_form(api, {"title": "", "body": "<b>kept</b>"})

    assert response.status_code == 422
    assert 'class="error">title: ' in response.text
    assert "&lt;b&gt;kept&lt;/b&gt;" in response.text


def test_a_form_title_with_a_nul_is_422_not_500(api):
    response = post_form(api, {"title": "a\x00b"})

    assert response.status_code == 422
    assert "NUL" in response.text


@pytest.mark.parametrize("content_type", ["application/json", "multipart/form-data; boundary=x", "text/plain"])
def test_the_form_takes_only_urlencoded_bodies(api, content_type):
    response = api.post("/", content=b"title=x", headers={"content-type": content_type})

    assert response.status_code == 415


@pytest.mark.parametrize(
    "headers",
    [
        {"origin": "https://evil.example"},
        {"origin": "null"},
        {"referer": "https://evil.example/page"},
        {"sec-fetch-site": "cross-site"},
    ],
)
def test_a_form_posted_from_another_site_is_403_and_adds_nothing(api, headers):
    before = api.get("/notes", params={"limit": 100}).json()["items"]

    response = post_form(api, {"title": "cross-site"}, **headers)

    assert response.status_code == 403
    assert api.get("/notes", params={"limit": 100}).json()["items"] == before


def test_a_form_posted_from_the_page_itself_is_accepted(api):
    origin = str(api.base_url).rstrip("/")

    headers = {"origin": origin, "referer": origin + "/", "sec-fetch-site": "same-origin"}

    response = post_form(api, {"title": "same origin"}, **headers)

    assert response.status_code == 303


@pytest.mark.parametrize("body", [b"title=a&title=b", b"title=%FF", "title=\u00e9".encode(), b"&".join([b"a=1"] * 20)])
def test_a_body_no_browser_form_would_send_is_422(api, body):
    assert api.post("/", content=body, headers=FORM).status_code == 422


def test_the_page_is_not_part_of_the_json_api_schema(api):
    assert "/" not in api.get("/openapi.json").json()["paths"]


# --- the same-origin rule, without a server ----------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},  # curl or a script: no browser, no cross-site form
        {"host": "notes.example", "origin": "https://notes.example"},  # TLS ends at the load balancer
        {"host": "notes.example:443", "origin": "https://notes.example"},
        {"host": "127.0.0.1:8080", "origin": "http://127.0.0.1:8080"},
        {"host": "[::1]:8080", "origin": "http://[::1]:8080"},
        {"host": "Notes.Example", "referer": "http://notes.example/?q=1"},
        {"host": "notes.example", "sec-fetch-site": "same-origin"},
        {"host": "notes.example", "sec-fetch-site": "none"},
    ],
)
def test_same_origin_accepts(headers):
    assert same_origin(headers)


@pytest.mark.parametrize(
    "headers",
    [
        {"host": "notes.example", "origin": "https://evil.example"},
        {"host": "notes.example", "origin": "https://notes.example:8443"},
        {"host": "notes.example:8080", "origin": "http://notes.example"},
        {"host": "notes.example", "origin": "null"},
        {"host": "notes.example", "origin": "ftp://notes.example"},
        {"host": "notes.example", "origin": "http://notes.example:99999"},
        {"host": "notes.example", "referer": "https://evil.example/notes.example"},
        {"host": "notes.example", "origin": "https://evil.example", "referer": "https://notes.example/"},
        {"host": "notes.example", "sec-fetch-site": "same-site", "origin": "https://notes.example"},
        {"host": "notes.example", "sec-fetch-site": "cross-site"},
    ],
)
def test_same_origin_refuses(headers):
    assert not same_origin(headers)


def test_a_form_field_is_decoded_from_percent_encoded_utf8():
    assert parse_form(b"title=caf%C3%A9+au+lait&body=") == {"title": "café au lait", "body": ""}


def test_a_form_field_given_twice_is_refused():
    with pytest.raises(FormError, match="once"):
        parse_form(b"title=a&title=b")

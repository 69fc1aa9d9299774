"""What one request may cost is bounded before it is parsed: the body's size (413) and the page's size (422)."""

import asyncio
import json
import socket
from urllib.parse import urlencode, urlsplit

import httpx
import pytest

from app.limits import DeclaredBodyLimit

LIMIT = 2048  # MAX_BODY_BYTES of the small server below


@pytest.fixture(scope="module")
def small_server(start_module_server, migrated_db):
    """A server with small limits, so that the edges are cheap to reach."""
    env = migrated_db.env() | {"MAX_BODY_BYTES": str(LIMIT), "MAX_PAGE_SIZE": "5", "DEFAULT_PAGE_SIZE": "3"}
    return start_module_server(env)


@pytest.fixture(scope="module")
def small(small_server):
    with httpx.Client(base_url=small_server.url, timeout=10) as client:
        yield client


def raw_exchange(url: str, head: str, *body_parts: bytes) -> bytes:
    """Sends a request's head and the given body parts, never the rest, and returns the status line and headers.

    A server that waited for the whole body would never answer: the read times out and the test fails.
    """
    address = urlsplit(url)
    with socket.create_connection((address.hostname, address.port), timeout=10) as connection:
        connection.sendall(head.encode() + b"".join(body_parts))
        received = b""
        while b"\r\n\r\n" not in received:
            chunk = connection.recv(65536)
            if not chunk:
                break
            received += chunk
    return received.split(b"\r\n\r\n")[0]


def json_body_of_size(size: int) -> bytes:
    body = b'{"title": "padded"}'
    return body + b" " * (size - len(body))  # JSON allows trailing whitespace


def test_a_body_of_exactly_the_limit_is_accepted(small):
    response = small.post("/notes", content=json_body_of_size(LIMIT), headers={"content-type": "application/json"})

    assert response.status_code == 201


def test_a_body_one_byte_over_the_limit_is_413_with_a_short_answer(small):
    response = small.post("/notes", content=json_body_of_size(LIMIT + 1), headers={"content-type": "application/json"})

    assert (response.status_code, response.json()) == (413, {"detail": "Content Too Large"})


def test_a_declared_length_over_the_limit_is_413_before_any_of_the_body_is_sent(small):
    head = (
        "POST /notes HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
        "Content-Length: 20000000\r\n\r\n"
    )

    answer = raw_exchange(str(small.base_url), head)

    assert answer.startswith(b"HTTP/1.1 413 ")


def test_a_chunked_body_is_413_as_soon_as_it_passes_the_limit_without_waiting_for_its_end(small):
    head = "POST /notes HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    chunk = b"400\r\n" + b" " * 0x400 + b"\r\n"  # 1 KiB each; the terminating chunk is never sent

    answer = raw_exchange(str(small.base_url), head, chunk, chunk, chunk)

    assert answer.startswith(b"HTTP/1.1 413 ")


def test_a_refused_body_is_in_the_request_log_as_413(small, small_server):
    small.put("/notes/413", content=b"x" * (LIMIT + 1))

    entry = small_server.wait_for_event(lambda e: e["event"] == "request" and e["path"] == "/notes/413")
    assert (entry["method"], entry["status"]) == ("PUT", 413)


def test_the_server_keeps_serving_after_refusing_a_large_body(small):
    raw_exchange(str(small.base_url), "POST /notes HTTP/1.1\r\nHost: t\r\nContent-Length: 9999999\r\n\r\n")

    assert small.get("/health").status_code == 200


def test_the_default_limit_admits_the_largest_note_in_its_longest_json_encoding(api):
    # Every character outside the BMP: twelve bytes each as a JSON escape pair
    title, body = "\U0001f600" * 200, "\U0001f600" * 10_000
    payload = json.dumps({"title": title, "body": body}).encode()
    assert len(payload) > 120_000

    response = api.post("/notes", content=payload, headers={"content-type": "application/json"})

    assert response.status_code == 201
    assert (response.json()["title"], response.json()["body"]) == (title, body)


def test_the_default_limit_admits_the_largest_note_in_its_longest_form_encoding(api):
    form = urlencode({"title": "\U0001f600" * 200, "body": "\U0001f600" * 10_000}).encode()
    assert len(form) > 120_000

    response = api.post("/", content=form, headers={"content-type": "application/x-www-form-urlencoded"})

    assert response.status_code == 303


def test_a_page_larger_than_the_maximum_page_size_is_422_naming_limit(small):
    assert small.get("/notes", params={"limit": 5}).status_code == 200

    response = small.get("/notes", params={"limit": 6})

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "limit"]


def test_a_page_has_the_default_page_size_when_no_limit_is_given(small):
    for i in range(4):
        small.post("/notes", json={"title": f"page size {i}"})

    assert len(small.get("/notes").json()["items"]) == 3


def test_the_schema_states_the_configured_page_sizes(small):
    parameters = small.get("/openapi.json").json()["paths"]["/notes"]["get"]["parameters"]

    [limit] = [p for p in parameters if p["name"] == "limit"]

    assert (limit["schema"]["maximum"], limit["schema"]["default"]) == (5, 3)


# b"\xb2" reads as "²" (headers are latin-1): a digit to str.isdigit(), not to int()
@pytest.mark.parametrize("declared, answered_by", [(b"2049", "limit"), (b"2048", "app"), (b"\xb2", "app"), (b"", "app")])
def test_the_declared_length_check_answers_only_numbers_above_the_bound(declared, answered_by):
    sent = []

    async def app(scope, receive, send):
        sent.append("app")

    async def send(message):
        if message["type"] == "http.response.start":
            sent.append(("limit", message["status"]))

    scope = {"type": "http", "headers": [(b"content-length", declared)]}
    asyncio.run(DeclaredBodyLimit(app, max_body_size=LIMIT)(scope, None, send))

    assert sent == (["app"] if answered_by == "app" else [("limit", 413)])

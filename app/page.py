"""A page for people at `/`: the latest notes and a form to add one, plain HTML that needs no JavaScript.

Nothing is loaded from elsewhere (it works offline). The form posts to `/`, which answers 303 back
to the page. As the page needs no cookie there is no session to ride, but a cross-site form could
still write notes: POST / takes only a same-origin form (see `same_origin`).
"""

import base64
import hashlib
import logging
from datetime import timezone
from html import escape
from urllib.parse import parse_qsl, urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError

from app import notes
from app.errors import bounded
from app.models import BODY_MAX, TITLE_MAX
from app.pool import Pool
from app.schemas import NoteIn

log = logging.getLogger(__name__)

FORM_TYPE = "application/x-www-form-urlencoded"
DEFAULT_PORTS = {"http": 80, "https": 443}

STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:42rem;margin:2rem auto;padding:0 1rem;color:#222}"
    "form{display:grid;gap:.5rem;margin-bottom:2rem}input,textarea{font:inherit;padding:.4rem}"
    "textarea{min-height:6rem}.error{color:#a00}article{border-top:1px solid #ddd;padding:.5rem 0}"
    "article p{white-space:pre-wrap;margin:.3rem 0}time{color:#666;font-size:.85rem}"
)
# The only thing the page may use: its own inline style, and its own form (form-action 'self').
STYLE_HASH = base64.b64encode(hashlib.sha256(STYLE.encode()).digest()).decode()
HEADERS = {
    "Content-Security-Policy": f"default-src 'none'; style-src 'sha256-{STYLE_HASH}'; form-action 'self'; "
    "base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


class FormError(ValueError):
    """The body is not a form this page could have sent."""


def same_origin(headers) -> bool:
    """Whether a POST comes from this site's own page, as far as the browser tells (RFC 6454 / Fetch Metadata).

    Browsers send Origin (or at least Referer) with a form POST; a request with neither is not a
    browser's cross-site form, so it is allowed (curl, scripts). Compared with the Host header by
    host and port only: behind the load balancer the page is HTTPS while the app sees HTTP.
    """
    if headers.get("sec-fetch-site") in ("cross-site", "same-site"):
        return False
    source = headers.get("origin") or headers.get("referer")
    if source is None:
        return True
    try:
        claimed = urlsplit(source)
        served = urlsplit("//" + headers.get("host", ""))
        default = DEFAULT_PORTS.get(claimed.scheme)
        if default is None or not claimed.hostname:
            return False  # "null" (a sandboxed or privacy-sensitive context) or not a web origin
        return (claimed.hostname, claimed.port or default) == (served.hostname, served.port or default)
    except ValueError:  # a port that is not a number
        return False


def parse_form(body: bytes) -> dict[str, str]:
    """The fields of an application/x-www-form-urlencoded body; each field at most once."""
    try:
        # Browsers percent-encode everything outside ASCII; the encoded bytes must be UTF-8.
        text = body.decode("ascii")
        pairs = parse_qsl(text, keep_blank_values=True, encoding="utf-8", errors="strict", max_num_fields=8)
    except (UnicodeDecodeError, ValueError):
        raise FormError("the form must be percent-encoded UTF-8 with at most a few fields") from None
    fields = dict(pairs)
    if len(fields) != len(pairs):
        raise FormError("each field may be given once")
    return fields


def render(latest: list[dict], errors: list[str] = (), title: str = "", body: str = "") -> str:
    problems = "".join(f'<p class="error">{escape(problem)}</p>' for problem in errors)
    items = "".join(
        f"<article><h2>{escape(n['title'])}</h2><p>{escape(n['body'])}</p>"
        f'<time datetime="{n["created_at"].isoformat()}">{n["created_at"].astimezone(timezone.utc):%Y-%m-%d %H:%M} UTC</time>'
        "</article>"
        for n in latest
    ) or "<p>No notes yet.</p>"
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Notes</title><style>{STYLE}</style></head><body><h1>Notes</h1>"
        f'<form method="post" action="/">{problems}'
        f'<label for="title">Title</label><input id="title" name="title" required maxlength="{TITLE_MAX}" '
        f'value="{escape(title[:TITLE_MAX])}">'
        f'<label for="body">Text</label><textarea id="body" name="body" maxlength="{BODY_MAX}">'
        f"{escape(body[:BODY_MAX])}</textarea><button>Add note</button></form>"
        f"<h2>Latest notes</h2>{items}</body></html>"
    )


def page(content: str, status_code: int = 200) -> HTMLResponse:
    return HTMLResponse(content, status_code=status_code, headers=HEADERS)


def message(text: str, status_code: int) -> HTMLResponse:
    return page(f"<!doctype html><title>Notes</title><p>{escape(text)}</p><p><a href=\"/\">Back</a></p>", status_code)


def routes(db: Pool, latest_count: int) -> APIRouter:
    # Not in the OpenAPI schema: the JSON API stays exactly what it was.
    router = APIRouter(include_in_schema=False)

    @router.get("/")
    async def show() -> HTMLResponse:
        return page(render(await notes.latest(db, latest_count)))

    @router.post("/")
    async def add(request: Request) -> HTMLResponse:
        media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type != FORM_TYPE:
            return message(f"This address takes a form ({FORM_TYPE}).", 415)
        if not same_origin(request.headers):
            log.warning("page.cross_origin_post", extra={"origin": bounded(request.headers.get("origin", ""))})
            return message("A note can only be added from this site's own page.", 403)
        try:
            fields = parse_form(await request.body())
        except FormError as e:
            return message(f"Not added: {e}.", 422)
        try:
            note = NoteIn.model_validate(fields)
        except ValidationError as invalid:
            problems = [
                bounded(f"{'.'.join(map(str, e['loc']))}: {e['msg'].removeprefix('Value error, ')}")
                for e in invalid.errors()[:10]
            ]
            latest = await notes.latest(db, latest_count)
            typed = {k: v for k, v in fields.items() if k in ("title", "body")}
            return page(render(latest, problems, **typed), 422)
        await notes.add(db, note)
        return RedirectResponse("/", status_code=303)

    return router

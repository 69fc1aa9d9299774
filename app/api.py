"""The HTTP API: notes CRUD, liveness, readiness and the schema probe, the page at `/`, and one log line per request."""

import logging
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, get_args

from fastapi import FastAPI, HTTPException, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from psycopg import OperationalError

from app import errors, limits, notes, page
from app.db import DatabaseUnavailable
from app.log import RequestLine
from app.models import ID_MAX
from app.pool import Pool, PoolTimeout, Transaction
from app.schemas import (
    Health, NoteIn, NoteOut, NotePage, NotePatch, NotReady, Probe, ProbeFailing, ProbeStep, Problem, Ready,
)
from app.settings import Settings

log = logging.getLogger(__name__)

DB_UNAVAILABLE = (OperationalError, PoolTimeout, DatabaseUnavailable)
NoteId = Annotated[int, Path(ge=1, le=ID_MAX)]
HEALTHY = b'{"status":"ok"}'
NOT_READY = {"status": "unavailable", "reason": "database unavailable"}
PROBE_STEPS: tuple[ProbeStep, ...] = get_args(ProbeStep)
PROBE_ANSWERS = {
    200: {"model": Probe, "description": "Every step worked and gave back the note as written"},
    500: {"model": ProbeFailing, "description": "A step failed: the code and the database's schema disagree"},
    503: {"model": NotReady, "description": "The database cannot be used right now"},
}

# Every answer the operations can give, so that clients (and schemathesis) know them all.
UNAVAILABLE = {503: {"model": Problem, "description": "The database cannot be used right now"}}
MISSING = {404: {"model": Problem, "description": "No note with this id"}}
BODY = {
    400: {"model": Problem, "description": "The body is not UTF-8 JSON"},
    413: {"model": Problem, "description": "The body is larger than MAX_BODY_BYTES"},
}


def reason(error: Exception) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


class RequestLog:
    """Pure ASGI middleware: cheaper than BaseHTTPMiddleware, and sees the final status."""

    def __init__(self, app):
        self.app = app
        self.write = RequestLine()

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start, status = time.perf_counter(), 500

        async def send_and_record(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_record)
        finally:
            self.write(scope["method"], scope["path"], status, round((time.perf_counter() - start) * 1000, 2))


def found(note: dict | None, note_id: int) -> dict:
    if note is None:
        raise HTTPException(404, f"note {note_id} not found")
    return note


async def note_page(db: notes.Db, after: int, limit: int) -> dict:
    """GET /notes's answer: `limit` notes with an id above `after`, and the cursor of the next page."""
    # Keyset pagination: stable and cheap however deep the page.
    rows = await notes.page(db, after, limit + 1)
    more = len(rows) > limit
    return {"items": rows[:limit], "next_after": rows[limit - 1]["id"] if more else None}


class ProbeMismatch(Exception):
    """A probe step ran, but did not answer with the note that was written."""


def as_written(row: dict | None, title: str, body: str) -> NoteOut:
    """The row as the endpoints answer it (validated into NoteOut), if it is the note with this title and body."""
    if row is None:
        raise ProbeMismatch("the marker note is missing in its own transaction")
    note = NoteOut.model_validate(row)
    if (note.title, note.body) != (title, body):
        raise ProbeMismatch("the marker note read back differs from what was written")
    return note


async def probe_steps(db: Transaction, page_size: int) -> AsyncIterator[ProbeStep]:
    """Creates, reads, lists and updates a marker note through the notes endpoints' own code, naming each step
    before it runs; raises at the first step that fails or does not give back the note as written."""
    title, body = f"release probe {uuid.uuid4()}", "written by POST /ready/probe, never committed"
    yield "create"  # POST /notes
    note = as_written(await notes.add(db, NoteIn(title=title, body=body)), title, body)
    yield "read"  # GET /notes/{id}
    if as_written(await notes.get(db, note.id), title, body) != note:
        raise ProbeMismatch("the marker note read back differs from the one created")
    yield "list"  # GET /notes, from just before the marker so that the page holds it whatever else is there
    listed = NotePage.model_validate(await note_page(db, note.id - 1, page_size)).items
    if not listed or listed[0] != note:
        raise ProbeMismatch("the marker note is not on the page listed from its id")
    yield "update"  # PATCH /notes/{id}
    changes = NotePatch(title=f"{title} updated", body=f"{body}, updated").model_dump(exclude_unset=True)
    updated = as_written(await notes.update(db, note.id, changes), changes["title"], changes["body"])
    if updated.id != note.id:
        raise ProbeMismatch("the update answered with another note")


def create_app(settings: Settings) -> FastAPI:
    db = Pool(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await db.open()  # connects in the background: the app starts (and /health answers) with the database down
        yield
        await db.close()

    app = FastAPI(title="Notes", version="1.0.0", lifespan=lifespan)
    app.state.db = db
    limits.install(app, settings.max_body_bytes)
    app.add_middleware(RequestLog)  # the outermost: it logs the 413s too
    errors.install(app)

    async def database_unavailable(request: Request, error: Exception) -> JSONResponse:
        log.warning("db.unavailable", extra={"path": request.url.path, "reason": reason(error)})
        if request.url.path == "/":
            return page.message("The database is unavailable; please try again in a moment.", 503)
        return JSONResponse({"detail": "database unavailable"}, status_code=503)

    for error in DB_UNAVAILABLE:
        app.add_exception_handler(error, database_unavailable)

    @app.get("/health", tags=["ops"], response_model=None, responses={200: {"model": Health}})
    async def health() -> Response:
        """Liveness for the load balancer: never touches the database."""
        return Response(HEALTHY, media_type="application/json")  # the most frequent request: nothing to encode

    @app.get("/ready", tags=["ops"], responses={200: {"model": Ready}, 503: {"model": NotReady}})
    async def ready() -> JSONResponse:
        try:
            async with db.connection() as connection:
                await connection.execute("SELECT 1")
        except DB_UNAVAILABLE as e:
            # The detail (the database's address, the driver's words) is for the log, not the caller.
            log.warning("db.unavailable", extra={"path": "/ready", "reason": reason(e)})
            return JSONResponse(NOT_READY, status_code=503)
        return JSONResponse({"status": "ready"})

    @app.post("/ready/probe", tags=["ops"], responses=PROBE_ANSWERS)
    async def probe() -> JSONResponse:
        """For the release after a deployment: proves that the code and the database's schema agree by creating,
        reading, listing and updating a marker note through the notes endpoints' own queries, in one transaction
        that is always rolled back (no one else ever sees the marker, and nothing is left)."""
        checked: list[ProbeStep] = []
        step = PROBE_STEPS[0]
        try:
            async with db.rolled_back() as transaction:
                async for step in probe_steps(transaction, settings.default_page_size):
                    checked.append(step)
        except DB_UNAVAILABLE as e:
            log.warning("db.unavailable", extra={"path": "/ready/probe", "reason": reason(e)})
            return JSONResponse(NOT_READY, status_code=503)
        except Exception as e:
            # The class and the database's first line name the problem (an undefined column, say) but no address.
            failure = {"status": "failing", "step": step, "reason": f"{type(e).__name__}: {reason(e)}"}
            log.error("probe.failing", extra={"path": "/ready/probe", "step": step, "reason": failure["reason"]},
                      exc_info=True)
            return JSONResponse(failure, status_code=500)
        return JSONResponse({"status": "ok", "checked": checked})

    # Every handler is `async def`: no thread pool, and a connection is held only while its statement runs.
    @app.post("/notes", status_code=201, tags=["notes"], responses=BODY | UNAVAILABLE)
    async def create_note(note: NoteIn, response: Response) -> NoteOut:
        row = await notes.add(db, note)
        response.headers["Location"] = f"/notes/{row['id']}"
        return row

    @app.get("/notes", tags=["notes"], responses=UNAVAILABLE)
    async def list_notes(
        limit: Annotated[int, Query(ge=1, le=settings.max_page_size)] = settings.default_page_size,
        after: Annotated[int, Query(ge=0, le=ID_MAX, description="Return notes with an id above this one.")] = 0,
    ) -> NotePage:
        return await note_page(db, after, limit)

    @app.get("/notes/{note_id}", tags=["notes"], responses=MISSING | UNAVAILABLE)
    async def read_note(note_id: NoteId) -> NoteOut:
        return found(await notes.get(db, note_id), note_id)

    @app.patch("/notes/{note_id}", tags=["notes"], responses=BODY | MISSING | UNAVAILABLE)
    async def update_note(note_id: NoteId, changes: NotePatch) -> NoteOut:
        return found(await notes.update(db, note_id, changes.model_dump(exclude_unset=True)), note_id)

    @app.delete("/notes/{note_id}", status_code=204, tags=["notes"], responses=MISSING | UNAVAILABLE)
    async def delete_note(note_id: NoteId) -> None:
        if not await notes.delete(db, note_id):
            raise HTTPException(404, f"note {note_id} not found")

    app.include_router(page.routes(db, settings.default_page_size))
    return app

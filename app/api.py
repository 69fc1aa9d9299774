"""The HTTP API: notes CRUD, liveness and readiness, the page at `/`, and one log line per request."""

import logging
import time
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import FastAPI, HTTPException, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from psycopg import OperationalError

from app import errors, limits, notes, page
from app.db import DatabaseUnavailable
from app.log import RequestLine
from app.models import ID_MAX
from app.pool import Pool, PoolTimeout
from app.schemas import Health, NoteIn, NoteOut, NotePage, NotePatch, NotReady, Problem, Ready
from app.settings import Settings

log = logging.getLogger(__name__)

DB_UNAVAILABLE = (OperationalError, PoolTimeout, DatabaseUnavailable)
NoteId = Annotated[int, Path(ge=1, le=ID_MAX)]
HEALTHY = b'{"status":"ok"}'

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
            return JSONResponse({"status": "unavailable", "reason": "database unavailable"}, status_code=503)
        return JSONResponse({"status": "ready"})

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
        # Keyset pagination: stable and cheap however deep the page.
        rows = await notes.page(db, after, limit + 1)
        more = len(rows) > limit
        return {"items": rows[:limit], "next_after": rows[limit - 1]["id"] if more else None}

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

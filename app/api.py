"""The HTTP API: notes CRUD, liveness and readiness, and one log line per request."""

import logging
import time
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Annotated

from fastapi import FastAPI, HTTPException, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session

from app.db import Database, DatabaseUnavailable
from app.models import BODY_MAX, TITLE_MAX, Note
from app.settings import Settings

log = logging.getLogger(__name__)
request_log = logging.getLogger("app.request")

DB_UNAVAILABLE = (OperationalError, PoolTimeout, DatabaseUnavailable)
NoteId = Annotated[int, Path(ge=1, le=2**63 - 1)]


class NoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str = Field(min_length=1, max_length=TITLE_MAX)
    body: str = Field("", max_length=BODY_MAX)


class NotePatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # The defaults are not validated, so an explicit null is still rejected.
    title: str = Field(None, min_length=1, max_length=TITLE_MAX)
    body: str = Field(None, max_length=BODY_MAX)


class NoteOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    title: str
    body: str
    created_at: datetime
    updated_at: datetime


class NotePage(BaseModel):
    items: list[NoteOut]
    next_after: int | None = Field(description="Pass as `after` for the next page; null on the last page.")


def reason(error: Exception) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


class RequestLog:
    """Pure ASGI middleware: cheaper than BaseHTTPMiddleware, and sees the final status."""

    def __init__(self, app):
        self.app = app

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
            duration_ms = round((time.perf_counter() - start) * 1000, 2)
            extra = {"method": scope["method"], "path": scope["path"], "status": status, "duration_ms": duration_ms}
            request_log.info("request", extra=extra)


def get_note(session: Session, note_id: int) -> Note:
    note = session.get(Note, note_id)
    if note is None:
        raise HTTPException(404, f"note {note_id} not found")
    return note


def create_app(settings: Settings, db: Database | None = None) -> FastAPI:
    db = db or Database(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        db.engine.dispose()

    app = FastAPI(title="Notes", version="1.0.0", lifespan=lifespan)
    app.state.db = db
    app.add_middleware(RequestLog)

    async def database_unavailable(request: Request, error: Exception) -> JSONResponse:
        log.warning("db.unavailable", extra={"path": request.url.path, "reason": reason(error)})
        return JSONResponse({"detail": "database unavailable"}, status_code=503)

    for error in DB_UNAVAILABLE:
        app.add_exception_handler(error, database_unavailable)

    @app.get("/health", tags=["ops"])
    async def health() -> dict:
        """Liveness for the load balancer: never touches the database."""
        return {"status": "ok"}

    @app.get("/ready", tags=["ops"], responses={503: {"description": "The database is not usable"}})
    def ready() -> JSONResponse:
        try:
            with db.connect() as connection:
                connection.execute(text("SELECT 1"))
        except DB_UNAVAILABLE as e:
            return JSONResponse({"status": "unavailable", "reason": reason(e)}, status_code=503)
        return JSONResponse({"status": "ready"})

    # Each handler takes its connection in the worker thread it runs in. A connection taken by a
    # yield-dependency, in a thread of its own, can deadlock the thread pool once the pool of
    # connections is exhausted: waiting checkouts then hold every thread the holders need.
    @app.post("/notes", status_code=201, tags=["notes"])
    def create_note(note: NoteIn, response: Response) -> NoteOut:
        with db.session() as session:
            row = Note(**note.model_dump())
            session.add(row)
            session.commit()
        response.headers["Location"] = f"/notes/{row.id}"
        return row

    @app.get("/notes", tags=["notes"])
    def list_notes(
        limit: Annotated[int, Query(ge=1, le=100)] = 20,
        after: Annotated[int, Query(ge=0, description="Return notes with an id above this one.")] = 0,
    ) -> NotePage:
        # Keyset pagination: stable and cheap however deep the page.
        with db.session() as session:
            rows = session.scalars(select(Note).where(Note.id > after).order_by(Note.id).limit(limit + 1)).all()
        more = len(rows) > limit
        return NotePage(items=rows[:limit], next_after=rows[limit - 1].id if more else None)

    @app.get("/notes/{note_id}", tags=["notes"])
    def read_note(note_id: NoteId) -> NoteOut:
        with db.session() as session:
            return get_note(session, note_id)

    @app.patch("/notes/{note_id}", tags=["notes"])
    def update_note(note_id: NoteId, changes: NotePatch) -> NoteOut:
        with db.session() as session:
            note = get_note(session, note_id)
            for field, value in changes.model_dump(exclude_unset=True).items():
                setattr(note, field, value)
            session.commit()
            return note

    @app.delete("/notes/{note_id}", status_code=204, tags=["notes"])
    def delete_note(note_id: NoteId) -> None:
        with db.session() as session:
            session.delete(get_note(session, note_id))
            session.commit()

    return app

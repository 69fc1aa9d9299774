"""bench/app_load.py's baseline: the bare framework, one route per measured request, the app's SQL.

`async def` FastAPI routes on uvicorn, no middleware, no request log, no settings, no credential
re-reading, and psycopg 3 async connections in autocommit handed out by an asyncio.Queue: the
core of psycopg_pool's AsyncConnectionPool (which is not installed: it is not in Pipfile.lock),
without its background maintenance.

    BASELINE_DATABASE_URL=postgresql://... python -m uvicorn bench.app_baseline:app --port 8001
"""

import asyncio
import os
from contextlib import asynccontextmanager

import psycopg
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel

COLUMNS = ("id", "title", "body", "created_at", "updated_at")
SELECTED = ", ".join(COLUMNS)
SIZE = int(os.environ.get("BASELINE_POOL_SIZE", "10"))
idle: asyncio.Queue[psycopg.AsyncConnection] = asyncio.Queue()


@asynccontextmanager
async def lifespan(app: FastAPI):
    for _ in range(SIZE):
        idle.put_nowait(await psycopg.AsyncConnection.connect(os.environ["BASELINE_DATABASE_URL"], autocommit=True))
    yield
    while not idle.empty():
        await idle.get_nowait().close()


app = FastAPI(lifespan=lifespan)


class NewNote(BaseModel):
    title: str
    body: str = ""


async def one(statement: str, params: tuple) -> dict | None:
    connection = await idle.get()
    try:
        row = await (await connection.execute(statement, params)).fetchone()
    finally:
        idle.put_nowait(connection)
    return None if row is None else dict(zip(COLUMNS, row))


@app.get("/health")
async def health() -> dict:
    return {"status": "ok"}


@app.get("/notes/{note_id}")
async def read(note_id: int) -> dict:
    row = await one(f"SELECT {SELECTED} FROM notes WHERE id = %s", (note_id,))
    if row is None:
        raise HTTPException(404)
    return row


@app.post("/notes", status_code=201)
async def write(note: NewNote) -> dict:
    return await one(f"INSERT INTO notes (title, body) VALUES (%s, %s) RETURNING {SELECTED}", (note.title, note.body))

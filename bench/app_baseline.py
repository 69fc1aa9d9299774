"""The load benchmarks' baseline: the bare framework, one route per measured request, the app's SQL.

`async def` FastAPI routes on uvicorn, no middleware, no request log, no settings, no credential
re-reading, and psycopg_pool's AsyncConnectionPool (BASELINE_POOL_SIZE connections, kept open, in
autocommit) as its documentation shows it: `async with pool.connection()`, no check on checkout.
Used by bench/app_load.py and bench/load_balancer.py.

    BASELINE_DATABASE_URL=postgresql://... python -m uvicorn bench.app_baseline:app --port 8001
"""

import os
from contextlib import asynccontextmanager

from fastapi import FastAPI, HTTPException
from psycopg_pool import AsyncConnectionPool
from pydantic import BaseModel

COLUMNS = ("id", "title", "body", "created_at", "updated_at")
SELECTED = ", ".join(COLUMNS)
SIZE = int(os.environ.get("BASELINE_POOL_SIZE", "10"))
pool = AsyncConnectionPool(os.environ["BASELINE_DATABASE_URL"], min_size=SIZE, max_size=SIZE, kwargs={"autocommit": True},
                           open=False)


@asynccontextmanager
async def lifespan(app: FastAPI):
    await pool.open(wait=True)
    yield
    await pool.close()


app = FastAPI(lifespan=lifespan)


class NewNote(BaseModel):
    title: str
    body: str = ""


async def one(statement: str, params: tuple) -> dict | None:
    async with pool.connection() as connection:
        row = await (await connection.execute(statement, params)).fetchone()
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

"""The load balancer benchmark's baseline: the bare framework the app is built on (FastAPI on uvicorn),
one route per measured request, the same SQL on the same table, and nothing else (no middleware, no
request log, no settings object, no credential re-reading).

    BASELINE_DATABASE_URL=postgresql+psycopg://... python -m uvicorn bench.baseline_app:app --port 8001
"""

import os

from fastapi import FastAPI, HTTPException
from pydantic import BaseModel
from sqlalchemy import create_engine, text

engine = create_engine(os.environ["BASELINE_DATABASE_URL"], pool_size=int(os.environ.get("BASELINE_POOL_SIZE", "5")),
                       pool_pre_ping=True)
app = FastAPI()
COLUMNS = "id, title, body, created_at, updated_at"


class NewNote(BaseModel):
    title: str
    body: str = ""


@app.get("/health")
def health() -> dict:
    return {"status": "ok"}


@app.get("/notes/{note_id}")
def read(note_id: int) -> dict:
    with engine.connect() as connection:
        row = connection.execute(text(f"SELECT {COLUMNS} FROM notes WHERE id = :id"), {"id": note_id}).mappings().first()
    if row is None:
        raise HTTPException(404)
    return dict(row)


@app.post("/notes", status_code=201)
def write(note: NewNote) -> dict:
    with engine.begin() as connection:
        row = connection.execute(text(f"INSERT INTO notes (title, body) VALUES (:title, :body) RETURNING {COLUMNS}"),
                                 note.model_dump()).mappings().one()
    return dict(row)

"""The note queries that the JSON API and the HTML page share: one SQL statement each, one round trip.

Plain SQL on the driver: for single-row statements an ORM session (identity map, unit of work, a
transaction around a read) cost more CPU than the query itself and added nothing. The table is
still defined once, in app.models, for the migrations. Rows come back as dicts, which FastAPI
validates into the response models (NoteOut) exactly once.

Each function takes the pool (each statement on a pooled connection, in autocommit), or a
Transaction from `Pool.rolled_back()` (every statement inside that one transaction).
"""

from psycopg import AsyncConnection

from app.pool import Pool, Transaction
from app.schemas import NoteIn

COLUMNS = ("id", "title", "body", "created_at", "updated_at")
SELECTED = ", ".join(COLUMNS)
Db = Pool | Transaction

GET = f"SELECT {SELECTED} FROM notes WHERE id = %s"
PAGE = f"SELECT {SELECTED} FROM notes WHERE id > %s ORDER BY id LIMIT %s"
LATEST = f"SELECT {SELECTED} FROM notes ORDER BY id DESC LIMIT %s"
ADD = f"INSERT INTO notes (title, body) VALUES (%s, %s) RETURNING {SELECTED}"
DELETE = "DELETE FROM notes WHERE id = %s RETURNING id"
# The columns a PATCH may set; their names come from here, never from the request.
UPDATABLE = ("title", "body")


def as_dict(row: tuple | None) -> dict | None:
    return None if row is None else dict(zip(COLUMNS, row))


async def _one(db: Db, statement: str, params: tuple, idempotent: bool = True) -> dict | None:
    async def work(connection: AsyncConnection):
        return await (await connection.execute(statement, params)).fetchone()

    return as_dict(await db.run(work, idempotent))


async def _all(db: Db, statement: str, params: tuple) -> list[dict]:
    async def work(connection: AsyncConnection):
        return await (await connection.execute(statement, params)).fetchall()

    return [as_dict(row) for row in await db.run(work, idempotent=True)]


async def get(db: Db, note_id: int) -> dict | None:
    return await _one(db, GET, (note_id,))


async def page(db: Db, after: int, count: int) -> list[dict]:
    return await _all(db, PAGE, (after, count))


async def latest(db: Db, count: int) -> list[dict]:
    return await _all(db, LATEST, (count,))


async def add(db: Db, note: NoteIn) -> dict:
    # Not retried on a lost connection: the insert may have been committed before the loss.
    return await _one(db, ADD, (note.title, note.body), idempotent=False)


async def update(db: Db, note_id: int, changes: dict) -> dict | None:
    """The note with `changes` applied (and a new update time), None if there is no such note."""
    fields = [name for name in UPDATABLE if name in changes]
    if not fields:
        return await get(db, note_id)  # nothing to change: the note as it is
    assignments = ", ".join(f"{name} = %s" for name in fields)
    statement = f"UPDATE notes SET {assignments}, updated_at = now() WHERE id = %s RETURNING {SELECTED}"
    return await _one(db, statement, (*(changes[name] for name in fields), note_id))


async def delete(db: Db, note_id: int) -> bool:
    # Not retried: a delete applied before the connection was lost would then look like a 404.
    return await _one(db, DELETE, (note_id,), idempotent=False) is not None

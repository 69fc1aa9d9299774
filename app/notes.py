"""The note queries that the JSON API and the HTML page share."""

from sqlalchemy import select

from app.db import Database
from app.models import Note
from app.schemas import NoteIn


def add(db: Database, note: NoteIn) -> Note:
    with db.session() as session:
        row = Note(**note.model_dump())
        session.add(row)
        session.commit()
    return row


def latest(db: Database, count: int) -> list[Note]:
    with db.session() as session:
        return list(session.scalars(select(Note).order_by(Note.id.desc()).limit(count)))

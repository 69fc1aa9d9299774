"""The domain's tables, as SQLAlchemy models; the migrations create them."""

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Identity, String, Text, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

TITLE_MAX = 200
BODY_MAX = 10_000
# The id column is a BIGINT: ids and cursors beyond it are refused before they reach a query.
ID_MAX = 2**63 - 1


class Base(DeclarativeBase):
    pass


class Note(Base):
    __tablename__ = "notes"
    # Fetch server-side timestamps with RETURNING instead of a second SELECT.
    __mapper_args__ = {"eager_defaults": True}

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    title: Mapped[str] = mapped_column(String(TITLE_MAX))
    body: Mapped[str] = mapped_column(Text, server_default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )

"""Alembic environment: applies pending versions in one transaction on the connection it is given."""

from alembic import context

from app.models import Base


def run_migrations(connection) -> None:
    # One transaction for all pending versions (PostgreSQL has transactional DDL),
    # so a failing migration leaves the schema exactly as it was.
    context.configure(connection=connection, target_metadata=Base.metadata, transaction_per_migration=False)
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:  # `python -m app migrate`: the connection is already in a transaction
    run_migrations(connection)
else:  # alembic's own commands, e.g. a developer's `alembic -c app/alembic.ini downgrade -1`
    from app.db import Database
    from app.settings import load_settings

    settings = context.config.attributes.get("settings") or load_settings()
    engine = Database(settings).engine
    with engine.begin() as connection:
        run_migrations(connection)
    engine.dispose()

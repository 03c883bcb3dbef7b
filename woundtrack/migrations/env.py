"""Alembic environment: migrations run on the connection handed over by ``db.migrate``."""

from alembic import context

from woundtrack.db import Base

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only through woundtrack.db.migrate
    raise RuntimeError("run migrations through woundtrack.db.migrate(engine)")
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
context.run_migrations()

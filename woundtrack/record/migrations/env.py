"""Alembic environment: migrations run on the connection handed over by ``db.migrate``."""

from alembic import context

from woundtrack.record.db import Base

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only through woundtrack.record.db.migrate
    raise RuntimeError("run migrations through woundtrack.record.db.migrate(engine)")
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
context.run_migrations()

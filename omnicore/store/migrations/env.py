"""Alembic environment: runs on the connection omnicore hands it."""

from alembic import context

from omnicore.store.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - omnicore always passes one
    raise RuntimeError("run migrations with `omnicore migrate`, not the alembic command")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()

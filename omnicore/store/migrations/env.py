"""Alembic environment: runs on the connection omnicore hands it."""

from collections.abc import Collection, Mapping
from typing import Any

from alembic import context
from alembic.runtime.migration import MigrationContext, MigrationInfo

from omnicore.store.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - omnicore always passes one
    raise RuntimeError("run migrations with `omnicore migrate`, not the alembic command")

on_step = context.config.attributes.get("on_step")


def _applied(ctx: MigrationContext, step: MigrationInfo, heads: Collection[Any],
             run_args: Mapping[str, Any]) -> None:
    """Report each revision as it is applied (``omnicore migrate`` prints them)."""
    if on_step is not None:
        revision = step.up_revision
        title = getattr(revision, "doc", None) or ""
        on_step(step.up_revision_id, title.strip())


context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
    on_version_apply=_applied,
)
with context.begin_transaction():
    context.run_migrations()

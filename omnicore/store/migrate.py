"""Schema migrations (Alembic), run on omnicore's own async engine."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs

from omnicore.errors import SchemaMismatch
from omnicore.store.database import Database, describe

MIGRATIONS = Path(__file__).parent / "migrations"


def _config() -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head_revision() -> str:
    """The newest revision this version of omnicore knows."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


@attrs.frozen
class SchemaState:
    current: str | None
    head: str
    known: bool

    @property
    def up_to_date(self) -> bool:
        return self.current == self.head


async def schema_state(db: Database) -> SchemaState:
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    def _read(connection: Any) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()  # type: ignore[no-any-return]

    async with db.read() as conn:
        current = await conn.run_sync(_read)
    scripts = ScriptDirectory.from_config(_config())
    known = True
    if current is not None:
        try:
            known = scripts.get_revision(current) is not None
        except Exception:
            known = False
    return SchemaState(current=current, head=head_revision(), known=known)


async def upgrade(
    db: Database, revision: str = "head", *,
    on_step: Callable[[str, str], None] | None = None,
) -> None:
    """Bring the schema up to ``revision`` (default: the newest).

    :param on_step: called with each revision id and its title as it is applied.
    """
    from alembic import command

    def _run(connection: Any) -> None:
        config = _config()
        config.attributes["connection"] = connection
        config.attributes["on_step"] = on_step
        command.upgrade(config, revision)

    state = await schema_state(db)
    if not state.known:
        raise SchemaMismatch(_newer_message(db, state), field="database.url")
    async with db.transaction() as conn:
        await conn.run_sync(_run)


def _newer_message(db: Database, state: SchemaState) -> str:
    return (
        f"the database {describe(db.url)} has schema revision {state.current}, newer than this "
        f"omnicore knows (head {state.head}): upgrade omnicore"
    )


async def ensure_schema(db: Database, *, auto_migrate: bool) -> None:
    """Refuse to run on an un-migrated or newer schema, or migrate when allowed."""
    state = await schema_state(db)
    if state.up_to_date:
        return
    if not state.known:
        raise SchemaMismatch(_newer_message(db, state), field="database.url")
    if auto_migrate:
        await upgrade(db)
        return
    where = "has no omnicore schema" if state.current is None else f"is at {state.current}"
    raise SchemaMismatch(
        f"the database {describe(db.url)} {where}, this omnicore needs {state.head}: "
        "run `omnicore migrate` (or open with auto_migrate=True)",
        field="database.url",
    )

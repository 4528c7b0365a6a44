"""``omnicore migrate``: create or upgrade the database schema."""

from __future__ import annotations

import click

from omnicore.cli.main import CliContext, main, run


@main.command()
@click.pass_obj
def migrate(cli: CliContext) -> None:
    """Create or upgrade the database schema to the newest revision.

    Safe to run any number of times; run it after installing a new omnicore,
    before starting gateways and workers (PostgreSQL is never migrated
    implicitly).
    """
    from omnicore.store.database import Database, describe
    from omnicore.store.migrate import schema_state, upgrade

    async def go() -> tuple[str, str | None, str]:
        settings = cli.config()
        db = Database(cli.database_url or settings.database.url)
        try:
            before = await schema_state(db)
            await upgrade(db, on_step=lambda revision, title: click.echo(
                f"  applied {revision}: {title}", err=True))
            after = await schema_state(db)
        finally:
            await db.dispose()
        return describe(db.url), before.current, after.current or after.head

    where, before, after = run(go())
    if before == after:
        click.echo(f"{where}: already at revision {after}, nothing to do")
    else:
        click.echo(f"{where}: migrated from {before or '(empty database)'} to {after}")

"""The ``omnicore`` command line.

    omnicore migrate
    omnicore import stock counts.csv --rejects rejects.csv
    omnicore worker
    omnicore demo

Commands open the database given by ``--database-url`` (else
``OMNICORE_DATABASE_URL``, else ``[database] url`` of omnicore.toml, else the
SQLite file ./omnicore.db). Installed plugins add their own commands through
the ``register_commands`` hook; a plugin that fails to load is reported by name
and the rest of the command line keeps working. A plugin command finds the
global options in ``ctx.obj`` (a ``CliContext``) and may open the database with
``async with ctx.obj.open() as commerce``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

import attrs
import click

from omnicore.config import Config, load_config
from omnicore.errors import OmnicoreError, PluginError

if TYPE_CHECKING:
    from omnicore.commerce import Opening

__all__ = ["CliContext", "main", "run"]

T = TypeVar("T")
#: set to 1 for tracebacks instead of one-line errors (same as ``--debug``)
DEBUG_VARIABLE = "OMNICORE_DEBUG"


@attrs.frozen
class CliContext:
    """The global options, as ``ctx.obj`` of every command (plugins' commands too)."""

    database_url: str | None = None
    config_path: str | None = None

    def config(self) -> Config:
        return load_config(path=self.config_path)

    def open(self, **options: Any) -> Opening:
        """``Commerce.open`` on the chosen database and configuration."""
        from omnicore.commerce import Commerce

        options.setdefault("config", self.config())
        return Commerce.open(self.database_url, **options)


def debugging(ctx: click.Context | None = None) -> bool:
    """``--debug`` was given or ``OMNICORE_DEBUG`` is set to a true value."""
    if os.environ.get(DEBUG_VARIABLE, "").strip().lower() in ("1", "true", "yes", "on"):
        return True
    ctx = ctx or click.get_current_context(silent=True)
    return bool(ctx is not None and ctx.find_root().params.get("debug"))


def explain(exc: BaseException, ctx: click.Context | None = None) -> str:
    """One line for a failed command: the omnicore error, a database connection problem
    with its fix, or the exception's type and message (``--debug`` for the traceback)."""
    if isinstance(exc, OmnicoreError):
        return str(exc)
    from omnicore.store.database import connection_problem, normalise_url

    ctx = ctx or click.get_current_context(silent=True)
    url = None
    if ctx is not None and isinstance(ctx.find_root().obj, CliContext):
        cli: CliContext = ctx.find_root().obj
        with contextlib.suppress(Exception):
            url = normalise_url(cli.database_url or cli.config().database.url)
    problem = connection_problem(exc, url) if url is not None else None
    if problem is not None:
        return str(problem)
    return (f"{type(exc).__name__}: {exc} (run with --debug or {DEBUG_VARIABLE}=1 for the "
            "traceback)")


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine; a failure becomes a one-line ``Error: …`` and exit code 1
    (``--debug`` shows the traceback)."""
    try:
        return asyncio.run(coroutine)
    except OmnicoreError as exc:
        if debugging():
            raise
        raise click.ClickException(str(exc)) from None


def load_plugin_commands(config_path: str | None) -> dict[str, click.Command]:
    """The commands installed plugins contribute; a broken plugin is named and skipped."""
    from omnicore.plugins import PluginHost

    try:
        settings = load_config(path=config_path)
    except OmnicoreError as exc:
        click.echo(f"warning: plugin commands unavailable, configuration unreadable: {exc}",
                   err=True)
        return {}
    staging = click.Group("omnicore")
    skipped: list[str] = []
    while True:
        block = [*settings.plugins.block, *skipped]
        try:
            PluginHost(attrs.evolve(settings.plugins, block=block)).register_commands(staging)
        except PluginError as exc:
            click.echo(f"warning: {exc} (its commands are unavailable)", err=True)
            if exc.plugin in skipped:
                return {}
            skipped.append(exc.plugin)
            continue
        return dict(staging.commands)


class OmnicoreGroup(click.Group):
    """The root group: the built-in commands, then those of installed plugins."""

    def _plugin_commands(self, ctx: click.Context) -> dict[str, click.Command]:
        root = ctx.find_root()
        if "omnicore.plugin_commands" not in root.meta:
            root.meta["omnicore.plugin_commands"] = load_plugin_commands(
                root.params.get("config_path"))
        commands: dict[str, click.Command] = root.meta["omnicore.plugin_commands"]
        return commands

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self._plugin_commands(ctx)})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return super().get_command(ctx, cmd_name) or self._plugin_commands(ctx).get(cmd_name)

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; any failure becomes one ``Error: …`` line and exit status 1.

        The line says what failed and, for a database that cannot be reached, what
        to do. ``--debug`` (or ``OMNICORE_DEBUG=1``) shows the traceback instead.
        """
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.Abort, click.ClickException, SystemExit,
                KeyboardInterrupt):
            raise
        except Exception as exc:
            if debugging(ctx):
                raise
            raise click.ClickException(explain(exc, ctx)) from None


@click.group(cls=OmnicoreGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--database-url", metavar="URL",
              help="Database to use, e.g. postgresql://user@host/shop or sqlite:///shop.db "
                   "[default: OMNICORE_DATABASE_URL, then omnicore.toml, then ./omnicore.db].")
@click.option("--config", "config_path", metavar="FILE",
              type=click.Path(exists=True, dir_okay=False),
              help="Configuration file [default: OMNICORE_CONFIG, then ./omnicore.toml].")
@click.option("--debug", is_flag=True,
              help="Show the traceback of a failure (also OMNICORE_DEBUG=1).")
@click.version_option(package_name="omnicore")
@click.pass_context
def main(ctx: click.Context, database_url: str | None, config_path: str | None,
         debug: bool) -> None:
    """omnicore: headless commerce for omnichannel retail.

    One stock, one cart, one customer across the web shop, the app, the stores
    and the marketplaces. Run `omnicore COMMAND --help` for each command.
    """
    ctx.obj = CliContext(database_url, config_path)

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
import csv
import signal
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import attrs
import click

from omnicore.config import Config, load_config
from omnicore.errors import InvalidInput, OmnicoreError, PluginError

if TYPE_CHECKING:
    from omnicore.commerce import _Opening
    from omnicore.importing import ImportReport

__all__ = ["CliContext", "main"]

T = TypeVar("T")
SHOWN_REJECTS = 20


@attrs.frozen
class CliContext:
    """The global options, as ``ctx.obj`` of every command (plugins' commands too)."""

    database_url: str | None = None
    config_path: str | None = None

    def config(self) -> Config:
        return load_config(path=self.config_path)

    def open(self, **options: Any) -> _Opening:
        """``Commerce.open`` on the chosen database and configuration."""
        from omnicore.commerce import Commerce

        options.setdefault("config", self.config())
        return Commerce.open(self.database_url, **options)


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine; an omnicore error becomes a one-line message and exit code 1."""
    try:
        return asyncio.run(coroutine)
    except OmnicoreError as exc:
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


@click.group(cls=OmnicoreGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--database-url", metavar="URL",
              help="Database to use, e.g. postgresql://user@host/shop or sqlite:///shop.db "
                   "[default: OMNICORE_DATABASE_URL, then omnicore.toml, then ./omnicore.db].")
@click.option("--config", "config_path", metavar="FILE",
              type=click.Path(exists=True, dir_okay=False),
              help="Configuration file [default: OMNICORE_CONFIG, then ./omnicore.toml].")
@click.version_option(package_name="omnicore")
@click.pass_context
def main(ctx: click.Context, database_url: str | None, config_path: str | None) -> None:
    """omnicore: headless commerce for omnichannel retail.

    One stock, one cart, one customer across the web shop, the app, the stores
    and the marketplaces. Run `omnicore COMMAND --help` for each command.
    """
    ctx.obj = CliContext(database_url, config_path)


# -- migrate -------------------------------------------------------------------------------


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
            await upgrade(db)
            after = await schema_state(db)
        finally:
            await db.dispose()
        return describe(db.url), before.current, after.current or after.head

    where, before, after = run(go())
    if before == after:
        click.echo(f"{where}: already at revision {after}, nothing to do")
    else:
        click.echo(f"{where}: migrated from {before or '(empty database)'} to {after}")


# -- worker --------------------------------------------------------------------------------


@main.command()
@click.option("--once", is_flag=True, help="Deliver what is due now, print the count, exit.")
@click.option("--batch-size", type=click.IntRange(1, 10_000), metavar="N",
              help="Deliveries claimed per batch [default: [outbox] batch_size, 200].")
@click.pass_obj
def worker(cli: CliContext, once: bool, batch_size: int | None) -> None:
    """Deliver outbox events to plugins, until Ctrl-C or SIGTERM.

    Delivery is at least once, with exponential back-off on failure. Run any
    number of workers against PostgreSQL; they never take the same delivery.
    """
    run(_worker(cli, once, batch_size))


async def _worker(cli: CliContext, once: bool, batch_size: int | None) -> None:
    settings = cli.config()
    if batch_size is not None:
        outbox = attrs.evolve(settings.outbox, batch_size=batch_size)
        settings = attrs.evolve(settings, outbox=outbox)
    async with cli.open(config=settings, dispatch=False) as commerce:
        consumers = commerce.plugins.consumers()
        if not consumers:
            click.echo("warning: no installed plugin consumes events (on_event)", err=True)
        if once:
            before = await commerce.outbox.counts()
            attempted = await commerce.outbox.drain()
            after = await commerce.outbox.counts()
            made = after.get("delivered", 0) - before.get("delivered", 0)
            click.echo(f"{made} deliveries made, {attempted - made} failed (retried later); "
                       f"{after.get('pending', 0)} pending, {after.get('dead', 0)} dead")
            return
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):  # e.g. Windows
                loop.add_signal_handler(sig, stop.set)
        click.echo(f"worker delivering to {', '.join(consumers) or 'nobody'}; "
                   "Ctrl-C or SIGTERM stops it", err=True)
        await commerce.run_worker(stop)
        click.echo("worker stopped", err=True)


# -- plugins -------------------------------------------------------------------------------


@main.command("plugins")
@click.pass_context
def plugins_command(ctx: click.Context) -> None:
    """List installed plugins with their hooks and the state of their settings.

    Plugins are the entry points of group "omnicore". Exits with 1 when one
    fails to load or has invalid settings ([plugins.NAME] of omnicore.toml,
    OMNICORE_PLUGINS__NAME__KEY variables).
    """
    from importlib.metadata import entry_points

    from omnicore.plugins import ENTRY_POINT_GROUP, PluginHost

    cli: CliContext = ctx.obj
    try:
        config = cli.config().plugins
    except OmnicoreError as exc:
        raise click.ClickException(str(exc)) from None
    installed = sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: ep.name)
    if not installed:
        click.echo(f"no plugins installed (entry point group {ENTRY_POINT_GROUP!r})")
        return
    failures = 0
    for ep in installed:
        dist = f"{ep.dist.name} {ep.dist.version}, " if ep.dist else ""
        click.echo(f"{ep.name}  ({dist}{ep.value})")
        if ep.name in config.block or (config.allow is not None and ep.name not in config.allow):
            click.echo("  disabled by [plugins] allow / block")
            continue
        try:
            host = PluginHost(attrs.evolve(config, allow=[ep.name]))
        except PluginError as exc:
            failures += 1
            click.echo(f"  failed to load: {exc.message}")
            continue
        click.echo(f"  hooks: {', '.join(host.hooks_of(ep.name)) or '(none)'}")
        try:
            host.configure(config.sections)
        except InvalidInput as exc:
            failures += 1
            click.echo("  settings: invalid")
            for problem in exc.problems:
                click.echo(f"    {problem.field}: {problem.message}")
        except Exception as exc:
            failures += 1
            click.echo(f"  settings: register_settings failed: {type(exc).__name__}: {exc}")
        else:
            found = host.settings.get(ep.name)
            click.echo(f"  settings: ok ({type(found).__name__})" if found is not None
                       else "  settings: none declared")
    if failures:
        ctx.exit(1)


# -- import --------------------------------------------------------------------------------


@main.group("import")
def import_group() -> None:
    """Import stock counts or the catalog from CSV or JSON lines files.

    Files are streamed (any size) and written in batches, one transaction each.
    Bad rows are reported with their line number and field and never stop the
    good ones. Exit code 0 when rows were imported (or the file had none), 1
    when the file is unreadable or every row was rejected.
    """


def _import_options(command: Callable[..., None]) -> Callable[..., None]:
    options = [
        click.argument("file", type=click.Path(dir_okay=False, path_type=Path)),
        click.option("--format", "format_", type=click.Choice(["csv", "jsonl", "ndjson"]),
                     help="File format [default: from the extension .csv, .jsonl, .ndjson]."),
        click.option("--batch-size", type=click.IntRange(1, 100_000), default=2000,
                     show_default=True, help="Rows written per transaction."),
        click.option("--rejects", type=click.Path(dir_okay=False, writable=True, path_type=Path),
                     metavar="FILE", help="Write every rejected row (line,field,message) "
                                          "to this CSV file; otherwise the first 20 are printed."),
    ]
    for option in reversed(options):
        command = option(command)
    return click.pass_obj(command)


@import_group.command("stock")
@_import_options
def import_stock_command(
    cli: CliContext, file: Path, format_: str | None, batch_size: int, rejects: Path | None
) -> None:
    """Set stock levels from a physical count.

    CSV header: sku,location,on_hand[,safety_stock] — JSON lines: the same keys.
    Each row sets on_hand (the difference goes to the ledger as a count) and,
    when given, safety_stock.
    """
    _import("stock", cli, file, format_, batch_size, rejects)


@import_group.command("catalog")
@_import_options
def import_catalog_command(
    cli: CliContext, file: Path, format_: str | None, batch_size: int, rejects: Path | None
) -> None:
    """Create or update products, variants and prices.

    \b
    CSV header: handle,title,sku,variant_title,barcode,price,currency,description,family
    One row per variant; consecutive rows with the same handle form one
    product. price (with currency) sets the default price list.

    JSON lines: one product per line ({"handle", "title", "variants": [...]})
    with optional "prices": [{"sku", "amount": {"amount", "currency"}, "channel"}].
    """
    _import("catalog", cli, file, format_, batch_size, rejects)


def _import(
    kind: str, cli: CliContext, file: Path, format_: str | None, batch_size: int,
    rejects: Path | None,
) -> None:
    from omnicore import importing
    from omnicore.progress import open_source

    try:
        importing.detect_format(file, format_)
        with open_source(file):  # unreadable: say so before touching the database
            pass
    except OmnicoreError as exc:
        raise click.ClickException(str(exc)) from None
    action = importing.import_stock if kind == "stock" else importing.import_catalog

    size = max(file.stat().st_size, 1)

    async def go() -> ImportReport:
        async with cli.open(dispatch=False) as commerce:
            with click.progressbar(length=size, label=f"importing {file.name}",
                                   file=sys.stderr) as bar:
                return await action(commerce, file, format=format_, batch_size=batch_size,
                                    progress=bar.update)

    report = run(go())
    click.echo(f"{file.name}: {report.read} rows read, {report.accepted} accepted, "
               f"{len(report.rejected)} rejected in {report.seconds:.1f} s")
    if rejects is not None:
        with rejects.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["line", "field", "message"])
            writer.writerows([r.line, r.field or "", r.message] for r in report.rejected)
        click.echo(f"rejected rows written to {rejects}")
    else:
        for row in report.rejected[:SHOWN_REJECTS]:
            click.echo(f"  line {row.line}: {row.field or '(row)'}: {row.message}")
        if len(report.rejected) > SHOWN_REJECTS:
            click.echo(f"  … and {len(report.rejected) - SHOWN_REJECTS} more "
                       "(--rejects FILE writes them all)")
    if report.rejected and not report.accepted:
        sys.exit(1)


# registers `omnicore serve`, `omnicore demo` and `omnicore staff`
from omnicore import cli_serve, cli_staff  # noqa: E402, F401

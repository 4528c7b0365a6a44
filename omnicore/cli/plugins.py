"""``omnicore plugins``: installed plugins, their hooks and the state of their settings."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

import attrs
import click

from omnicore.cli.main import CliContext, main
from omnicore.errors import InvalidInput, OmnicoreError, PluginError

if TYPE_CHECKING:
    from omnicore.plugins import NotConfigured

__all__ = ["plugins_command", "printing_not_configured", "report_not_configured"]


def report_not_configured(entries: Iterable[NotConfigured]) -> None:
    """Print on stderr one line per installed plugin left out for want of settings:
    ``warning: plugin stripe not started, not configured: plugins.stripe.secret_key, …``
    (``omnicore serve``, ``demo`` and ``worker`` at start-up)."""
    for entry in entries:
        click.echo(f"warning: plugin {entry.plugin} not started, {entry}", err=True)


def _not_already_printed(record: logging.LogRecord) -> bool:
    return not hasattr(record, "plugins_not_configured")


@contextlib.contextmanager
def printing_not_configured() -> Iterator[None]:
    """While a command prints the plugins left out itself (``report_not_configured``),
    the warning ``Commerce.open`` logs about them is not logged a second time."""
    logger = logging.getLogger("omnicore")
    logger.addFilter(_not_already_printed)
    try:
        yield
    finally:
        logger.removeFilter(_not_already_printed)


@main.command("plugins")
@click.pass_context
def plugins_command(ctx: click.Context) -> None:
    """List installed plugins with their hooks and the state of their settings.

    Plugins are the entry points of group "omnicore". A plugin none of whose
    settings is given is shown as "not configured" (it is not started). Exits
    with 1 when one fails to load, has invalid settings ([plugins.NAME] of
    omnicore.toml, OMNICORE_PLUGINS__NAME__KEY variables), or is listed in
    [plugins] require but is not installed or not configured.
    """
    from importlib.metadata import entry_points

    from omnicore.plugins import ENTRY_POINT_GROUP, PluginHost

    cli: CliContext = ctx.obj
    try:
        config = cli.config().plugins
    except OmnicoreError as exc:
        raise click.ClickException(str(exc)) from None
    installed = sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: ep.name)
    failures = 0
    for name in config.require:
        if name not in {ep.name for ep in installed}:
            failures += 1
            click.echo(f"{name}  (not installed)\n  listed in [plugins] require")
    if not installed:
        click.echo(f"no plugins installed (entry point group {ENTRY_POINT_GROUP!r})")
    for ep in installed:
        dist = f"{ep.dist.name} {ep.dist.version}, " if ep.dist else ""
        click.echo(f"{ep.name}  ({dist}{ep.value})")
        if ep.name in config.block or (config.allow is not None and ep.name not in config.allow):
            click.echo("  disabled by [plugins] allow / block")
            if ep.name in config.require:
                failures += 1
                click.echo("  listed in [plugins] require")
            continue
        try:
            host = PluginHost(attrs.evolve(config, allow=[ep.name]))
        except PluginError as exc:
            failures += 1
            click.echo(f"  failed to load: {exc.message}")
            continue
        click.echo(f"  hooks: {', '.join(host.hooks_of(ep.name)) or '(none)'}")
        try:
            host.configure(require=[ep.name] if ep.name in config.require else [])
        except InvalidInput as exc:
            failures += 1
            click.echo("  settings: invalid")
            for problem in exc.problems:
                click.echo(f"    {problem.field}: {problem.message}")
        except Exception as exc:
            failures += 1
            click.echo(f"  settings: register_settings failed: {exc}")
        else:
            found = host.settings.get(ep.name)
            if host.not_configured:
                click.echo(f"  settings: {host.not_configured[0]} (the plugin is not started)")
            elif found is not None:
                click.echo(f"  settings: ok ({type(found).__name__})")
            else:
                click.echo("  settings: none declared")
    if failures:
        ctx.exit(1)

"""``omnicore plugins``: installed plugins, their hooks and the state of their settings."""

from __future__ import annotations

import attrs
import click

from omnicore.cli.main import CliContext, main
from omnicore.errors import InvalidInput, OmnicoreError, PluginError


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

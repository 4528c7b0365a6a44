"""``omnicore serve`` and ``omnicore demo``: the GraphQL gateway under uvicorn.

    omnicore serve --host 0.0.0.0 --port 8000 --workers 4
    omnicore demo                     # the demo retailer in ./omnicore.db, served

``demo`` creates the demo retailer if the database lacks it, issues a staff key
with every permission (a new one each run: only its hash is stored, so the
previous demo key is revoked) and serves the gateway, printing the GraphiQL
URLs, each channel's public token and that key.

Registered on ``omnicore.cli.main`` when ``omnicore.cli`` is imported.
"""

from __future__ import annotations

import os
import sys
from types import ModuleType
from typing import Any

import click

from omnicore.cli.main import CliContext, main, run
from omnicore.cli.plugins import printing_not_configured, report_not_configured
from omnicore.errors import OmnicoreError

__all__ = ["demo", "serve_command"]


def _server() -> ModuleType | None:
    """``omnicore.gateway.server``, or None without the server extra."""
    try:
        from omnicore.gateway import server
    except ImportError as exc:
        click.echo(f"error: the GraphQL gateway is not available ({exc}); install "
                   "omnicore[server]", err=True)
        return None
    return server


def _prepare(cli: CliContext) -> str | None:
    """The database URL; checks the configuration (``[gateway]`` among the rest) before
    anything starts. Exports the configuration path: the gateway's processes read the
    same file."""
    try:
        config = cli.config()
    except OmnicoreError as exc:
        raise click.ClickException(str(exc)) from None
    if cli.config_path is not None:
        os.environ["OMNICORE_CONFIG"] = os.path.abspath(cli.config_path)
    return cli.database_url or config.database.url


def _check_plugins(cli: CliContext) -> None:
    """Load and configure the plugins as each gateway process will, before any starts:
    invalid settings stop here; plugins left out for want of settings are named."""
    from omnicore.plugins import PluginHost

    try:
        host = PluginHost(cli.config().plugins)
        host.configure()
    except OmnicoreError as exc:
        raise click.ClickException(str(exc)) from None
    report_not_configured(host.not_configured)


def _storefront_url(host: str, port: int) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    return f"http://{f'[{shown}]' if ':' in shown else shown}:{port}/graphql"


@main.command()
@click.option("--serve/--no-serve", default=True, show_default=True,
              help="Serve the GraphQL gateway once the demo is ready (and issue a demo staff "
                   "key), or only create the data.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535),
              help="Port to listen on.")
@click.pass_obj
def demo(cli: CliContext, serve: bool, host: str, port: int) -> None:
    """Create the demo retailer and serve its GraphQL API.

    Atelier Seine: a warehouse near Paris, twelve Paris-area stores, web, app,
    store and Amazon channels, 280 products with prices and stock. Created
    once; running it again changes nothing. Prints each channel's public token
    for the storefront API and, when serving, a new staff key with every
    permission for the admin API (the previous demo key is revoked).
    """
    from omnicore.demo import create_demo, demo_present, demo_size, issue_demo_staff_key

    server = _server() if serve else None
    url = _prepare(cli) if server is not None else None

    async def go() -> list[str]:
        # the demo migrates first, PostgreSQL included (docs/cli.md)
        async with cli.open(dispatch=False, auto_migrate=True) as commerce:
            report_not_configured(commerce.plugins.not_configured)
            if await demo_present(commerce):
                summary = await create_demo(commerce)
            else:
                with click.progressbar(length=demo_size(), label="creating the demo",
                                       file=sys.stderr) as bar:
                    summary = await create_demo(commerce, progress=bar.update)
            lines = summary.lines()
            if server is None:
                return lines
            issued = await issue_demo_staff_key(commerce)
        web = next((c.public_token for c in summary.channels if c.code == "web"), None)
        if web:
            lines.append(f"  GraphiQL with the web channel: {_storefront_url(host, port)}"
                         f"?token={web}")
        return [*lines,
                "  admin API staff key (every permission; shown once, replaces the previous "
                "demo key):",
                f"    {issued.key}"]

    with printing_not_configured():
        lines = run(go())
        if not serve:
            click.echo("\n".join(lines))
        elif server is None:
            click.echo("\n".join(lines))
            sys.exit(1)
        else:  # the gateway prints the summary as its banner
            server.serve(url, host=host, port=port, banner=lines)


@main.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Interface to listen on (0.0.0.0 for every interface).")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535),
              help="Port to listen on.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 256),
              help="uvicorn worker processes, each with its own Commerce (use PostgreSQL "
                   "beyond one).")
@click.pass_obj
def serve_command(cli: CliContext, host: str, port: int, workers: int) -> None:
    """Serve the GraphQL gateway with uvicorn.

    The storefront API is at /graphql, the admin API at /admin/graphql
    (GraphiQL in a browser), health probes at /healthz and /readyz. Each
    storefront request names its channel by the channel's public token in the
    X-Omnicore-Channel-Token header. Needs the server extra.
    """
    server = _server()
    if server is None:
        sys.exit(1)
    options: dict[str, Any] = {"host": host, "port": port, "workers": workers}
    url = _prepare(cli)
    _check_plugins(cli)
    with printing_not_configured():
        server.serve(url, **options)

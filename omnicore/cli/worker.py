"""``omnicore worker``: deliver outbox events to plugins and run the background sweeps."""

from __future__ import annotations

import asyncio
import contextlib
import signal

import attrs
import click

from omnicore.cli.main import CliContext, main, run
from omnicore.cli.plugins import printing_not_configured, report_not_configured


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
    with printing_not_configured():
        run(_worker(cli, once, batch_size))


async def _worker(cli: CliContext, once: bool, batch_size: int | None) -> None:
    settings = cli.config()
    if batch_size is not None:
        outbox = attrs.evolve(settings.outbox, batch_size=batch_size)
        settings = attrs.evolve(settings, outbox=outbox)
    async with cli.open(config=settings, dispatch=False) as commerce:
        report_not_configured(commerce.plugins.not_configured)
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

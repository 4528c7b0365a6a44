"""``omnicore amazon sync`` and ``omnicore amazon status``.

Both open the database with the global options (``--database-url``, ``--config``)
and without a background dispatcher: they do their work and exit, so ``sync`` can
run from cron on a deployment where no process runs the background sync.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

import click
from sqlalchemy import func, select

from omnicore import OmnicoreError
from omnicore_amazon.errors import scrub
from omnicore_amazon.state import listings, stock

if TYPE_CHECKING:
    from omnicore import Commerce
    from omnicore_amazon.plugin import Runtime

__all__ = ["amazon"]

T = TypeVar("T")
SHOWN = 20


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    try:
        return asyncio.run(coroutine)
    except OmnicoreError as exc:
        raise click.ClickException(scrub(str(exc))) from None


def _runtime(commerce: Commerce) -> Runtime:
    from omnicore_amazon.plugin import AmazonPlugin

    plugin = commerce.plugins.pm.get_plugin("amazon")
    if not isinstance(plugin, AmazonPlugin) or plugin.runtime is None:
        raise click.ClickException("the amazon plugin is not enabled in this configuration")
    return plugin.runtime


def _summary(values: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v}" for k, v in values.items() if v not in (0, [], None, False))


@click.group(name="amazon")
def amazon() -> None:
    """Amazon marketplace (SP-API): listings, stock, orders."""


@amazon.command()
@click.option("--listings", "do_listings", is_flag=True, help="Put or patch every listing.")
@click.option("--stock", "do_stock", is_flag=True, help="Push pending quantities.")
@click.option("--orders", "do_orders", is_flag=True, help="Import new and updated orders.")
@click.option("--full", is_flag=True,
              help="With --stock: push every listed SKU's quantity, not only pending ones.")
@click.option("--wait/--no-wait", default=True, show_default=True,
              help="Wait for the processing reports of the feeds submitted.")
@click.option("--timeout", default=1800.0, show_default=True, metavar="SECONDS",
              help="How long --wait waits for Amazon to process the feeds.")
@click.option("--since", type=click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"]),
              help="With --orders: read orders updated since then again (UTC), e.g. to "
                   "import those that failed once their SKU exists.")
@click.pass_obj
def sync(cli: Any, do_listings: bool, do_stock: bool, do_orders: bool, full: bool,
         wait: bool, timeout: float, since: dt.datetime | None) -> None:
    """Sync with Amazon now: listings, stock and orders (all three by default)."""
    if not (do_listings or do_stock or do_orders):
        do_listings = do_stock = do_orders = True

    async def run() -> None:
        async with cli.open(dispatch=False) as commerce:
            runtime = _runtime(commerce)
            if not await runtime.channel_ready():
                raise click.ClickException(
                    f"channel {runtime.settings.channel!r} does not exist; create it (kind "
                    "marketplace) or set plugins.amazon.channel")
            if do_listings:
                await _sync_listings(runtime)
            if do_stock:
                await _sync_stock(runtime, full=full, wait=wait, patience=timeout)
            if do_orders:
                await _sync_orders(runtime, since.replace(tzinfo=dt.UTC) if since else None)

    _run(run())


async def _sync_listings(runtime: Runtime) -> None:
    handles = await runtime.listings.all_handles()
    counts: dict[str, int] = {}
    failure = None
    with click.progressbar(length=len(handles), label="listings") as bar:
        for handle in handles:
            try:
                outcomes = await runtime.listings.push_handles([handle],
                                                               raise_retryable=False)
            except OmnicoreError as exc:
                failure = scrub(str(exc), runtime.settings.secrets())
                break
            for outcome in outcomes:
                counts[outcome.action] = counts.get(outcome.action, 0) + 1
            bar.update(1)
    await runtime.store.record_run("listings", counts, failure)
    click.echo(f"listings: {_summary(counts) or 'nothing to do'}")
    if failure:
        raise click.ClickException(failure)


async def _sync_stock(runtime: Runtime, *, full: bool, wait: bool, patience: float) -> None:
    stock_sync = runtime.stock
    if full:
        click.echo(f"stock: {await stock_sync.enqueue_all()} listed SKUs re-read")
    pending = await stock_sync.count_pending()
    try:
        flushed = await stock_sync.flush()
    except OmnicoreError as exc:
        failure = scrub(str(exc), runtime.settings.secrets())
        await runtime.store.record_run("stock", {}, failure)
        raise click.ClickException(f"{failure} (the quantities stay pending)") from None
    await runtime.store.record_run("stock", flushed.as_dict())
    if flushed.busy:
        click.echo("stock: another process is pushing quantities now")
    else:
        click.echo(f"stock: {pending} pending; {_summary(flushed.as_dict()) or 'nothing sent'}")
    if not wait:
        return
    feeds = await stock_sync.in_flight()
    if not feeds:
        return
    loop = asyncio.get_running_loop()
    deadline = loop.time() + patience
    totals: dict[str, int] = {"accepted": 0, "rejected": 0, "requeued": 0}
    with click.progressbar(length=len(feeds), label="feeds") as bar:
        while True:
            polled = await stock_sync.poll()
            for key in totals:
                totals[key] += getattr(polled, key)
            bar.update(len(polled.finished))
            if not await stock_sync.in_flight():
                break
            if loop.time() >= deadline:
                click.echo("\nfeeds still processing; `omnicore amazon status` shows them")
                break
            await asyncio.sleep(runtime.settings.feed_poll_seconds)
    await runtime.store.record_run("feeds", totals)
    click.echo(f"feeds: {_summary(totals) or 'no message'}")


async def _sync_orders(runtime: Runtime, since: dt.datetime | None) -> None:
    def progress(order: Any, outcome: str) -> None:
        click.echo(f"  {order.order_id}  {order.status:<17} {outcome}")

    try:
        result = await runtime.orders.sync(since=since, progress=progress)
    except OmnicoreError as exc:
        failure = scrub(str(exc), runtime.settings.secrets())
        await runtime.store.record_run("orders", {}, failure)
        raise click.ClickException(failure) from None
    if result.busy:
        click.echo("orders: another process is importing them now")
        return
    await runtime.store.record_run("orders", result.as_dict())
    click.echo(f"orders: {_summary(result.as_dict()) or 'nothing new'}")


@amazon.command()
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
@click.pass_obj
def status(cli: Any, as_json: bool) -> None:
    """Last syncs, what waits to be sent, listing issues, refused orders and shipments."""

    async def run() -> dict[str, Any]:
        async with cli.open(dispatch=False) as commerce:
            return await collect_status(commerce, _runtime(commerce))

    report = _run(run())
    if as_json:
        click.echo(json.dumps(report, indent=2, default=str))
        return
    _print_status(report)


async def collect_status(commerce: Commerce, runtime: Runtime) -> dict[str, Any]:
    """Everything ``status`` shows, as plain data."""
    settings = runtime.settings
    store = runtime.store
    runs = {job: await store.get(f"last_run.{job}")
            for job in ("listings", "stock", "feeds", "orders")}
    async with store.read() as conn:
        listed = (await conn.execute(select(func.count()).select_from(listings)
                                     .where(listings.c.listed.is_(True)))).scalar()
        tracked = (await conn.execute(select(func.count()).select_from(stock))).scalar()
    deliveries = await commerce.outbox.deliveries(consumer="amazon", status="pending",
                                                  limit=100_000)
    dead = await commerce.outbox.deliveries(consumer="amazon", status="dead", limit=100_000)
    return {
        "seller_id": settings.seller_id, "region": settings.api_region,
        "sandbox": settings.sandbox, "marketplace_ids": list(settings.marketplace_ids),
        "channel": settings.channel, "channel_exists": await runtime.channel_ready(),
        "last_runs": runs, "orders_cursor": await runtime.orders.cursor(),
        "listings": {"listed": listed, "problems": [
            {"sku": r.sku, "status": r.status, "issues": r.issues or []}
            for r in await runtime.listings.problems()]},
        "stock": {"tracked": tracked, "pending": await runtime.stock.count_pending(),
                  "feeds": [{"feed_id": f.feed_id, "status": f.status,
                             "messages": len(f.messages), "created_at": f.created_at,
                             "summary": f.summary} for f in await runtime.stock.feed_rows()]},
        "outbox": {"pending": len(deliveries), "dead": len(dead)},
        "orders": {"failed": [{"amazon_order_id": r.amazon_order_id, "note": r.note}
                              for r in await runtime.orders.failures()]},
        "shipments": {"refused": [{"fulfilment_id": r.fulfilment_id,
                                   "amazon_order_id": r.amazon_order_id, "error": r.error}
                                  for r in await runtime.orders.failed_shipments()]},
    }


def _print_status(report: dict[str, Any]) -> None:
    click.echo(f"Amazon seller {report['seller_id']}, region {report['region']}"
               f"{' (sandbox)' if report['sandbox'] else ''}, marketplaces "
               f"{', '.join(report['marketplace_ids'])}, channel {report['channel']}"
               f"{'' if report['channel_exists'] else ' (missing!)'}")
    click.echo("last syncs:")
    for job, run in report["last_runs"].items():
        if run is None:
            click.echo(f"  {job:<9} never")
            continue
        text = f"FAILED: {run['error']}" if run["error"] else _summary(run["summary"]) or "-"
        click.echo(f"  {job:<9} {run['at']}  {text}")
    click.echo(f"orders imported up to {report['orders_cursor']}")
    stock_report, outbox = report["stock"], report["outbox"]
    click.echo(f"stock: {stock_report['pending']} SKUs waiting to be pushed "
               f"({stock_report['tracked']} tracked); outbox: {outbox['pending']} events "
               f"pending, {outbox['dead']} dead")
    for feed in stock_report["feeds"][:5]:
        click.echo(f"  feed {feed['feed_id']}  {feed['status']:<11} {feed['messages']} "
                   f"messages  {feed['created_at']}")
    problems = report["listings"]["problems"]
    click.echo(f"listings: {report['listings']['listed']} listed, {len(problems)} with issues")
    for problem in problems[:SHOWN]:
        for issue in problem["issues"] or [{}]:
            click.echo(f"  {problem['sku']:<20} {problem['status']:<9} "
                       f"{issue.get('severity', '')} {issue.get('code', '')} "
                       f"{issue.get('message', '')}")
    for order in report["orders"]["failed"][:SHOWN]:
        click.echo(f"order {order['amazon_order_id']} not imported: {order['note']}")
    for shipment in report["shipments"]["refused"][:SHOWN]:
        click.echo(f"shipment of {shipment['amazon_order_id']} refused: {shipment['error']}")

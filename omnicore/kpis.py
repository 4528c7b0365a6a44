"""Channel KPIs: which channel converts, where carts are abandoned, what baskets are worth,
and which journeys cross channels — to decide which channels to keep (DESIGN.md §1).

    report = await KpiService(commerce).report(since=monday, until=next_monday)
    for row in report.channels:
        print(row.channel, row.conversion_rate, row.average_basket)

Figures for a period ``[since, until)``, per channel (and currency: a channel sells
in one, so that is one row per channel), computed by the database in a fixed number
of aggregate queries whatever the number of carts and orders:

- ``carts_created``: carts whose journey started on the channel in the period (the
  ``created`` step of the cart's trail: a cart resumed elsewhere still counts where
  it was created);
- ``carts_converted``: of those, the carts that became an order — on this channel or
  any other (the journey's start gets the credit; ``journeys`` say where it ended);
- ``carts_abandoned``: of those, the carts still open, with lines, untouched for
  ``[carts] abandon_after_minutes`` (as of now);
- ``orders``: orders placed on the channel in the period — checkouts and imported
  marketplace / POS orders — of which ``checkout_orders`` came from a cart and
  ``cancelled_orders`` were cancelled since;
- ``revenue``: the totals of the orders not cancelled (refunds not deducted);
- ``cross_channel_orders``: orders whose cart started on another channel.

Rates are None when their denominator is 0: ``conversion_rate`` = carts converted /
carts created, ``abandonment_rate`` = carts abandoned / carts created;
``average_basket`` = revenue / orders not cancelled. ``journeys`` count the orders of
the period per (channel the cart started on, channel the order was placed on), for
the pairs that differ.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import attrs
from sqlalchemy import and_, case, exists, func, select

from omnicore.carts import CartStatus
from omnicore.errors import InvalidInput
from omnicore.money import Money
from omnicore.orders import OrderStatus
from omnicore.store.order_tables import orders
from omnicore.store.tables import cart_lines, cart_trail, carts
from omnicore.store.tables import channels as channels_table

if TYPE_CHECKING:
    from omnicore.commerce import Commerce

__all__ = ["ChannelKpis", "Journey", "KpiReport", "KpiService"]

DEFAULT_PERIOD = dt.timedelta(days=30)
MAX_PERIOD = dt.timedelta(days=3660)


def _rate(numerator: int, denominator: int) -> float | None:
    return None if denominator == 0 else round(numerator / denominator, 4)


@attrs.frozen
class ChannelKpis:
    """The figures of one channel over the period (see the module docstring)."""

    channel: str
    currency: str
    carts_created: int = 0
    carts_converted: int = 0
    carts_abandoned: int = 0
    orders: int = 0
    checkout_orders: int = 0
    cancelled_orders: int = 0
    cross_channel_orders: int = 0
    revenue_minor: int = 0

    @property
    def revenue(self) -> Money:
        return Money.from_minor_units(self.revenue_minor, self.currency)

    @property
    def kept_orders(self) -> int:
        return self.orders - self.cancelled_orders

    @property
    def conversion_rate(self) -> float | None:
        return _rate(self.carts_converted, self.carts_created)

    @property
    def abandonment_rate(self) -> float | None:
        return _rate(self.carts_abandoned, self.carts_created)

    @property
    def average_basket(self) -> Money | None:
        if self.kept_orders == 0:
            return None
        return Money(Decimal(self.revenue.amount) / self.kept_orders, self.currency)


@attrs.frozen
class Journey:
    """Orders placed on ``to_channel`` from carts started on ``from_channel``."""

    from_channel: str
    to_channel: str
    currency: str
    orders: int
    revenue_minor: int

    @property
    def revenue(self) -> Money:
        return Money.from_minor_units(self.revenue_minor, self.currency)


@attrs.frozen
class KpiReport:
    since: dt.datetime
    until: dt.datetime
    channels: list[ChannelKpis]
    journeys: list[Journey]


def _aware(value: object, field: str) -> dt.datetime:
    if not isinstance(value, dt.datetime) or value.tzinfo is None:
        raise InvalidInput("must be a date-time with a time zone", field=field)
    return value.astimezone(dt.UTC)


def _count(condition: Any) -> Any:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


class KpiService:
    """Per-channel KPIs over a period, straight from the carts and orders tables."""

    def __init__(self, commerce: Commerce) -> None:
        self._commerce = commerce
        self._abandon_after = commerce.config.carts.abandon_after

    async def report(self, *, since: dt.datetime | None = None,
                     until: dt.datetime | None = None,
                     channels: Iterable[str] | None = None) -> KpiReport:
        """The KPIs of ``[since, until)`` (default: the 30 days up to now), for every
        channel or those named in ``channels``; journeys between any two channels
        where at least one end is among them."""
        until = self._commerce.clock() if until is None else _aware(until, "until")
        since = until - DEFAULT_PERIOD if since is None else _aware(since, "since")
        if since >= until:
            raise InvalidInput("must be before until", field="since")
        if until - since > MAX_PERIOD:
            raise InvalidInput("the period may not exceed ten years", field="since")
        wanted = None if channels is None else set(channels)
        async with self._commerce.uow.read() as tx:
            rows: dict[tuple[str, str], dict[str, int]] = {
                (code, currency): {} for code, currency in await tx.conn.execute(
                    select(channels_table.c.code, channels_table.c.currency))
            }
            for row in await tx.conn.execute(self._carts_query(since, until, tx.now)):
                rows.setdefault((row.channel, row.currency), {}).update(
                    carts_created=int(row.created), carts_converted=int(row.converted),
                    carts_abandoned=int(row.abandoned))
            for row in await tx.conn.execute(self._orders_query(since, until)):
                rows.setdefault((row.channel, row.currency), {}).update(
                    orders=int(row.orders), checkout_orders=int(row.checkouts),
                    cancelled_orders=int(row.cancelled), cross_channel_orders=int(row.crossed),
                    revenue_minor=int(row.revenue))
            journeys = [
                Journey(r.origin, r.channel, r.currency, int(r.orders), int(r.revenue))
                for r in await tx.conn.execute(self._journeys_query(since, until))
                if wanted is None or r.origin in wanted or r.channel in wanted
            ]
        figures = [ChannelKpis(code, currency, **values)
                   for (code, currency), values in sorted(rows.items())
                   if wanted is None or code in wanted]
        return KpiReport(since, until, figures, journeys)

    def _carts_query(self, since: dt.datetime, until: dt.datetime, now: dt.datetime) -> Any:
        has_lines = exists().where(cart_lines.c.cart_id == carts.c.id)
        abandoned = and_(carts.c.status == CartStatus.OPEN.value,
                         carts.c.updated_at <= now - self._abandon_after, has_lines)
        return (
            select(cart_trail.c.channel_code.label("channel"), carts.c.currency,
                   func.count().label("created"),
                   _count(carts.c.status == CartStatus.COMPLETED.value).label("converted"),
                   _count(abandoned).label("abandoned"))
            .select_from(cart_trail.join(carts, carts.c.id == cart_trail.c.cart_id))
            .where(cart_trail.c.action == "created", cart_trail.c.at >= since,
                   cart_trail.c.at < until)
            .group_by(cart_trail.c.channel_code, carts.c.currency)
        )

    @staticmethod
    def _orders_query(since: dt.datetime, until: dt.datetime) -> Any:
        cancelled = orders.c.status == OrderStatus.CANCELLED.value
        crossed = and_(orders.c.origin_channel.is_not(None),
                       orders.c.origin_channel != orders.c.channel_code)
        revenue = func.coalesce(func.sum(case((cancelled, 0), else_=orders.c.total_minor)), 0)
        return (
            select(orders.c.channel_code.label("channel"), orders.c.currency,
                   func.count().label("orders"),
                   _count(orders.c.cart_id.is_not(None)).label("checkouts"),
                   _count(cancelled).label("cancelled"), _count(crossed).label("crossed"),
                   revenue.label("revenue"))
            .where(orders.c.placed_at >= since, orders.c.placed_at < until)
            .group_by(orders.c.channel_code, orders.c.currency)
        )

    @staticmethod
    def _journeys_query(since: dt.datetime, until: dt.datetime) -> Any:
        cancelled = orders.c.status == OrderStatus.CANCELLED.value
        revenue = func.coalesce(func.sum(case((cancelled, 0), else_=orders.c.total_minor)), 0)
        return (
            select(orders.c.origin_channel.label("origin"), orders.c.channel_code.label("channel"),
                   orders.c.currency, func.count().label("orders"), revenue.label("revenue"))
            .where(orders.c.placed_at >= since, orders.c.placed_at < until,
                   orders.c.origin_channel.is_not(None),
                   orders.c.origin_channel != orders.c.channel_code)
            .group_by(orders.c.origin_channel, orders.c.channel_code, orders.c.currency)
            .order_by(func.count().desc(), orders.c.origin_channel, orders.c.channel_code)
        )

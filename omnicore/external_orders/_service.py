"""``commerce.orders.import_external``: orders a marketplace or a POS already took.

The API the Amazon and POS connectors call (docs/orders.md#external-orders):

- **Idempotent** by ``(source, external_id)``: the same marketplace order imported
  twice — even by two workers at once — is one order. A unique constraint is the
  backstop; on PostgreSQL an advisory lock on the key makes the second import wait
  for the first and return its order.
- **Same customer base**: the buyer is found by their identities — the external id
  of this source (an Amazon buyer id), then the e-mail, then the phone — and
  created when none matches; identities it lacks and nobody else holds are added.
- **Same stock**: an open import is sourced like a checkout over the channel's
  locations and holds an allocation per assignment (fulfilments ``open``), so the
  connector ships it later. A POS sale (``fulfilled=True``) takes its units off
  ``on_hand`` at once with a ``sale`` movement and is ``collected``.
- **Oversold**: the order already happened, so it is never refused for stock.
  An import takes what it may — free units, including the channel's buffer (which
  exists for orders taken before the marketplace saw the last stock update), never
  safety stock and never units held for someone else — and lists what it could
  not take in ``details["oversold"]``, with an ``order.oversold`` event for a human.
  ``on_hand`` never goes below zero and ``Σ holds ≤ on_hand - safety_stock`` holds.
- **Payments** were taken by the marketplace or the till: each is recorded as
  captured under the gateway ``external:<source>`` (``ExternalGateway``): omnicore
  never charges it; a refund or a void of it (``orders.cancel``) is recorded only,
  and the connector learns of it through ``payment.refunded`` / ``order.cancelled``.

Events: ``order.placed`` (then the derived status: ``order.paid``,
``order.completed`` …), ``order.imported``, and ``order.oversold`` when units
were missing; ``customer.created`` / ``customer.identity_added`` for the buyer.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from omnicore.catalog import existing_skus
from omnicore.errors import Conflict, InvalidInput, NotFound, OutOfStock
from omnicore.external_orders._input import ImportRequest, check_key, parse
from omnicore.external_orders._write import write_order
from omnicore.money import Money
from omnicore.network import Capability, get_channel
from omnicore.orders import Order, OrderStatus
from omnicore.sourcing import (
    GroupKind,
    SourcingGroup,
    SourcingLine,
    SourcingPlan,
    SourcingRequest,
    choose,
    load_candidates,
)
from omnicore.stock import Contention
from omnicore.store.order_tables import orders
from omnicore.store.uow import retrying

if TYPE_CHECKING:
    from omnicore.commerce import Commerce
    from omnicore.orders import OrderService
    from omnicore.store.uow import Tx

__all__ = ["ExternalOrders"]

SHIPPING = frozenset({Capability.SHIP, Capability.SHIP_FROM_STORE})
SHIP_GROUP = "ship"


class _Retry(Exception):
    """A concurrent writer won a race (stock, the buyer's identity, the external id)."""


def _gave_up(_: Exception) -> Conflict:
    return Conflict("concurrent changes kept this import from completing: import it again",
                    field="external_id")


class ExternalOrders:
    """Orders a marketplace or a till already took: ``commerce.orders.import_external``,
    ``by_external`` and ``cancel_external`` delegate here.

    :param commerce: handed to the ``choose_sources`` hook, and read for the
        customers' default region, the order settings and the stock threshold.
    :param orders: the order service, to read and cancel the orders it records.
    """

    def __init__(self, commerce: Commerce, orders: OrderService) -> None:
        self._commerce = commerce
        self._orders = orders
        self._uow = commerce.uow

    async def import_external(
        self, source: str, external_id: str, *, channel: str,
        lines: Sequence[Mapping[str, Any]], currency: str | None = None,
        placed_at: Any = None, customer: Mapping[str, Any] | None = None,
        shipping: Money | str | None = None, total: Money | str | None = None,
        shipping_address: Mapping[str, Any] | None = None, shipping_method: str | None = None,
        fulfilled: bool = False, location: str | None = None,
        payments: Sequence[Mapping[str, Any]] | None = None,
        attributes: Mapping[str, Any] | None = None, actor: str | None = None,
    ) -> Order:
        """Record an order that ``source`` (``amazon``, ``square`` …) already took.

        :param external_id: the order's id at the source; importing it again returns
            the existing order, whatever else is given.
        :param channel: the omnicore channel of the marketplace or the store's till;
            the order is in its currency (``currency``, if given, must be it).
        :param lines: ``[{"sku", "quantity", "unit_price", "discount"?, "title"?,
            "external_line_id"?}]``; prices as charged, in the channel's currency.
        :param placed_at: when the source took the order (aware datetime; default now).
        :param customer: ``{"external_id"?, "email"?, "phone"?, "first_name"?,
            "last_name"?}`` or ``{"id": <omnicore customer id>}``; None: a guest order.
        :param shipping: what the buyer paid for delivery; ``total``, if given, must
            equal the lines plus shipping.
        :param shipping_address: an ``Address`` mapping, plus ``recipient`` and ``phone``.
        :param fulfilled: the goods left at once at ``location`` (a till sale).
        :param location: the location the goods leave from (required when fulfilled);
            for an open import, sourcing is limited to it.
        :param payments: ``[{"amount"?, "reference"?, "method"?, "data"?}]`` recorded as
            captured (one may leave out its amount); default: one payment of the total.
        :param attributes: the connector's own JSON data (no personal data: erasure
            does not look into it).
        :raises InvalidInput: naming the field (unknown SKU, quantity, currency, total …);
            nothing is written.
        """
        source, external_id = check_key(source, external_id)

        async def attempt() -> Order:
            async with self._uow.read() as tx:
                found = await _existing(tx, source, external_id)
                if found is not None:
                    return await self._orders.get(found)
                request = parse(
                    source=source, external_id=external_id,
                    channel=await get_channel(tx, channel), lines=lines, currency=currency,
                    placed_at=placed_at, customer=customer, shipping=shipping, total=total,
                    shipping_address=shipping_address, shipping_method=shipping_method,
                    fulfilled=fulfilled, location=location, payments=payments,
                    attributes=attributes, actor=actor,
                    region=self._commerce.customers.default_region)
                known = await existing_skus(tx, sorted({li.sku for li in request.lines}))
                for index, line in enumerate(request.lines):
                    if line.sku not in known:
                        raise InvalidInput(f"no variant {line.sku!r}", field=f"lines[{index}].sku")
            plan, oversold = (None, []) if request.fulfilled else await self._plan(request)
            try:
                async with self._uow() as tx:
                    order_id = await self._write(tx, request, plan, oversold)
            except IntegrityError:
                # the unique (source, external_id) — a concurrent import won — or a bug
                async with self._uow.read() as tx:
                    found = await _existing(tx, source, external_id)
                if found is None:
                    raise
            else:
                found = order_id
            return await self._orders.get(found)

        # a deadlock or serialization failure (PostgreSQL), stock that went meanwhile, the
        # buyer's identity taken by a concurrent import: read and plan again
        return await retrying(attempt, retry_on=(_Retry, Contention), exhausted=_gave_up)

    async def by_external(self, source: str, external_id: str) -> Order:
        """The order imported from ``source`` as ``external_id``, or ``NotFound``."""
        source, external_id = check_key(source, external_id)
        async with self._uow.read() as tx:
            found = await _existing(tx, source, external_id)
        if found is None:
            raise NotFound(f"no order {external_id!r} from {source}", field="external_id")
        return await self._orders.get(found)

    async def cancel_external(self, source: str, external_id: str, *,
                              reason: str | None = None, actor: str | None = None) -> Order:
        """The source cancelled the order: allocations released, payments recorded as
        refunded (``orders.cancel``). Cancelling it again returns it unchanged; goods that
        have left raise ``Conflict`` (a return, not a cancellation)."""
        order = await self.by_external(source, external_id)
        if order.status is OrderStatus.CANCELLED:
            return order
        return await self._orders.cancel(order.id, actor=actor or source,
                                 reason=reason or f"cancelled on {source}")

    async def _plan(self, request: ImportRequest) -> tuple[SourcingPlan | None, list[Any]]:
        """Source what can be sourced; the rest is listed as oversold."""
        links = [attrs.evolve(link, buffer=0) for link in request.channel.locations
                 if request.location in (None, link.location)]
        channel = attrs.evolve(request.channel, locations=links)
        async with self._uow.read() as tx:
            candidates = await load_candidates(
                tx, channel, sorted({li.sku for li in request.lines}))
            now = tx.now
        left: dict[str, int] = defaultdict(int)
        for candidate in candidates:
            if not SHIPPING.isdisjoint(candidate.capabilities):
                for sku, units in candidate.available.items():
                    left[sku] += units
        wanted, oversold = [], []
        for line in request.lines:
            take = min(line.quantity, left[line.sku])
            left[line.sku] -= take
            if take:
                wanted.append(SourcingLine(line.id, line.sku, take, SHIP_GROUP))
            if take < line.quantity:
                oversold.append(_short(line.id, line.sku, line.quantity, take, request.location))
        if not wanted:
            return None, oversold
        sourcing = SourcingRequest(
            channel=channel.code, lines=tuple(wanted),
            groups=(SourcingGroup(SHIP_GROUP, GroupKind.SHIP),), candidates=candidates,
            now=now, transfer_lead=self._commerce.order_settings.transfer_lead)
        try:
            return await choose(self._commerce, sourcing), oversold
        except OutOfStock:  # a strategy that cannot use these units: hold none, flag all
            return None, [_short(li.id, li.sku, li.quantity, 0, request.location)
                          for li in request.lines]

    async def _write(self, tx: Tx, request: ImportRequest, plan: SourcingPlan | None,
                     oversold: list[Any]) -> str:
        if tx.conn.dialect.name == "postgresql":
            await tx.conn.execute(
                text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
                {"key": f"omnicore.order:{request.source}:{request.external_id}"})
        found = await _existing(tx, request.source, request.external_id)
        if found is not None:
            return found
        try:
            return await write_order(
                tx, request, plan, oversold,
                number_prefix=self._commerce.order_settings.number_prefix,
                low_threshold=self._commerce.stock.low_threshold)
        except Conflict as exc:  # the buyer's identity was just taken by a concurrent import
            raise _Retry(str(exc)) from exc


def _short(line_id: str, sku: str, quantity: int, taken: int, location: str | None
           ) -> dict[str, Any]:
    return {"line_id": line_id, "sku": sku, "quantity": quantity,
            "missing": quantity - taken, "location": location}


async def _existing(tx: Tx, source: str, external_id: str) -> str | None:
    found = await tx.conn.execute(
        select(orders.c.id).where(orders.c.source == source,
                                  orders.c.external_id == external_id))
    return found.scalar()


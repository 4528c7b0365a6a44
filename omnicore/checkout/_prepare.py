"""What checkout reads before it charges anything: the cart, its delivery, totals, sourcing."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs
from sqlalchemy import or_, select

from omnicore.carts import Cart, CartStatus, assign_groups
from omnicore.delivery import DeliveryGroup, DeliveryKind, Rate
from omnicore.errors import Conflict, Forbidden, InvalidInput, OutOfStock
from omnicore.money import Money
from omnicore.network import get_channel
from omnicore.pricing import Totals
from omnicore.sourcing import (
    GroupKind,
    SourcingGroup,
    SourcingLine,
    SourcingPlan,
    SourcingRequest,
    choose,
    load_candidates,
)
from omnicore.store.tables import stock_holds

if TYPE_CHECKING:
    import datetime as dt

    from omnicore.carts import CartService
    from omnicore.commerce import Commerce
    from omnicore.delivery import DeliveryService
    from omnicore.pricing import PricingService
    from omnicore.store.uow import UnitOfWork

__all__ = ["PaymentInput", "Prepared", "parse_payments", "prepare"]

MAX_PAYMENTS = 5


@attrs.frozen
class PaymentInput:
    """One payment asked at checkout: a gateway, an amount (None: the rest), its data."""

    gateway: str
    amount: Money | None
    data: dict[str, Any]


@attrs.frozen
class Prepared:
    """A cart checked and worked out, ready to be paid for and committed."""

    cart: Cart
    groups: list[DeliveryGroup]
    group_of_line: dict[str, str]
    rates: dict[str, Rate]
    totals: Totals
    plan: SourcingPlan
    #: (sku, location) → units of the cart's own active holds there
    held: dict[tuple[str, str], int]


def parse_payments(value: object, currency: str) -> list[PaymentInput]:
    """Check ``payments=[{"gateway": "stripe", "amount": "10.00", "data": {...}}, …]``."""
    if not isinstance(value, Sequence) or isinstance(value, str | bytes):
        raise InvalidInput("must be a list of payments", field="payments")
    if len(value) > MAX_PAYMENTS:
        raise InvalidInput(f"at most {MAX_PAYMENTS} payments", field="payments")
    parsed = []
    for index, item in enumerate(value):
        field = f"payments[{index}]"
        if not isinstance(item, Mapping):
            raise InvalidInput("must be a mapping with a gateway", field=field)
        gateway = item.get("gateway")
        if not isinstance(gateway, str) or not gateway:
            raise InvalidInput("is required", field=f"{field}.gateway")
        raw_amount, amount = item.get("amount"), None
        if raw_amount is not None:
            amount = raw_amount if isinstance(raw_amount, Money) else Money(
                raw_amount if not isinstance(raw_amount, float) else str(raw_amount), currency)
            if amount.currency != currency:
                raise InvalidInput(f"the cart is in {currency}", field=f"{field}.amount")
            if amount.minor_units <= 0:
                raise InvalidInput("must be more than zero", field=f"{field}.amount")
        data = item.get("data") or {}
        if not isinstance(data, Mapping):
            raise InvalidInput("must be a mapping", field=f"{field}.data")
        parsed.append(PaymentInput(gateway, amount, dict(data)))
    return parsed


def split_amounts(payments: Sequence[PaymentInput], total: Money) -> list[Money]:
    """Each payment's amount; at most one may leave it out (it takes the rest)."""
    if not payments:
        if total.minor_units:
            raise InvalidInput(f"the order total is {total}: give at least one payment",
                               field="payments")
        return []
    open_ = [i for i, p in enumerate(payments) if p.amount is None]
    if len(open_) > 1:
        raise InvalidInput("only one payment may leave its amount out", field="payments")
    given = sum((p.amount for p in payments if p.amount is not None), Money.zero(total.currency))
    rest = total - given
    if (open_ and rest.minor_units <= 0) or (not open_ and rest.minor_units != 0):
        raise InvalidInput(f"the payments add up to {given}, the order total is {total}",
                           field="payments")
    return [p.amount if p.amount is not None else rest for p in payments]


async def _held_units(uow: UnitOfWork, cart: Cart, now: dt.datetime
                      ) -> dict[tuple[str, str], int]:
    hold_ids = [line.hold_id for line in cart.lines if line.hold_id]
    held: dict[tuple[str, str], int] = defaultdict(int)
    if not hold_ids:
        return held
    async with uow.read() as tx:
        rows = await tx.conn.execute(
            select(stock_holds.c.sku, stock_holds.c.location_code, stock_holds.c.quantity)
            .where(stock_holds.c.group_id.in_(hold_ids),
                   or_(stock_holds.c.expires_at.is_(None), stock_holds.c.expires_at > now))
        )
        for sku, location, quantity in rows:
            held[(sku, location)] += quantity
    return held


def _sourcing_kind(kind: DeliveryKind) -> GroupKind:
    return GroupKind(kind.value)


async def prepare(
    commerce: Commerce, cart_id: str, customer_id: str | None, *, carts: CartService,
    delivery: DeliveryService, pricing: PricingService, transfer_lead: dt.timedelta,
) -> Prepared:
    """Check the cart and work out its totals and sources; raises a typed error on bad input.

    ``commerce`` gives the unit of work and is handed to the ``choose_sources`` hook.
    """
    cart = await carts.get(cart_id)
    if cart.status is not CartStatus.OPEN:
        raise Conflict(f"the cart is {cart.status}: it cannot be checked out", field="cart_id")
    if not cart.lines:
        raise InvalidInput("the cart is empty", field="lines")
    if customer_id is not None and cart.customer_id not in (None, customer_id):
        raise Forbidden("the cart belongs to another customer", field="customer_id")
    await carts.validate(cart_id)
    cart = await carts.refresh(cart_id)
    for index, line in enumerate(cart.lines):
        if not line.available:
            raise OutOfStock(
                f"only {line.available_quantity} of {line.sku} available, {line.quantity} in "
                "the cart", field=f"lines[{index}].quantity", sku=line.sku,
                requested=line.quantity, available=line.available_quantity)
    groups, group_of_line = assign_groups(cart, cart.delivery)
    for index, group in enumerate(groups):
        if group not in cart.delivery:  # made for pickup lines: check it like the others
            groups[index] = await delivery.resolve(group, channel=cart.channel, field="delivery")
    lines = [(line.id, line.sku, line.quantity) for line in cart.lines]
    before_shipping = await pricing.price(
        channel=cart.channel, currency=cart.currency, lines=lines, codes=cart.discount_codes,
        customer_id=cart.customer_id or customer_id)
    rates: dict[str, Rate] = {}
    for group in groups:
        items = [(li.sku, li.quantity) for li in cart.lines if group_of_line[li.id] == group.key]
        subtotal = sum((t.total for t in before_shipping.lines
                        if group_of_line[t.key] == group.key), Money.zero(cart.currency))
        rates[group.key] = await delivery.rate(
            group, channel=cart.channel, currency=cart.currency, subtotal=subtotal, items=items)
    shipping = sum((r.price for r in rates.values()), Money.zero(cart.currency))
    totals = await pricing.price(
        channel=cart.channel, currency=cart.currency, lines=lines, codes=cart.discount_codes,
        customer_id=cart.customer_id or customer_id, shipping=shipping)
    held = await _held_units(commerce.uow, cart, commerce.uow.clock())
    plan = await _source(commerce, cart, groups, group_of_line, held, transfer_lead)
    return Prepared(cart, groups, group_of_line, rates, totals, plan, dict(held))


async def _source(commerce: Commerce, cart: Cart, groups: Sequence[DeliveryGroup],
                  group_of_line: Mapping[str, str], held: Mapping[tuple[str, str], int],
                  transfer_lead: dt.timedelta) -> SourcingPlan:
    skus = sorted({line.sku for line in cart.lines})
    async with commerce.uow.read() as tx:
        channel = await get_channel(tx, cart.channel)
        candidates = await load_candidates(tx, channel, skus, add_back=held)
        now = tx.now
    request = SourcingRequest(
        channel=cart.channel,
        lines=tuple(SourcingLine(li.id, li.sku, li.quantity, group_of_line[li.id])
                    for li in cart.lines),
        groups=tuple(SourcingGroup(g.key, _sourcing_kind(g.kind), g.geo,
                                   g.location if g.kind is DeliveryKind.PICKUP else None)
                     for g in groups),
        candidates=candidates,
        now=now,
        transfer_lead=transfer_lead,
    )
    return await choose(commerce, request)

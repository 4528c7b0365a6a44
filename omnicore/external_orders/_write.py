"""The one transaction that records an imported order (see ``omnicore.external_orders._service``).

Inside it: the buyer is found or created, the order number is taken, the stock
is allocated (an open import) or sold (a till sale), and the order with its
lines, delivery group, fulfilments and captured payments is written — or nothing.
"""

from __future__ import annotations

import secrets
from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, select

from omnicore.customers import (
    CustomerStatus,
    attach_identities,
    load_customer,
    new_customer_id,
    owner_of,
    resolve,
)
from omnicore.external_orders._input import Buyer, ImportRequest
from omnicore.orders import (
    CapturePolicy,
    FulfilmentStatus,
    OrderStatus,
    PaymentStatus,
    contact_of,
    new_order_id,
    next_number,
    order_payload,
    product_titles,
    record_status,
    refresh_status,
)
from omnicore.serialization import unstructure
from omnicore.sourcing import SourcingPlan
from omnicore.stock import (
    MovementKind,
    Reservation,
    StockChanges,
    emit_stock_events,
    lock_level,
    reclaim_expired,
    reserve,
    take_units,
)
from omnicore.store.order_tables import (
    delivery_groups,
    fulfilment_lines,
    fulfilments,
    order_lines,
    orders,
    payment_transactions,
    payments,
)
from omnicore.store.tables import customers, stock_movements

if TYPE_CHECKING:
    from omnicore.store.uow import Tx

__all__ = ["write_order"]

STORE_GROUP = "store"


async def link_buyer(tx: Tx, buyer: Buyer | None, source: str) -> str | None:
    """The buyer's customer id: given, else found by identity, else created (None: a guest).

    Identities the customer lacks and nobody holds are added. A concurrent import
    creating the same buyer makes ``attach_identities`` raise ``Conflict``.
    """
    if buyer is None:
        return None
    owner: str | None = None
    if buyer.customer_id is not None:
        owner = (await resolve(tx, buyer.customer_id, field="customer.id")).id
    for identity, _ in buyer.identities:
        if owner is not None:
            break
        owner = await owner_of(tx, identity.kind, identity.source, identity.value)
    if owner is None:
        if not buyer.identities:
            return None
        owner = new_customer_id()
        await tx.conn.execute(insert(customers).values(
            id=owner, status=CustomerStatus.ACTIVE.value, merged_into=None,
            first_name=buyer.profile.first_name, last_name=buyer.profile.last_name,
            language=None, preferred_store=None, attributes={}, created_at=tx.now,
            updated_at=tx.now))
        await attach_identities(tx, owner, buyer.identities)
        tx.emit("customer.created", {"customer": unstructure(await load_customer(tx, owner)),
                                     "source": source})
        return owner
    free = [(identity, field) for identity, field in buyer.identities
            if await owner_of(tx, identity.kind, identity.source, identity.value) is None]
    for identity in await attach_identities(tx, owner, free):
        tx.emit("customer.identity_added", {
            "customer_id": owner, "kind": identity.kind.value, "source": identity.source,
            "value": identity.value, "verified": identity.verified})
    return owner


async def _allocate(tx: Tx, request: ImportRequest, plan: SourcingPlan, number: str,
                    changes: StockChanges) -> dict[tuple[str, str], str]:
    """An allocation hold per assignment: ``(line id, location) → hold id``.

    Levels are locked in (sku, location) order; ``Contention`` when a unit went meanwhile.
    """
    for sku, location in sorted({(a.sku, a.location) for a in plan.assignments}):
        await lock_level(tx, sku, location)
    allocated = {}
    for a in sorted(plan.assignments, key=lambda a: (a.sku, a.location, a.line_id)):
        # an import may take the channel's buffer
        ask = Reservation.allocation(request.channel.code, a.sku, [(a.location, a.quantity, 0)],
                                     reference=number)
        allocated[(a.line_id, a.location)] = (await reserve(tx, ask, changes)).hold.id
    return allocated


async def _sell(tx: Tx, request: ImportRequest, number: str, changes: StockChanges
                ) -> list[dict[str, Any]]:
    """Take the lines' units off ``on_hand`` at the location (``sale`` movements, one per
    SKU); units that are not free are left alone and returned as oversold."""
    location = request.location
    assert location is not None
    wanted: dict[str, int] = defaultdict(int)
    for line in request.lines:
        wanted[line.sku] += line.quantity
    taken: dict[str, int] = {}
    for sku in sorted(wanted):
        await reclaim_expired(tx, sku, location, changes)  # locks the level first
        level = await lock_level(tx, sku, location)
        free = 0 if level is None else level.on_hand - level.safety_stock - level.reserved
        take = max(0, min(wanted[sku], free))
        if take and not await take_units(tx, sku, location, take, changes=changes):
            take = 0
        taken[sku] = take
        if take:
            await tx.conn.execute(insert(stock_movements).values(
                sku=sku, location_code=location, delta=-take, kind=MovementKind.SALE.value,
                source=request.source, external_id=f"{request.external_id}:{sku}",
                note=f"order {number}", created_at=tx.now))
    oversold = []
    for line in request.lines:
        part = min(line.quantity, taken[line.sku])
        taken[line.sku] -= part
        if part < line.quantity:
            oversold.append({"line_id": line.id, "sku": line.sku, "quantity": line.quantity,
                             "missing": line.quantity - part, "location": location})
    return oversold


async def _write_parts(tx: Tx, order_id: str, request: ImportRequest,
                       plan: SourcingPlan | None, allocated: dict[tuple[str, str], str]
                       ) -> None:
    titles = await product_titles(tx, sorted({line.sku for line in request.lines}))
    group = STORE_GROUP if request.fulfilled else "ship"
    await tx.conn.execute(insert(order_lines), [
        {"id": line.id, "order_id": order_id, "position": index, "sku": line.sku,
         "title": line.title or titles.get(line.sku, line.sku), "quantity": line.quantity,
         "unit_price_minor": line.unit_price.minor_units,
         "discount_minor": line.discount.minor_units, "total_minor": line.total.minor_units,
         "group_key": group, "quantity_returned": 0}
        for index, line in enumerate(request.lines)])
    await tx.conn.execute(insert(delivery_groups).values(
        order_id=order_id, key=group, kind="pickup" if request.fulfilled else "ship",
        method="in_store" if request.fulfilled else request.shipping_method,
        address=request.address, location_code=request.location if request.fulfilled else None,
        price_minor=request.shipping.minor_units,
        details={"method_name": request.shipping_method, "recipient": request.recipient,
                 "phone": request.recipient_phone, "instructions": None, "geo": None}))
    parts: dict[str, list[tuple[str, str, int, str | None]]] = defaultdict(list)
    if request.fulfilled:
        assert request.location is not None
        parts[request.location] = [(li.id, li.sku, li.quantity, None) for li in request.lines]
    elif plan is not None:
        for a in plan.assignments:
            parts[a.location].append((a.line_id, a.sku, a.quantity,
                                      allocated[(a.line_id, a.location)]))
    status = FulfilmentStatus.COLLECTED if request.fulfilled else FulfilmentStatus.OPEN
    for location, items in sorted(parts.items()):
        fulfilment_id = f"ful_{secrets.token_hex(10)}"
        await tx.conn.execute(insert(fulfilments).values(
            id=fulfilment_id, order_id=order_id, group_key=group, location_code=location,
            kind="pickup" if request.fulfilled else "ship", status=status.value,
            carrier=None, tracking_number=None,
            pickup_location=location if request.fulfilled else None, pickup_code_hash=None,
            transfer_ids=[], eta=None, pickup_expires_at=None, created_at=tx.now,
            updated_at=tx.now))
        await tx.conn.execute(insert(fulfilment_lines), [
            {"fulfilment_id": fulfilment_id, "order_line_id": line_id, "sku": sku,
             "quantity": quantity, "hold_id": hold_id}
            for line_id, sku, quantity, hold_id in items])


async def _write_payments(tx: Tx, order_id: str, request: ImportRequest) -> None:
    for position, (payment, amount, reference) in enumerate(request.payments):
        payment_id = f"pay_{secrets.token_hex(12)}"
        minor = amount.minor_units
        await tx.conn.execute(insert(payments).values(
            id=payment_id, checkout_key=None, order_id=order_id, gateway=payment.gateway,
            position=position,
            currency=request.currency, amount_minor=minor, authorized_minor=minor,
            captured_minor=minor, refunded_minor=0, status=PaymentStatus.CAPTURED.value,
            reference=reference, next_action=None, data=payment.data, created_at=tx.now,
            updated_at=tx.now))
        await tx.conn.execute(insert(payment_transactions).values(
            payment_id=payment_id, kind="capture", amount_minor=minor, outcome="succeeded",
            reference=reference, message=f"taken by {request.source}", created_at=tx.now))


async def write_order(tx: Tx, request: ImportRequest, plan: SourcingPlan | None,
                      oversold: Sequence[dict[str, Any]], *, number_prefix: str,
                      low_threshold: int) -> str:
    """Write the imported order in ``tx``; returns its id.

    Raises ``Contention`` when planned units went meanwhile and ``Conflict`` when a
    concurrent import created the same buyer: the caller tries again.
    """
    customer_id = await link_buyer(tx, request.buyer, request.source)
    known_email, known_phone = await contact_of(tx, customer_id)
    buyer = request.buyer
    number = await next_number(tx, number_prefix)
    changes = StockChanges("sale" if request.fulfilled else "allocation")
    allocated: dict[tuple[str, str], str] = {}
    short = list(oversold)
    if request.fulfilled:
        short = await _sell(tx, request, number, changes)
    elif plan is not None:
        allocated = await _allocate(tx, request, plan, number, changes)
    order_id = new_order_id()
    subtotal = sum(line.subtotal.minor_units for line in request.lines)
    discount = sum(line.discount.minor_units for line in request.lines)
    details: dict[str, Any] = {
        "imported": {"source": request.source, "external_id": request.external_id,
                     "fulfilled": request.fulfilled,
                     "external_line_ids": {li.id: li.external_line_id for li in request.lines
                                           if li.external_line_id}},
        "sourcing": list(plan.explanation) if plan is not None else [],
        "sourcing_strategy": plan.strategy if plan is not None else None,
        "attributes": request.attributes,
    }
    if short:
        details["oversold"] = short
    await tx.conn.execute(insert(orders).values(
        id=order_id, number=number, channel_code=request.channel.code, customer_id=customer_id,
        status="", currency=request.currency,
        email=(buyer.email if buyer else None) or known_email,
        phone=(buyer.phone if buyer else None) or known_phone,
        subtotal_minor=subtotal, discount_minor=discount,
        shipping_minor=request.shipping.minor_units, adjustments_minor=0,
        total_minor=request.total.minor_units, source=request.source,
        external_id=request.external_id, cart_id=None, origin_channel=request.channel.code,
        capture_policy=CapturePolicy.IMMEDIATE.value, details=details,
        placed_at=request.placed_at or tx.now, updated_at=tx.now))
    await _write_parts(tx, order_id, request, plan, allocated)
    await _write_payments(tx, order_id, request)
    row = (await tx.conn.execute(select(orders).where(orders.c.id == order_id))).one()
    await record_status(tx, row, OrderStatus.PLACED, actor=request.actor)
    await refresh_status(tx, order_id, actor=request.actor)
    row = (await tx.conn.execute(select(orders).where(orders.c.id == order_id))).one()
    tx.emit("order.imported", order_payload(row, actor=request.actor,
                                            fulfilled=request.fulfilled, oversold=short))
    if short:
        tx.emit("order.oversold", order_payload(row, actor=request.actor, oversold=short))
    await emit_stock_events(tx, changes, low_default=low_threshold)
    return order_id

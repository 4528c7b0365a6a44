"""One cart across channels: resuming a cart on another channel, re-holding, merging on
sign-in.

Merge rules (an anonymous cart meets the customer's open cart on sign-in):

* the customer's open cart survives (its id, its trail); the anonymous cart
  becomes ``merged`` with ``merged_into`` pointing at it and keeps no line;
* lines of the same SKU, fulfilment and location add their quantities (capped
  at ``max_quantity_per_line``) and are held again as one hold; other lines
  move over with their holds;
* the survivor continues on the channel (and its currency) where the customer
  signed in, holds re-checked for it as on ``resume``;
* discount codes are united (the survivor's first), notes joined (survivor's
  first), attributes united (the survivor's value wins on a clash).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import update

from omnicore.carts._holds import Need, StockWork, fits_channel
from omnicore.carts._models import Cart, CartStatus, TrailAction
from omnicore.carts._state import (
    add_trail,
    cart_payload,
    channel_for,
    claim,
    hold_states,
    line_rows,
    lock_open,
    open_cart_of,
    reload,
)
from omnicore.customers import resolve
from omnicore.errors import Conflict, Forbidden, NotFound
from omnicore.network import ChannelKind, get_channel
from omnicore.store.tables import cart_lines, carts

if TYPE_CHECKING:
    from omnicore.network import Channel
    from omnicore.store.uow import Tx


async def rehold_for(
    tx: Tx, stock: StockWork, channel: Channel, cart_id: str, rows: Sequence[Any] | None = None
) -> None:
    """Re-hold, for ``channel``, every line whose hold it cannot keep.

    A line keeps an active hold of its whole quantity when the channel sells from
    every location of that hold (a pickup or ship-from-store line: when the hold
    is at its store). Other lines — hold expired, revoked, cut short or at the
    wrong locations — are released and held again; a line that cannot be held
    stays in the cart without a hold (``CartLine.available`` tells).
    """
    if rows is None:
        rows = await line_rows(tx, cart_id)
    states = await hold_states(tx, [r.hold_id for r in rows])
    needs = [
        Need(r.id, r.sku, r.quantity, r.pickup_location, r.hold_id)
        for r in rows
        if not fits_channel(states.get(r.hold_id) if r.hold_id else None,
                            r.quantity, r.pickup_location, channel)
    ]
    if not needs:
        return
    taken = await stock.rehold(channel, cart_id, needs)
    for need in needs:
        await tx.conn.execute(
            update(cart_lines).where(cart_lines.c.id == need.line_id)
            .values(hold_id=taken[need.line_id])
        )


async def switch_channel(tx: Tx, stock: StockWork, row: Any, channel: Channel) -> None:
    """Move a claimed cart to ``channel`` (and its currency), re-holding as needed."""
    await tx.conn.execute(
        update(carts).where(carts.c.id == row.id)
        .values(channel_code=channel.code, currency=channel.currency)
    )
    await rehold_for(tx, stock, channel, row.id)


async def resume_on(tx: Tx, stock: StockWork, row: Any, code: str, actor: str | None) -> Channel:
    """Move the claimed cart to channel ``code`` (a store's takes it over with
    ``take_over``: ``Forbidden``), re-holding what that channel cannot keep; records
    ``resumed`` in the trail."""
    target = await channel_for(tx, code)
    if target.kind is ChannelKind.STORE:
        raise Forbidden("a store channel takes a cart over with take_over (the customer's "
                        "code or consent)", field="channel")
    await switch_channel(tx, stock, row, target)
    await add_trail(tx, row.id, target.code, TrailAction.RESUMED, actor)
    return target


async def resume(tx: Tx, stock: StockWork, cart_id: str, channel: str, actor: str | None
                 ) -> Cart:
    """``carts.resume``: on the cart's own channel a refresh, else ``resume_on`` and
    ``cart.updated`` (``change="resumed"``)."""
    row = await lock_open(tx, cart_id)
    if channel == row.channel_code:
        await rehold_for(tx, stock, await get_channel(tx, row.channel_code), row.id)
        return await reload(tx, row.id)
    row = await claim(tx, cart_id, None)
    previous = row.channel_code
    await resume_on(tx, stock, row, channel, actor)
    cart = await reload(tx, row.id)
    tx.emit("cart.updated", cart_payload(cart, change="resumed", actor=actor,
                                         previous_channel=previous))
    return cart


async def attach_customer(
    tx: Tx, stock: StockWork, cart_id: str, version: int, customer_id: str, actor: str | None,
    maximum: int,
) -> Cart:
    """``carts.attach_customer``: the cart becomes the customer's, or is merged into the
    customer's open cart (``merge_carts``); returns the surviving cart."""
    row = await claim(tx, cart_id, version)
    customer = await resolve(tx, customer_id, lock=True)
    if row.customer_id is not None:
        try:
            owner = (await resolve(tx, row.customer_id)).id
        except NotFound:
            owner = None
        if owner == customer.id:
            return await reload(tx, row.id)
        raise Conflict("the cart belongs to another customer", field="customer_id")
    other = await open_cart_of(tx, customer.id, other_than=row.id)
    if other is None:
        await tx.conn.execute(
            update(carts).where(carts.c.id == row.id).values(customer_id=customer.id))
        cart = await reload(tx, row.id)
        tx.emit("cart.updated", cart_payload(cart, change="customer_attached", actor=actor))
        return cart
    channel = await get_channel(tx, row.channel_code)
    await merge_carts(tx, stock, row, other.id, channel, actor, maximum)
    cart = await reload(tx, other.id)
    tx.emit("cart.merged", cart_payload(cart, merged_cart_id=row.id, actor=actor))
    return cart


def _join_notes(first: str | None, second: str | None) -> str | None:
    notes = [n for n in (first, second) if n and n.strip()]
    if len(notes) == 2 and notes[0].strip() == notes[1].strip():
        notes = notes[:1]
    return "\n".join(notes) if notes else None


def _unite_codes(first: Sequence[str], second: Sequence[str]) -> list[str]:
    return list(dict.fromkeys([*first, *second]))


async def merge_carts(
    tx: Tx, stock: StockWork, anonymous: Any, survivor_id: str, channel: Channel,
    actor: str | None, maximum: int,
) -> None:
    """Merge the claimed ``anonymous`` cart into ``survivor_id`` (see the module rules)."""
    survivor = await claim(tx, survivor_id, None)  # locks it and bumps its version
    kept = await line_rows(tx, survivor.id)
    incoming = await line_rows(tx, anonymous.id)
    states = await hold_states(tx, [r.hold_id for r in [*kept, *incoming]])
    by_key = {(r.sku, r.fulfilment, r.pickup_location): r for r in kept}
    totals: dict[str, int] = {}
    absorbed: list[Any] = []
    position = max((r.position for r in kept), default=-1) + 1
    for line in incoming:
        twin = by_key.get((line.sku, line.fulfilment, line.pickup_location))
        if twin is None:
            await tx.conn.execute(
                update(cart_lines).where(cart_lines.c.id == line.id)
                .values(cart_id=survivor.id, position=position)
            )
            position += 1
            if line.hold_id and line.hold_id in states:
                await stock.move_reference(line.hold_id, survivor.id)
            kept.append(line)
        else:
            totals[twin.id] = min(totals.get(twin.id, twin.quantity) + line.quantity, maximum)
            absorbed.append(line)
    # One pass over the stock, in lock order: absorbed lines release, summed lines and
    # lines the new channel cannot keep are held again.
    needs = [Need(line.id, line.sku, 0, None, line.hold_id) for line in absorbed]
    for line in kept:
        quantity = totals.get(line.id, line.quantity)
        state = states.get(line.hold_id) if line.hold_id else None
        if line.id in totals or not fits_channel(state, quantity, line.pickup_location, channel):
            needs.append(Need(line.id, line.sku, quantity, line.pickup_location, line.hold_id))
    taken = await stock.rehold(channel, survivor.id, needs)
    for need in needs:
        if need.quantity:
            await tx.conn.execute(update(cart_lines).where(cart_lines.c.id == need.line_id)
                                  .values(quantity=need.quantity, hold_id=taken[need.line_id]))
    if absorbed:
        await tx.conn.execute(cart_lines.delete().where(
            cart_lines.c.id.in_(sorted(line.id for line in absorbed))))
    await tx.conn.execute(
        update(carts).where(carts.c.id == survivor.id).values(
            channel_code=channel.code,
            currency=channel.currency,
            note=_join_notes(survivor.note, anonymous.note),
            attributes={**(anonymous.attributes or {}), **(survivor.attributes or {})},
            discount_codes=_unite_codes(survivor.discount_codes or [],
                                        anonymous.discount_codes or []),
        )
    )
    await tx.conn.execute(
        update(carts).where(carts.c.id == anonymous.id).values(
            status=CartStatus.MERGED.value, merged_into=survivor.id, handoff_code=None,
            handoff_expires_at=None, handoff_consent=False,
        )
    )
    await add_trail(tx, anonymous.id, anonymous.channel_code, TrailAction.MERGED, actor)
    await add_trail(tx, survivor.id, channel.code, TrailAction.MERGED_IN, actor)

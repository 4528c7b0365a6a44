"""How a cart's lines reach the customer: its delivery groups (``carts.set_delivery``).

A cart keeps a list of ``DeliveryGroup`` (``omnicore.delivery``): ship to an
address, pick up at a store, a relay point — several of them for several
addresses. A line belongs to the group that lists its id in ``line_ids``;
otherwise pickup lines go to the pickup group of their store (one is made,
with the ``click_and_collect`` method, when none is given) and shipped lines to
the one ship or relay group without ``line_ids``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import update

from omnicore.carts._models import Cart, CartLine, Fulfilment
from omnicore.carts._state import groups_of
from omnicore.delivery import DeliveryGroup, DeliveryKind
from omnicore.errors import InvalidInput
from omnicore.serialization import unstructure
from omnicore.store.tables import carts

if TYPE_CHECKING:
    from omnicore.delivery import DeliveryService
    from omnicore.store.uow import Tx

__all__ = ["PICKUP_METHOD", "assign_groups", "groups_of", "resolve_groups", "store_groups"]

PICKUP_METHOD = "click_and_collect"


def _fits(line: CartLine, group: DeliveryGroup) -> bool:
    if line.fulfilment is Fulfilment.PICKUP:
        return group.kind is DeliveryKind.PICKUP and group.location == line.location
    return group.kind in (DeliveryKind.SHIP, DeliveryKind.RELAY)


def assign_groups(cart: Cart, groups: Sequence[DeliveryGroup]) -> tuple[
        list[DeliveryGroup], dict[str, str]]:
    """Every group the cart needs and ``line id → group key``.

    Raises ``InvalidInput`` naming ``delivery`` when a shipped line has no ship or
    relay group, or a line is listed by a group that cannot serve it.
    """
    groups = list(groups)
    by_line: dict[str, str] = {}
    for index, group in enumerate(groups):
        for line_id in group.line_ids or ():
            line = next((li for li in cart.lines if li.id == line_id), None)
            if line is None:
                raise InvalidInput(f"no line {line_id!r} in the cart",
                                   field=f"delivery[{index}].line_ids")
            if not _fits(line, group):
                raise InvalidInput(f"line {line_id} ({line.fulfilment}) cannot go to a "
                                   f"{group.kind} group", field=f"delivery[{index}].line_ids")
            by_line[line_id] = group.key
    for line in cart.lines:
        if line.id in by_line:
            continue
        open_groups = [g for g in groups if g.line_ids is None and _fits(line, g)]
        if not open_groups and line.fulfilment is Fulfilment.PICKUP and line.location:
            made = DeliveryGroup(key=f"pickup-{line.location}", kind=DeliveryKind.PICKUP,
                                 method=PICKUP_METHOD, location=line.location)
            groups.append(made)
            open_groups = [made]
        if not open_groups:
            raise InvalidInput(f"line {line.id} ({line.sku}) is shipped but the cart has no "
                               "delivery address: set one with set_delivery", field="delivery")
        by_line[line.id] = open_groups[0].key
    used = set(by_line.values())
    return [g for g in groups if g.key in used], by_line


async def resolve_groups(
    delivery: DeliveryService, groups: Sequence[DeliveryGroup | Mapping[str, Any]], channel: str
) -> list[dict[str, Any]] | None:
    """Each group checked by ``delivery.resolve`` (errors name ``delivery[i]``), keys
    unique; returned as ``carts.delivery`` stores them (None: no choice)."""
    resolved: list[DeliveryGroup] = []
    for index, group in enumerate(groups):
        done = await delivery.resolve(group, channel=channel, field=f"delivery[{index}]")
        if any(g.key == done.key for g in resolved):
            raise InvalidInput(f"key {done.key!r} is used twice", field=f"delivery[{index}].key")
        resolved.append(done)
    return [unstructure(g) for g in resolved] or None


async def store_groups(tx: Tx, cart_id: str, stored: list[dict[str, Any]] | None) -> None:
    await tx.conn.execute(update(carts).where(carts.c.id == cart_id).values(delivery=stored))

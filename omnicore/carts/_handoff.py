"""Clienteling: the customer hands the cart to a store associate, who finishes it.

The customer consents in one of two ways, both valid ``[carts]
handoff_code_minutes`` (15) and good for one take-over:

* ``handoff_code`` — an 8-character code from an alphabet without look-alikes
  (no 0/O, 1/I/L), shown on the phone and typed or scanned by the associate;
* ``allow_handoff`` — a consent flag on the cart, for an associate who found the
  cart through the customer's profile (the 360° view).

``take_over`` is claimed by one conditional update (the code or consent must be
live in the same statement that clears it), so two associates racing for the
same code cannot both win.
"""

from __future__ import annotations

import datetime as dt
import secrets
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update

from omnicore.carts._continuity import switch_channel
from omnicore.carts._holds import StockWork
from omnicore.carts._models import Cart, CartStatus, Handoff, TrailAction
from omnicore.carts._state import (
    add_trail,
    cart_payload,
    cart_row,
    channel_for,
    check_actor,
    claim,
    reload,
)
from omnicore.errors import Forbidden, InvalidInput
from omnicore.network import ChannelKind
from omnicore.store.tables import carts

if TYPE_CHECKING:
    from omnicore.store.uow import Tx

#: 31 symbols: digits and capitals without 0, O, 1, I, L.
ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 8
CODE_ATTEMPTS = 5


def new_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))


def normalise_code(code: object) -> str:
    """Accept the code as people type it: any case, spaces or dashes between groups."""
    if not isinstance(code, str):
        raise Forbidden("a hand-off code is required", field="code")
    normal = code.strip().upper().replace(" ", "").replace("-", "")
    if len(normal) != CODE_LENGTH or any(c not in ALPHABET for c in normal):
        raise Forbidden("unknown or expired hand-off code", field="code")
    return normal


async def issue_code(tx: Tx, row: Any, ttl: dt.timedelta) -> Handoff:
    """Give the claimed cart a fresh code (replacing an earlier one)."""
    expires_at = tx.now + ttl
    for _ in range(CODE_ATTEMPTS):
        code = new_code()
        # An expired code may still sit on another cart: free it for reuse.
        await tx.conn.execute(
            update(carts)
            .where(carts.c.handoff_code == code, carts.c.handoff_expires_at <= tx.now)
            .values(handoff_code=None)
        )
        taken = (await tx.conn.execute(
            select(carts.c.id).where(carts.c.handoff_code == code))).first()
        if taken is None:
            break
    else:  # pragma: no cover - 31⁸ codes
        raise RuntimeError("could not find a free hand-off code")
    await tx.conn.execute(
        update(carts).where(carts.c.id == row.id)
        .values(handoff_code=code, handoff_expires_at=expires_at)
    )
    return Handoff(code, row.id, expires_at, row.version)


def check_associate(associate: object) -> str:
    if associate is None:
        raise InvalidInput("name the associate taking the cart over", field="associate")
    checked = check_actor(associate, "associate")
    assert checked is not None
    return checked


async def take_over_cart(
    tx: Tx, stock: StockWork, *, code: object, cart_id: object, channel_code: object,
    associate: object,
) -> tuple[Any, str]:
    """Claim the cart for a store channel; returns (the cart row, the previous channel)."""
    who = check_associate(associate)
    channel = await channel_for(tx, channel_code)
    if channel.kind is not ChannelKind.STORE:
        raise Forbidden("only a store channel takes a cart over", field="channel")
    cleared = {
        "handoff_code": None, "handoff_expires_at": None, "handoff_consent": False,
        "version": carts.c.version + 1, "updated_at": tx.now, "abandoned_at": None,
    }
    live = [carts.c.status == CartStatus.OPEN.value, carts.c.handoff_expires_at > tx.now]
    if code is not None:
        normal = normalise_code(code)
        conditions = [carts.c.handoff_code == normal, *live]
        if cart_id is not None:
            conditions.append(carts.c.id == cart_id)
        before = (await tx.conn.execute(select(carts.c.id).where(*conditions))).first()
        result = await tx.conn.execute(update(carts).where(*conditions).values(**cleared))
        if before is None or not result.rowcount:  # type: ignore[attr-defined]
            raise Forbidden("unknown, expired or already used hand-off code", field="code")
        target = before.id
    elif cart_id is not None:
        await cart_row(tx, cart_id)  # NotFound for an unknown cart
        result = await tx.conn.execute(
            update(carts).where(carts.c.id == cart_id, carts.c.handoff_consent.is_(True), *live)
            .values(**cleared)
        )
        if not result.rowcount:  # type: ignore[attr-defined]
            raise Forbidden(
                "the customer has not allowed a hand-off (or it expired): ask for their code",
                field="code",
            )
        target = cart_id
    else:
        raise Forbidden("a hand-off code or the customer's consent is required", field="code")
    row = await cart_row(tx, target)
    previous = row.channel_code
    await switch_channel(tx, stock, row, channel)
    await add_trail(tx, row.id, channel.code, TrailAction.HANDED_OFF, who)
    return row, previous


async def offer_code(tx: Tx, cart_id: str, version: int, ttl: dt.timedelta) -> Handoff:
    """``carts.handoff_code``: claim the cart, give it a fresh code, emit ``cart.updated``."""
    row = await claim(tx, cart_id, version)
    handoff = await issue_code(tx, row, ttl)
    cart = await reload(tx, row.id)
    tx.emit("cart.updated", cart_payload(cart, change="handoff_offered", actor=None,
                                         handoff_expires_at=handoff.expires_at.isoformat()))
    return handoff


async def set_consent(tx: Tx, row: Any, allowed: bool, ttl: dt.timedelta) -> None:
    """The customer's consent to a hand-off without a code, for ``ttl``; withdrawing it
    also voids any code."""
    values: dict[str, Any] = {"handoff_consent": allowed}
    if allowed:
        values["handoff_expires_at"] = tx.now + ttl
    else:
        values.update(handoff_code=None, handoff_expires_at=None)
    await tx.conn.execute(update(carts).where(carts.c.id == row.id).values(**values))


async def take_over(
    tx: Tx, stock: StockWork, *, code: object, cart_id: object, channel_code: object,
    associate: object,
) -> Cart:
    """``carts.take_over``: ``take_over_cart``, then ``cart.handed_off``."""
    row, previous = await take_over_cart(
        tx, stock, code=code, cart_id=cart_id, channel_code=channel_code, associate=associate
    )
    cart = await reload(tx, row.id)
    tx.emit("cart.handed_off", cart_payload(cart, associate=associate, previous_channel=previous))
    return cart

"""What every ``commerce.carts`` call runs on: one transaction with the stock side of the
change, run again when stock moved under it (``UnitOfWork.run``), and the
claim → change → emit shape of a cart change."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from omnicore.carts._continuity import resume_on
from omnicore.carts._holds import StockWork
from omnicore.carts._models import Cart
from omnicore.carts._state import cart_payload, check_actor, check_version, claim, reload
from omnicore.errors import OutOfStock
from omnicore.network import Channel, get_channel
from omnicore.stock import Contention

if TYPE_CHECKING:
    from omnicore.store.uow import Tx, UnitOfWork

__all__ = ["Apply", "Work", "change", "run"]

T = TypeVar("T")

#: ``work(tx, stock)``: a whole cart call inside its transaction.
Work = Callable[["Tx", StockWork], Awaitable[T]]
#: ``apply(tx, stock, claimed_row, channel)``: the change itself, after the claim.
Apply = Callable[["Tx", StockWork, Any, Channel], Awaitable[None]]


def _too_fast(_: Exception) -> OutOfStock:
    return OutOfStock("the stock of this cart is selling too fast to hold: try again")


async def run(uow: UnitOfWork, low_threshold: int, work: Work[T]) -> T:
    """Run ``work`` in one transaction, then emit the stock events of what it held or
    released; again when stock moved under it (``Contention``) or PostgreSQL reported
    a deadlock, ``OutOfStock`` when stock kept moving."""

    async def attempt(tx: Tx) -> T:
        stock = StockWork(tx, low_threshold)
        result = await work(tx, stock)
        await stock.finish()
        return result

    return await uow.run(attempt, retry_on=(Contention,), exhausted=_too_fast)


async def change(
    uow: UnitOfWork, low_threshold: int, cart_id: str, version: object, channel: str | None,
    actor: object, what: str, apply: Apply,
) -> Cart:
    """Claim the cart at ``version``, resume it on ``channel`` if that is another one,
    ``apply`` the change, emit ``cart.updated`` with ``change=what``."""
    checked, who = check_version(version), check_actor(actor)

    async def work(tx: Tx, stock: StockWork) -> Cart:
        row = await claim(tx, cart_id, checked)
        current = await get_channel(tx, row.channel_code)
        if channel is not None and channel != row.channel_code:
            current = await resume_on(tx, stock, row, channel, who)
        await apply(tx, stock, row, current)
        cart = await reload(tx, row.id, channel=current)
        tx.emit("cart.updated", cart_payload(cart, change=what, actor=who))
        return cart

    return await run(uow, low_threshold, work)

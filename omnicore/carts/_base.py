"""What every ``commerce.carts`` call runs on: one transaction, rerun when stock moved
under it, and the claim → change → emit shape of a cart change."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy.exc import DBAPIError

from omnicore.carts._continuity import switch_channel
from omnicore.carts._holds import Contention, StockWork
from omnicore.carts._models import Cart, CartSettings
from omnicore.carts._state import (
    add_trail,
    cart_payload,
    channel_for,
    check_actor,
    check_version,
    claim,
    reload,
)
from omnicore.errors import Forbidden, OutOfStock
from omnicore.network import Channel, ChannelKind, get_channel

if TYPE_CHECKING:
    from omnicore.commerce import Commerce
    from omnicore.store.uow import Tx

T = TypeVar("T")
ATTEMPTS = 8

#: ``apply(tx, stock, claimed_row, channel)``: the change itself, after the claim.
Apply = Callable[["Tx", StockWork, Any, Channel], Awaitable[None]]


def _retryable(exc: DBAPIError) -> bool:
    """A PostgreSQL deadlock or serialization failure: the transaction may simply rerun."""
    state = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    return state in ("40P01", "40001")


class CartBase:
    """The shared machinery of ``CartService`` (see ``omnicore.carts``)."""

    def __init__(self, commerce: Commerce) -> None:
        self._commerce = commerce
        self._uow = commerce.uow
        self.settings = CartSettings.from_config(commerce.config.extra)

    async def _run(self, work: Callable[[Tx, StockWork], Awaitable[T]]) -> T:
        """Run ``work`` in one transaction, again when stock moved under it."""
        for attempt in range(ATTEMPTS):
            try:
                async with self._uow() as tx:
                    stock = StockWork(tx, self.settings.low_threshold)
                    result = await work(tx, stock)
                    await stock.finish()
                    return result
            except Contention:
                continue
            except DBAPIError as exc:
                if attempt + 1 < ATTEMPTS and _retryable(exc):
                    continue
                raise
        raise OutOfStock("the stock of this cart is selling too fast to hold: try again")

    async def _change(
        self, cart_id: str, version: object, channel: str | None, actor: object, change: str,
        apply: Apply,
    ) -> Cart:
        """Claim the cart at ``version``, resume it on ``channel`` if that is another one,
        ``apply`` the change, emit ``cart.updated`` with ``change``."""
        checked, who = check_version(version), check_actor(actor)

        async def work(tx: Tx, stock: StockWork) -> Cart:
            row = await claim(tx, cart_id, checked)
            current = await get_channel(tx, row.channel_code)
            if channel is not None and channel != row.channel_code:
                current = await self._switch(tx, stock, row, channel, who)
            await apply(tx, stock, row, current)
            cart = await reload(tx, row.id, channel=current)
            tx.emit("cart.updated", cart_payload(cart, change=change, actor=who))
            return cart

        return await self._run(work)

    async def _switch(
        self, tx: Tx, stock: StockWork, row: Any, code: str, actor: str | None
    ) -> Channel:
        target = await channel_for(tx, code)
        if target.kind is ChannelKind.STORE:
            raise Forbidden("a store channel takes a cart over with take_over (the customer's "
                            "code or consent)", field="channel")
        await switch_channel(tx, stock, row, target)
        await add_trail(tx, row.id, target.code, "resumed", actor)
        return target

"""``commerce.returns``: goods come back — at any store that accepts returns, or by mail.

One transaction records the return: the order is locked, every line is checked
(no more units than left the building — shipped, delivered or collected — minus
those already returned), the units join ``on_hand`` of the receiving location as
``return`` movements (external ids derived from the return id: replay-safe),
``order_lines.quantity_returned`` grows, ``return.created`` is emitted and the
order's status is recalculated (``partially_returned``, ``returned``). Bad input
raises a typed error naming the field and changes nothing.

The refund follows the commit, through ``commerce.payments.refund``: the
returned lines' value (line total * returned / ordered, rounded so that
returning every unit gives back exactly the line total) goes back to the
original payments, most recent first, partially when one does not cover it.
Shipping is not refunded unless an explicit ``refund`` amount says so. When the
whole order has been refunded the order becomes ``refunded``. A gateway failure
is logged and emitted as ``return.refund_failed``: the return stands.
"""

from __future__ import annotations

import builtins
import logging
import secrets
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, insert, select, update

from omnicore.errors import InvalidInput, NotFound
from omnicore.fulfilment import return_units
from omnicore.money import Money
from omnicore.network import Capability, LocationKind, get_location
from omnicore.orders import (
    GOODS_LEFT,
    Order,
    ReturnRecord,
    order_payload,
    order_row,
    refresh_status,
)
from omnicore.stock import StockChanges, emit_stock_events
from omnicore.store.order_tables import (
    fulfilment_lines,
    fulfilments,
    order_lines,
    order_returns,
    payment_transactions,
    payments,
)

if TYPE_CHECKING:
    from omnicore.commerce import Commerce
    from omnicore.store.uow import Tx

__all__ = ["ReturnService"]

log = logging.getLogger("omnicore.returns")

METHODS = ("store", "mail")


def _requested(lines: object) -> list[tuple[str, int]]:
    """``[(line id, quantity)]`` from ``[{"line_id", "quantity"}, …]``, checked."""
    if isinstance(lines, (str, bytes, Mapping)) or not isinstance(lines, Sequence) or not lines:
        raise InvalidInput("give at least one line to return", field="lines")
    found: list[tuple[str, int]] = []
    for index, item in enumerate(lines):
        if not isinstance(item, Mapping):
            raise InvalidInput("must be {line_id, quantity}", field=f"lines[{index}]")
        unknown = sorted(set(item) - {"line_id", "quantity"})
        if unknown:
            raise InvalidInput("unknown key", field=f"lines[{index}].{unknown[0]}")
        line_id, quantity = item.get("line_id"), item.get("quantity")
        if not isinstance(line_id, str) or not line_id:
            raise InvalidInput("must be a line id of the order", field=f"lines[{index}].line_id")
        if any(line_id == seen for seen, _ in found):
            raise InvalidInput("the line is listed twice", field=f"lines[{index}].line_id")
        if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity <= 0:
            raise InvalidInput("must be an integer above 0", field=f"lines[{index}].quantity")
        found.append((line_id, quantity))
    return found


def _line_value(total_minor: int, ordered: int, units: int, currency: str) -> Money:
    """The value of the first ``units`` of a line (cumulative, so the parts add up)."""
    total = Money.from_minor_units(total_minor, currency).amount
    return Money(total * Decimal(units) / Decimal(ordered), currency)


class ReturnService:
    """Returns of goods that left, and their refunds."""

    def __init__(self, commerce: Commerce) -> None:
        self._commerce = commerce
        self._uow = commerce.uow

    async def get(self, return_id: str) -> ReturnRecord:
        async with self._uow.read() as tx:
            row = (await tx.conn.execute(
                select(order_returns.c.order_id).where(order_returns.c.id == return_id)
            )).one_or_none()
        if row is None:
            raise NotFound(f"no return {return_id!r}", field="return_id")
        order = await self._commerce.orders.get(row.order_id)
        return next(r for r in order.returns if r.id == return_id)

    async def for_order(self, order_id: str) -> builtins.list[ReturnRecord]:
        """The order's returns, oldest first."""
        return (await self._commerce.orders.get(order_id)).returns

    async def create(
        self, order_id: str, lines: Sequence[Mapping[str, Any]], *, location: str,
        method: str = "store", reason: str | None = None, refund: bool | Money | str = True,
        actor: str | None = None,
    ) -> ReturnRecord:
        """Take goods back at ``location`` and refund them.

        :param lines: ``[{"line_id": …, "quantity": 1}, …]`` — order lines and units.
        :param location: a location with the ``returns`` capability (``method="store"``),
            or a warehouse (``method="mail"``); the units join its stock.
        :param refund: True — the returned lines' value; False — no refund (an exchange,
            a refund made elsewhere); an amount — that instead (a restocking fee kept,
            shipping given back). More than was captured and not refunded raises
            ``InvalidInput`` naming ``refund``.
        :raises InvalidInput: ``lines[i].quantity`` above what left and was not returned,
            ``lines[i].line_id`` not of the order, ``location``, ``method``, ``refund``.
        """
        if method not in METHODS:
            raise InvalidInput("must be store or mail", field="method")
        requested = _requested(lines)
        if reason is not None and (not isinstance(reason, str) or len(reason) > 500):
            raise InvalidInput("must be a text of at most 500 characters", field="reason")
        if not isinstance(location, str) or not location:
            raise InvalidInput("must be a location code", field="location")
        return_id = f"ret_{secrets.token_hex(10)}"
        async with self._uow() as tx:
            order = await order_row(tx, order_id, lock=True)
            await _check_location(tx, location, method)
            items, owed = await _items(tx, order, requested)
            amount = await _refund_amount(tx, order, refund, owed)
            changes = StockChanges("return")
            await return_units(tx, return_id, location, [(i["line_id"], i["sku"], i["quantity"])
                                                         for i in items],
                               note=f"order {order.number} return {return_id}", changes=changes)
            for item in items:
                await tx.conn.execute(update(order_lines).where(order_lines.c.id == item["line_id"])
                                      .values(quantity_returned=order_lines.c.quantity_returned
                                              + item["quantity"]))
            await tx.conn.execute(insert(order_returns).values(
                id=return_id, order_id=order.id, location_code=location, method=method,
                lines=items, refund_minor=amount.minor_units, reason=reason, actor=actor,
                created_at=tx.now))
            tx.emit("return.created", order_payload(
                order, return_id=return_id, location=location, method=method, lines=items,
                refund={"amount_minor": amount.minor_units, "currency": order.currency},
                reason=reason, actor=actor))
            await refresh_status(tx, order.id, actor=actor)
            await emit_stock_events(tx, changes, low_default=self._commerce.stock.low_threshold)
        if amount.minor_units:
            await self._refund(order_id, return_id, amount, actor)
        return await self.get(return_id)

    async def _refund(self, order_id: str, return_id: str, amount: Money,
                      actor: str | None) -> None:
        """Give ``amount`` back to the order's payments, most recent first."""
        order: Order = await self._commerce.orders.get(order_id)
        missing = amount
        for payment in reversed(order.payments):
            take = min(missing, payment.refundable)
            if take.minor_units <= 0:
                continue
            try:
                await self._commerce.payments.refund(payment.id, take, actor=actor)
            except Exception as exc:  # the goods are back: the return stands
                log.exception("refund of return %s on payment %s failed", return_id, payment.id)
                await self._failed(order_id, return_id, payment.id, missing, exc)
                return
            missing -= take
            if missing.minor_units <= 0:
                return

    async def _failed(self, order_id: str, return_id: str, payment_id: str, missing: Money,
                      exc: Exception) -> None:
        async with self._uow() as tx:
            order = await order_row(tx, order_id)
            tx.emit("return.refund_failed", order_payload(
                order, return_id=return_id, payment_id=payment_id,
                missing={"amount_minor": missing.minor_units, "currency": missing.currency},
                error=getattr(exc, "code", type(exc).__name__)))


async def _check_location(tx: Tx, code: str, method: str) -> None:
    found = await get_location(tx, code, field="location")
    if not found.active:
        raise InvalidInput(f"{code} is not active", field="location")
    if method == "store" and not found.can(Capability.RETURNS):
        raise InvalidInput(f"{code} does not accept returns", field="location")
    if method == "mail" and found.kind is not LocationKind.WAREHOUSE:
        raise InvalidInput("mail returns go to a warehouse", field="location")


async def _items(tx: Tx, order: Any, requested: Sequence[tuple[str, int]]
                 ) -> tuple[list[dict[str, Any]], Money]:
    """The return's lines with their refund value, and the total; checks the quantities."""
    rows = {r.id: r for r in await tx.conn.execute(
        select(order_lines).where(order_lines.c.order_id == order.id))}
    left = {line_id: int(units) for line_id, units in await tx.conn.execute(
        select(fulfilment_lines.c.order_line_id, func.sum(fulfilment_lines.c.quantity))
        .join(fulfilments, fulfilments.c.id == fulfilment_lines.c.fulfilment_id)
        .where(fulfilments.c.order_id == order.id,
               fulfilments.c.status.in_([s.value for s in GOODS_LEFT]))
        .group_by(fulfilment_lines.c.order_line_id))}
    items, owed = [], Money.zero(order.currency)
    for index, (line_id, quantity) in enumerate(requested):
        row = rows.get(line_id)
        if row is None:
            raise InvalidInput("not a line of this order", field=f"lines[{index}].line_id")
        returnable = left.get(line_id, 0) - row.quantity_returned
        if quantity > returnable:
            raise InvalidInput(f"only {max(returnable, 0)} unit(s) of this line left and were "
                               "not returned", field=f"lines[{index}].quantity")
        before = row.quantity_returned
        value = (_line_value(row.total_minor, row.quantity, before + quantity, order.currency)
                 - _line_value(row.total_minor, row.quantity, before, order.currency))
        owed += value
        items.append({"line_id": line_id, "sku": row.sku, "title": row.title,
                      "quantity": quantity, "refund_minor": value.minor_units})
    return items, owed


async def _refund_amount(tx: Tx, order: Any, refund: object, owed: Money) -> Money:
    if refund is False:
        return Money.zero(order.currency)
    if refund is True:
        wanted = owed
    else:
        try:
            wanted = refund if isinstance(refund, Money) else Money(str(refund), order.currency)
        except InvalidInput:
            raise InvalidInput("must be True, False or an amount", field="refund") from None
        if wanted.currency != order.currency or wanted.minor_units < 0:
            raise InvalidInput(f"must be an amount of {order.currency} ≥ 0", field="refund")
    refundable = await _refundable(tx, order)
    if wanted > refundable:
        raise InvalidInput(f"only {refundable} was captured and not refunded: refund less, "
                           "or refund=False", field="refund")
    return wanted


async def _refundable(tx: Tx, order: Any) -> Money:
    """Captured and not refunded (nor being refunded) over the order's payments."""
    captured, refunded = (await tx.conn.execute(
        select(func.coalesce(func.sum(payments.c.captured_minor), 0),
               func.coalesce(func.sum(payments.c.refunded_minor), 0))
        .where(payments.c.order_id == order.id))).one()
    pending = (await tx.conn.execute(
        select(func.coalesce(func.sum(payment_transactions.c.amount_minor), 0))
        .join(payments, payments.c.id == payment_transactions.c.payment_id)
        .where(payments.c.order_id == order.id, payment_transactions.c.kind == "refund",
               payment_transactions.c.outcome == "pending"))).scalar()
    minor = int(captured) - int(refunded) - int(pending or 0)
    return Money.from_minor_units(max(minor, 0), order.currency)

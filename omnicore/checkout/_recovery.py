"""What checkout does when something went wrong: void what a failed or dead checkout
authorized (``abort``, ``reconcile``), so no customer's money stays held without an order."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, select, update

from omnicore.checkout._models import UNFINISHED, CheckoutStatus
from omnicore.errors import OmnicoreError
from omnicore.orders import PaymentStatus
from omnicore.payments import UNSETTLED, Outcome, payment_ref
from omnicore.store.order_tables import checkouts, payment_transactions, payments

if TYPE_CHECKING:
    from omnicore.payments import PaymentService
    from omnicore.store.uow import Tx, UnitOfWork

__all__ = ["abort", "reconcile", "unsettled", "void_unsettled"]

log = logging.getLogger("omnicore.checkout")
_UNFINISHED = [status.value for status in UNFINISHED]


async def abort(uow: UnitOfWork, gateways: PaymentService, key: str,
                exc: BaseException) -> None:
    """The checkout failed: void what it authorized, free the key for a new attempt."""
    error = exc.as_dict() if isinstance(exc, OmnicoreError) else {
        "code": "error", "message": type(exc).__name__}
    async with uow() as tx:
        await tx.conn.execute(update(checkouts).where(
            checkouts.c.key == key, checkouts.c.status != CheckoutStatus.COMPLETED.value
        ).values(status=CheckoutStatus.FAILED.value, error=error, updated_at=tx.now))
    await void_unsettled(uow, gateways, key)


async def void_unsettled(uow: UnitOfWork, gateways: PaymentService, key: str) -> int:
    """Void every payment of ``key`` that holds money without an order; count them."""
    async with uow.read() as tx:
        rows = list(await unsettled(tx, key))
        number = (await tx.conn.execute(
            select(checkouts.c.order_number).where(checkouts.c.key == key))).scalar()
    voided = 0
    for row in rows:
        try:
            gateway = gateways.gateway(row.gateway)
            # with the order number the gateway can replay the authorize call to find it
            await gateway.void(payment_ref(row, number), idempotency_key=f"{row.id}:void")
        except Exception:
            log.warning("could not void payment %s yet; the worker will retry", row.id)
            continue
        await _mark_voided(uow, row.id)
        voided += 1
    return voided


async def _mark_voided(uow: UnitOfWork, payment_id: str) -> None:
    async with uow() as tx:
        await tx.conn.execute(update(payments).where(payments.c.id == payment_id).values(
            status=PaymentStatus.VOIDED.value, updated_at=tx.now))
        await tx.conn.execute(insert(payment_transactions).values(
            payment_id=payment_id, kind="void", amount_minor=0,
            outcome=Outcome.SUCCEEDED.value, created_at=tx.now))
        tx.emit("payment.voided", {"payment_id": payment_id, "order_id": None,
                                   "reason": "checkout did not complete"})


async def reconcile(uow: UnitOfWork, gateways: PaymentService) -> int:
    """Mark failed the checkouts whose lease or customer action ran out without an order,
    then void the payments of every failed checkout; returns how many were voided."""
    async with uow() as tx:
        stale = [r.key for r in await tx.conn.execute(
            select(checkouts.c.key).where(
                checkouts.c.status.in_(_UNFINISHED),
                checkouts.c.locked_until <= tx.now))]
        if stale:
            await tx.conn.execute(update(checkouts).where(
                checkouts.c.key.in_(stale),
                checkouts.c.status.in_(_UNFINISHED),
                checkouts.c.locked_until <= tx.now,
            ).values(status=CheckoutStatus.FAILED.value, updated_at=tx.now,
                     error={"code": "abandoned", "message": "the checkout did not finish"}))
        failed_keys = [r.key for r in await tx.conn.execute(
            select(checkouts.c.key).distinct()
            .join(payments, payments.c.checkout_key == checkouts.c.key)
            .where(checkouts.c.status == CheckoutStatus.FAILED.value,
                   payments.c.order_id.is_(None),
                   payments.c.status.in_([s.value for s in UNSETTLED])))]
    voided = 0
    for key in failed_keys:
        voided += await void_unsettled(uow, gateways, key)
    return voided


async def unsettled(tx: Tx, key: str) -> Sequence[Any]:
    """The payments of checkout ``key`` that hold money without an order."""
    return (await tx.conn.execute(
        select(payments).where(
            payments.c.checkout_key == key, payments.c.order_id.is_(None),
            payments.c.status.in_([s.value for s in UNSETTLED]))
    )).all()

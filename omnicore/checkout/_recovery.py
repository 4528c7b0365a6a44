"""What checkout does when something went wrong: void what a failed or dead checkout
authorized (``_abort``, ``reconcile``), so no customer's money stays held without an order."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, select, update

from omnicore.errors import OmnicoreError
from omnicore.orders import PaymentStatus
from omnicore.payments import UNSETTLED, payment_ref
from omnicore.store.order_tables import checkouts, payment_transactions, payments

if TYPE_CHECKING:
    from omnicore.commerce import Commerce
    from omnicore.store.uow import Tx, UnitOfWork

__all__ = ["RecoveryCalls", "unsettled"]

log = logging.getLogger("omnicore.checkout")


class RecoveryCalls:
    """The recovery half of ``CheckoutService``."""

    _commerce: Commerce
    _uow: UnitOfWork

    async def _abort(self, key: str, exc: BaseException) -> None:
        """The checkout failed: void what it authorized, free the key for a new attempt."""
        error = exc.as_dict() if isinstance(exc, OmnicoreError) else {
            "code": "error", "message": type(exc).__name__}
        async with self._uow() as tx:
            await tx.conn.execute(update(checkouts).where(
                checkouts.c.key == key, checkouts.c.status != "completed"
            ).values(status="failed", error=error, updated_at=tx.now))
        await self._void_unsettled(key)

    async def _void_unsettled(self, key: str) -> int:
        """Void every payment of ``key`` that holds money without an order; count them."""
        async with self._uow.read() as tx:
            rows = list(await unsettled(tx, key))
            number = (await tx.conn.execute(
                select(checkouts.c.order_number).where(checkouts.c.key == key))).scalar()
        voided = 0
        for row in rows:
            try:
                gateway = self._commerce.payments.gateway(row.gateway)
                # with the order number the gateway can replay the authorize call to find it
                await gateway.void(payment_ref(row, number), idempotency_key=f"{row.id}:void")
            except Exception:
                log.warning("could not void payment %s yet; the worker will retry", row.id)
                continue
            await self._mark_voided(row.id)
            voided += 1
        return voided

    async def _mark_voided(self, payment_id: str) -> None:
        async with self._uow() as tx:
            await tx.conn.execute(update(payments).where(payments.c.id == payment_id).values(
                status=PaymentStatus.VOIDED.value, updated_at=tx.now))
            await tx.conn.execute(insert(payment_transactions).values(
                payment_id=payment_id, kind="void", amount_minor=0, outcome="succeeded",
                created_at=tx.now))
            tx.emit("payment.voided", {"payment_id": payment_id, "order_id": None,
                                       "reason": "checkout did not complete"})


    async def reconcile(self) -> int:
        """Void the authorizations of checkouts that died or waited too long; returns how many.

        Run by the worker. A checkout is presumed dead when its lease is over
        (``[checkout] lease_seconds``) — or its customer action timed out — without
        an order: it is marked failed (so a late commit cannot succeed), then its
        payments are voided at the gateway. A void that fails is retried next time.
        """
        async with self._uow() as tx:
            stale = [r.key for r in await tx.conn.execute(
                select(checkouts.c.key).where(
                    checkouts.c.status.in_(["in_progress", "requires_action"]),
                    checkouts.c.locked_until <= tx.now))]
            if stale:
                await tx.conn.execute(update(checkouts).where(
                    checkouts.c.key.in_(stale),
                    checkouts.c.status.in_(["in_progress", "requires_action"]),
                    checkouts.c.locked_until <= tx.now,
                ).values(status="failed", updated_at=tx.now,
                         error={"code": "abandoned", "message": "the checkout did not finish"}))
            failed_keys = [r.key for r in await tx.conn.execute(
                select(checkouts.c.key).distinct()
                .join(payments, payments.c.checkout_key == checkouts.c.key)
                .where(checkouts.c.status == "failed", payments.c.order_id.is_(None),
                       payments.c.status.in_([s.value for s in UNSETTLED])))]
        voided = 0
        for key in failed_keys:
            voided += await self._void_unsettled(key)
        return voided


async def unsettled(tx: Tx, key: str) -> Sequence[Any]:
    return (await tx.conn.execute(
        select(payments).where(
            payments.c.checkout_key == key, payments.c.order_id.is_(None),
            payments.c.status.in_([s.value for s in UNSETTLED]))
    )).all()

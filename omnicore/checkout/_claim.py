"""Claiming a checkout's idempotency key: one ``checkouts`` row per key, with a lease.

The same key again returns the order made under it; a request racing for a key
whose lease is live waits; a key whose lease is over (its process died) or that
failed before is taken back — after the payments it left are voided.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, select, update

from omnicore.checkout._models import CheckoutStatus, Claim, ClaimAction
from omnicore.checkout._recovery import unsettled
from omnicore.errors import Conflict, PaymentActionRequired
from omnicore.orders import PaymentStatus, next_number
from omnicore.store.order_tables import checkouts, payments

if TYPE_CHECKING:
    from omnicore.orders import OrderSettings
    from omnicore.store.uow import Tx

__all__ = ["claim_key"]


async def claim_key(tx: Tx, key: str, cart_id: str, request: dict[str, Any],
                    settings: OrderSettings) -> Claim:
    """Claim ``key`` for checking out ``cart_id`` (locks its row if there is one).

    ``Conflict`` when the key was used for another cart; ``PaymentActionRequired``
    when a payment under the key still waits for the customer. An ``IntegrityError``
    when a concurrent request inserted the key first: read it again.
    """
    row = (await tx.conn.execute(
        select(checkouts).where(checkouts.c.key == key).with_for_update()
    )).one_or_none()
    lease_end = tx.now + settings.lease
    if row is None:
        number = await next_number(tx, settings.number_prefix)
        await tx.conn.execute(insert(checkouts).values(
            key=key, cart_id=cart_id, status=CheckoutStatus.IN_PROGRESS.value,
            order_number=number, order_id=None, locked_until=lease_end, request=request,
            error=None, created_at=tx.now, updated_at=tx.now))
        return Claim.proceed(number)
    if row.cart_id != cart_id:
        raise Conflict("this idempotency key was used for another cart",
                       field="idempotency_key")
    status = CheckoutStatus(row.status)
    if status is CheckoutStatus.COMPLETED:
        return Claim.done(row.order_number, row.order_id)
    live = row.locked_until > tx.now
    if status is CheckoutStatus.REQUIRES_ACTION and live:
        waiting = (await tx.conn.execute(
            select(payments.c.id, payments.c.next_action).where(
                payments.c.checkout_key == key,
                payments.c.status == PaymentStatus.REQUIRES_ACTION.value)
        )).first()
        if waiting is not None:
            raise PaymentActionRequired("the payment waits for the customer",
                                        payment_id=waiting.id,
                                        next_action=waiting.next_action or {})
    if status is CheckoutStatus.IN_PROGRESS and live:
        return Claim(ClaimAction.WAIT)
    if status is not CheckoutStatus.FAILED:  # its lease is over: take it back
        await tx.conn.execute(update(checkouts).where(checkouts.c.key == key)
                              .values(status=CheckoutStatus.FAILED.value, updated_at=tx.now))
        return Claim(ClaimAction.RESTART)
    # failed before: this is a new attempt under the same key
    if await unsettled(tx, key):
        return Claim(ClaimAction.RESTART)
    await tx.conn.execute(update(checkouts).where(checkouts.c.key == key).values(
        status=CheckoutStatus.IN_PROGRESS.value, locked_until=lease_end, request=request,
        error=None, updated_at=tx.now))
    return Claim.proceed(row.order_number)

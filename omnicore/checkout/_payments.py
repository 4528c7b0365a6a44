"""Authorizing a checkout's payments: each payment row is committed (``authorizing``)
*before* its gateway is called, so a crash leaves a trace the worker can act on; each
answer is recorded in a transaction of its own."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import TYPE_CHECKING

from sqlalchemy import insert, update

from omnicore.checkout._models import CheckoutStatus
from omnicore.checkout._prepare import PaymentInput, Prepared
from omnicore.errors import (
    OmnicoreError,
    PaymentActionRequired,
    PaymentDeclined,
    PaymentUnavailable,
)
from omnicore.orders import PaymentStatus
from omnicore.payments import GatewayResult, Outcome, PaymentRequest
from omnicore.store.order_tables import checkouts, payment_transactions, payments

if TYPE_CHECKING:
    import datetime as dt

    from omnicore.money import Money
    from omnicore.payments import PaymentService
    from omnicore.store.uow import UnitOfWork

__all__ = ["authorize"]

#: the payment's status after each answer of its gateway
_STATUS = {Outcome.SUCCEEDED: PaymentStatus.AUTHORIZED,
           Outcome.PENDING: PaymentStatus.PENDING,
           Outcome.REQUIRES_ACTION: PaymentStatus.REQUIRES_ACTION,
           Outcome.FAILED: PaymentStatus.FAILED}


async def authorize(
    uow: UnitOfWork, gateways: PaymentService, key: str, number: str, prepared: Prepared,
    asked: Sequence[PaymentInput], amounts: Sequence[Money], customer_id: str | None,
    email: str | None, *, action_timeout: dt.timedelta,
) -> list[str]:
    """Authorize each payment of the checkout ``key``; returns the payment ids.

    ``PaymentDeclined`` or the gateway's typed error when one fails (``PaymentUnavailable``
    for an untyped one); ``PaymentActionRequired`` — the checkout then waits for the
    customer for ``action_timeout`` — when one needs the customer.
    """
    cart = prepared.cart
    ids = [f"pay_{secrets.token_hex(12)}" for _ in asked]
    async with uow() as tx:
        for position, (payment_id, payment, amount) in enumerate(
                zip(ids, asked, amounts, strict=True)):
            await tx.conn.execute(insert(payments).values(
                id=payment_id, checkout_key=key, order_id=None, gateway=payment.gateway,
                position=position,
                currency=cart.currency, amount_minor=amount.minor_units,
                authorized_minor=0, captured_minor=0, refunded_minor=0,
                status=PaymentStatus.AUTHORIZING.value, reference=None, next_action=None,
                data=payment.data, created_at=tx.now, updated_at=tx.now))
    waiting: tuple[str, GatewayResult] | None = None
    for payment_id, payment, amount in zip(ids, asked, amounts, strict=True):
        gateway = gateways.gateway(payment.gateway)
        request = PaymentRequest(
            payment_id=payment_id, amount=amount, order_number=number,
            idempotency_key=f"{payment_id}:authorize", channel=cart.channel,
            customer_id=customer_id or cart.customer_id, email=email, data=payment.data)
        try:
            result = await gateway.authorize(request)
        except OmnicoreError as exc:
            await _record(uow, payment_id, None, exc)
            raise
        except Exception as exc:
            await _record(uow, payment_id, None, exc)
            raise PaymentUnavailable(f"payment gateway {payment.gateway!r} failed: "
                                     f"{type(exc).__name__}", field="payments") from exc
        await _record(uow, payment_id, result, None)
        if result.outcome is Outcome.FAILED:
            raise PaymentDeclined(result.message or "the payment was refused", field="payments")
        if result.outcome is Outcome.REQUIRES_ACTION and waiting is None:
            waiting = (payment_id, result)
    if waiting is not None:
        async with uow() as tx:
            await tx.conn.execute(update(checkouts).where(checkouts.c.key == key).values(
                status=CheckoutStatus.REQUIRES_ACTION.value, updated_at=tx.now,
                locked_until=tx.now + action_timeout))
        raise PaymentActionRequired("the customer must confirm the payment",
                                    payment_id=waiting[0],
                                    next_action=waiting[1].next_action or {})
    return ids


async def _record(uow: UnitOfWork, payment_id: str, result: GatewayResult | None,
                  error: Exception | None) -> None:
    """The gateway's answer to an authorization (``result``), or its failure (``error``)."""
    async with uow() as tx:
        if result is None:
            await tx.conn.execute(update(payments).where(payments.c.id == payment_id)
                                  .values(status=PaymentStatus.FAILED.value,
                                          updated_at=tx.now))
            code = getattr(error, "decline_code", None) or getattr(error, "code", None)
            await tx.conn.execute(insert(payment_transactions).values(
                payment_id=payment_id, kind="authorize", amount_minor=0,
                outcome=Outcome.FAILED.value,
                error_code=str(code or type(error).__name__)[:64],
                message=str(error)[:500], created_at=tx.now))
            return
        status = _STATUS[result.outcome]
        authorized = result.amount.minor_units if status is PaymentStatus.AUTHORIZED else 0
        await tx.conn.execute(update(payments).where(payments.c.id == payment_id).values(
            status=status.value, reference=result.reference, authorized_minor=authorized,
            next_action=dict(result.next_action) if result.next_action else None,
            updated_at=tx.now))
        await tx.conn.execute(insert(payment_transactions).values(
            payment_id=payment_id, kind="authorize", amount_minor=result.amount.minor_units,
            outcome=result.outcome.value, reference=result.reference,
            message=result.message, created_at=tx.now))

"""``commerce.payments``: payment records, their state machine, and the gateways' calls.

A gateway is never called inside a database transaction. Each operation first
records what it is about to ask (a ``pending`` transaction row, which also
reserves the amount against concurrent captures or refunds), commits, calls the
vendor with an idempotency key derived from that row, then records the answer.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, insert, select, update

from omnicore.errors import Conflict, InvalidInput, NotFound, OmnicoreError, PluginError
from omnicore.money import Money
from omnicore.orders import Payment, PaymentStatus, payment_from_row, refresh_status
from omnicore.payments._external import EXTERNAL_PREFIX, ExternalGateway
from omnicore.payments._gateways import (
    GatewayResult,
    ManualGateway,
    PaymentEvent,
    PaymentEventKind,
    PaymentGateway,
    PaymentRef,
)
from omnicore.store.order_tables import checkouts, orders, payment_transactions, payments

if TYPE_CHECKING:
    from omnicore.commerce import Commerce
    from omnicore.store.uow import Tx

__all__ = ["PaymentService"]

log = logging.getLogger("omnicore.payments")

S = PaymentStatus
#: statuses whose money may still be held at the vendor and must be voided if no order exists
UNSETTLED = (S.AUTHORIZING, S.AUTHORIZED, S.REQUIRES_ACTION, S.PENDING)


def _amount(value: Money | str | int | None, payment: Payment, default: Money) -> Money:
    if value is None:
        return default
    money = value if isinstance(value, Money) else Money(value, payment.amount.currency)
    if money.currency != payment.amount.currency:
        raise InvalidInput(f"the payment is in {payment.amount.currency}", field="amount")
    if money.minor_units <= 0:
        raise InvalidInput("must be more than zero", field="amount")
    return money


def payment_ref(row: Any, order_number: str | None = None) -> PaymentRef:
    p = payment_from_row(row)
    return PaymentRef(p.id, p.reference, p.amount, p.authorized, p.captured, p.refunded,
                      order_number, dict(row.data))


class PaymentService:
    """Payments of orders: capture, void, refund, vendor events and reconciliation."""

    def __init__(self, commerce: Commerce) -> None:
        self._commerce = commerce
        self._uow = commerce.uow
        self._gateways: dict[str, PaymentGateway] | None = None

    # -- gateways ------------------------------------------------------------------------------

    def gateways(self) -> dict[str, PaymentGateway]:
        """Every gateway by code: ``manual`` and those of ``register_payment_gateways``."""
        if self._gateways is None:
            found: dict[str, PaymentGateway] = {"manual": ManualGateway()}
            for answer in self._commerce.plugins.register_payment_gateways(self._commerce):
                code = answer.value.code
                if code in found:
                    raise PluginError(f"payment gateway code {code!r} is already taken",
                                      plugin=answer.plugin)
                found[code] = answer.value
            self._gateways = found
        return self._gateways

    def gateway(self, code: str, *, field: str = "gateway") -> PaymentGateway:
        gateway = self.gateways().get(code)
        if gateway is None and code.startswith(EXTERNAL_PREFIX):
            return ExternalGateway(code)  # payments of imported orders (order_import)
        if gateway is None:
            known = ", ".join(sorted(self.gateways()))
            raise InvalidInput(f"no payment gateway {code!r} (known: {known})", field=field)
        return gateway

    # -- reading -------------------------------------------------------------------------------

    async def get(self, payment_id: str) -> Payment:
        async with self._uow.read() as tx:
            return payment_from_row(await _payment_row(tx, payment_id))

    async def transactions(self, payment_id: str) -> list[dict[str, Any]]:
        """Every call made to the vendor and every vendor event, oldest first."""
        async with self._uow.read() as tx:
            rows = await tx.conn.execute(
                select(payment_transactions).where(payment_transactions.c.payment_id == payment_id)
                .order_by(payment_transactions.c.id)
            )
            return [
                {"kind": r.kind, "amount_minor": r.amount_minor, "outcome": r.outcome,
                 "reference": r.reference, "error_code": r.error_code, "event_id": r.event_id,
                 "created_at": r.created_at}
                for r in rows
            ]

    # -- operations ----------------------------------------------------------------------------

    async def capture(self, payment_id: str, amount: Money | str | int | None = None, *,
                      actor: str | None = None) -> Payment:
        """Take ``amount`` (default: all that remains) of an authorized or pending payment.

        More than what remains authorized raises ``InvalidInput`` naming ``amount``.
        """
        async with self._uow() as tx:
            row = await _payment_row(tx, payment_id, lock=True)
            payment = payment_from_row(row)
            if payment.status not in (S.AUTHORIZED, S.PARTIALLY_CAPTURED, S.PENDING):
                raise Conflict(f"a payment that is {payment.status} cannot be captured",
                               field="payment_id")
            ceiling = payment.amount if payment.status is S.PENDING else payment.authorized
            left = ceiling - payment.captured - await _pending(tx, payment_id, "capture", row)
            wanted = _amount(amount, payment, left)
            if wanted > left:
                raise InvalidInput(f"only {left} can still be captured", field="amount")
            txn, key = await _start(tx, payment_id, "capture", wanted)
        result = await self._call(row, txn, key, "capture", wanted)
        return await self._finish(txn, result, actor, captured=result.amount)

    async def void(self, payment_id: str, *, actor: str | None = None) -> Payment:
        """Release what is authorized and not captured; the payment becomes ``voided``."""
        async with self._uow() as tx:
            row = await _payment_row(tx, payment_id, lock=True)
            payment = payment_from_row(row)
            if payment.status not in (*UNSETTLED, S.PARTIALLY_CAPTURED):
                raise Conflict(f"a payment that is {payment.status} cannot be voided",
                               field="payment_id")
            txn, key = await _start(tx, payment_id, "void", payment.authorized - payment.captured)
        result = await self._call(row, txn, key, "void", None)
        return await self._finish(txn, result, actor, voided=True)

    async def refund(self, payment_id: str, amount: Money | str | int | None = None, *,
                     actor: str | None = None) -> Payment:
        """Give back ``amount`` (default: all captured and not refunded).

        More than was captured and not yet refunded raises ``InvalidInput`` naming ``amount``.
        """
        async with self._uow() as tx:
            row = await _payment_row(tx, payment_id, lock=True)
            payment = payment_from_row(row)
            left = payment.refundable - await _pending(tx, payment_id, "refund", row)
            wanted = _amount(amount, payment, left)
            if not left.minor_units or wanted > left:
                raise InvalidInput(f"only {left} can be refunded", field="amount")
            txn, key = await _start(tx, payment_id, "refund", wanted)
        result = await self._call(row, txn, key, "refund", wanted)
        return await self._finish(txn, result, actor, refunded=result.amount)

    async def _call(self, row: Any, txn: int, key: str, operation: str, amount: Money | None
                    ) -> GatewayResult:
        gateway = self.gateway(row.gateway)
        number = await self._order_number(row.order_id)
        ref = payment_ref(row, number)
        try:
            if operation == "void":
                return await gateway.void(ref, idempotency_key=key)
            assert amount is not None
            call = gateway.capture if operation == "capture" else gateway.refund
            return await call(ref, amount, idempotency_key=key)
        except Exception as exc:
            await self._fail(txn, exc)
            if isinstance(exc, OmnicoreError):
                raise
            raise PluginError(f"{operation} failed: {type(exc).__name__}",
                              plugin=row.gateway) from exc

    async def _order_number(self, order_id: str | None) -> str | None:
        if order_id is None:
            return None
        async with self._uow.read() as tx:
            return (await tx.conn.execute(
                select(orders.c.number).where(orders.c.id == order_id)
            )).scalar()

    async def _fail(self, txn: int, exc: Exception) -> None:
        code = getattr(exc, "decline_code", None) or getattr(exc, "code", None)
        async with self._uow() as tx:
            await tx.conn.execute(
                update(payment_transactions).where(payment_transactions.c.id == txn)
                .values(outcome="failed", error_code=str(code or type(exc).__name__)[:64],
                        message=str(exc)[:500])
            )

    async def _finish(self, txn: int, result: GatewayResult, actor: str | None, *,
                      captured: Money | None = None, refunded: Money | None = None,
                      voided: bool = False) -> Payment:
        async with self._uow() as tx:
            t = (await tx.conn.execute(
                select(payment_transactions).where(payment_transactions.c.id == txn)
            )).one()
            row = await _payment_row(tx, t.payment_id, lock=True)
            await tx.conn.execute(
                update(payment_transactions).where(payment_transactions.c.id == txn)
                .values(outcome=result.outcome.value, reference=result.reference)
            )
            values: dict[str, Any] = {"updated_at": tx.now}
            if captured is not None:
                values["captured_minor"] = row.captured_minor + captured.minor_units
                if row.status == S.PENDING:
                    values["authorized_minor"] = row.amount_minor
            if refunded is not None:
                values["refunded_minor"] = row.refunded_minor + refunded.minor_units
            if voided and row.captured_minor:
                # what was captured stays captured; only the rest of the authorization goes
                values["authorized_minor"] = row.captured_minor
            merged = {**row._asdict(), **values}
            status = _status_from_amounts(merged)
            if voided and not row.captured_minor:
                status = S.VOIDED
            values["status"] = status.value
            await tx.conn.execute(update(payments).where(payments.c.id == row.id).values(**values))
            topic = "voided" if voided else "captured" if captured is not None else "refunded"
            payment = payment_from_row(await _payment_row(tx, row.id))
            tx.emit(f"payment.{topic}", _payload(payment, actor))
            if payment.order_id:
                await refresh_status(tx, payment.order_id, actor=actor)
            return payment

    # -- vendor events -------------------------------------------------------------------------

    async def apply_events(self, gateway: str, events: Sequence[PaymentEvent]) -> int:
        """Apply verified vendor events (from a plugin's webhook route); each event once.

        Returns how many were new. An ``authorized`` event for a checkout waiting on the
        customer (3-D Secure) completes that checkout; a ``failed`` one ends it, leaving
        the cart open with its holds.
        """
        applied, to_complete = 0, []
        for event in events:
            async with self._uow() as tx:
                row = await _find(tx, gateway, event)
                if row is None:
                    log.warning("payment event %s for an unknown payment", event.event_id)
                    continue
                event_id = f"{gateway}:{event.event_id}"
                if await _seen(tx, event_id):
                    continue  # already applied (the payment row is locked: no race)
                await tx.conn.execute(insert(payment_transactions).values(
                    payment_id=row.id, kind="webhook",
                    amount_minor=event.amount.minor_units if event.amount else 0,
                    outcome=event.kind.value, reference=event.reference,
                    event_id=event_id, message=event.message, created_at=tx.now))
                applied += 1
                values = _event_values(row, event)
                if values:
                    values["updated_at"] = tx.now
                    await tx.conn.execute(
                        update(payments).where(payments.c.id == row.id).values(**values)
                    )
                    payment = payment_from_row(await _payment_row(tx, row.id))
                    tx.emit(f"payment.{event.kind.value}", _payload(payment, gateway))
                    if payment.order_id:
                        await refresh_status(tx, payment.order_id, actor=gateway)
                if row.checkout_key and row.order_id is None:
                    to_complete.append((row.checkout_key, event.kind))
        for key, kind in to_complete:
            await self._commerce.checkouts.resume(key, failed=kind is PaymentEventKind.FAILED)
        return applied


def _status_from_amounts(row: Any) -> PaymentStatus:
    if row["refunded_minor"] and row["refunded_minor"] >= row["captured_minor"]:
        return S.REFUNDED
    if row["refunded_minor"]:
        return S.PARTIALLY_REFUNDED
    if row["captured_minor"] and row["captured_minor"] >= row["authorized_minor"]:
        return S.CAPTURED
    if row["captured_minor"]:
        return S.PARTIALLY_CAPTURED
    return PaymentStatus(row["status"])


def _event_values(row: Any, event: PaymentEvent) -> dict[str, Any]:
    kind, status = event.kind, PaymentStatus(row.status)
    minor = event.amount.minor_units if event.amount else None
    total = event.total.minor_units if event.total else minor
    if kind is PaymentEventKind.AUTHORIZED and status in (S.AUTHORIZING, S.REQUIRES_ACTION):
        return {"status": S.AUTHORIZED.value, "authorized_minor": minor or row.amount_minor,
                "next_action": None, "reference": row.reference or event.reference}
    if kind is PaymentEventKind.FAILED and status in (S.AUTHORIZING, S.REQUIRES_ACTION):
        return {"status": S.FAILED.value, "next_action": None}
    if kind is PaymentEventKind.VOIDED and status in (*UNSETTLED, S.PARTIALLY_CAPTURED):
        return {"status": S.VOIDED.value}
    if kind is PaymentEventKind.CAPTURED and total is not None and total > row.captured_minor:
        merged = {**row._asdict(), "captured_minor": total,
                  "authorized_minor": max(row.authorized_minor, total)}
        return {"captured_minor": total, "authorized_minor": merged["authorized_minor"],
                "status": _status_from_amounts(merged).value}
    if kind is PaymentEventKind.REFUNDED and total is not None and total > row.refunded_minor:
        merged = {**row._asdict(), "refunded_minor": total}
        return {"refunded_minor": total, "status": _status_from_amounts(merged).value}
    return {}


def _payload(payment: Payment, actor: str | None) -> dict[str, Any]:
    return {
        "payment_id": payment.id, "order_id": payment.order_id, "gateway": payment.gateway,
        "status": payment.status.value, "reference": payment.reference,
        "amount_minor": payment.amount.minor_units,
        "captured_minor": payment.captured.minor_units,
        "refunded_minor": payment.refunded.minor_units,
        "currency": payment.amount.currency, "actor": actor,
    }


async def _payment_row(tx: Tx, payment_id: str, *, lock: bool = False) -> Any:
    query = select(payments).where(payments.c.id == payment_id)
    if lock:
        query = query.with_for_update()
    row = (await tx.conn.execute(query)).one_or_none()
    if row is None:
        raise NotFound(f"no payment {payment_id!r}", field="payment_id")
    return row


async def _find(tx: Tx, gateway: str, event: PaymentEvent) -> Any:
    if event.payment_id:
        row = (await tx.conn.execute(
            select(payments).where(payments.c.id == event.payment_id,
                                   payments.c.gateway == gateway).with_for_update()
        )).one_or_none()
        if row is not None:
            return row
    if event.reference:
        return (await tx.conn.execute(
            select(payments).where(payments.c.gateway == gateway,
                                   payments.c.reference == event.reference).with_for_update()
        )).one_or_none()
    return None


async def _seen(tx: Tx, event_id: str) -> bool:
    found = await tx.conn.execute(
        select(payment_transactions.c.id).where(payment_transactions.c.event_id == event_id)
    )
    return found.first() is not None


async def _pending(tx: Tx, payment_id: str, kind: str, row: Any) -> Money:
    minor = (await tx.conn.execute(
        select(func.coalesce(func.sum(payment_transactions.c.amount_minor), 0))
        .where(payment_transactions.c.payment_id == payment_id,
               payment_transactions.c.kind == kind, payment_transactions.c.outcome == "pending")
    )).scalar()
    return Money.from_minor_units(int(minor or 0), row.currency)


async def _start(tx: Tx, payment_id: str, kind: str, amount: Money) -> tuple[int, str]:
    """Record a call about to be made: ``(transaction id, idempotency key)``.

    The key numbers the calls of this kind that did not fail: a call retried after a
    failure (a timeout: did the vendor act?) reuses the failed call's key, so the vendor
    answers it once; two calls in a row (two partial refunds) get two keys. The payment
    row is locked by the caller, so two concurrent calls never share a number.
    """
    done = (await tx.conn.execute(
        select(func.count()).select_from(payment_transactions).where(
            payment_transactions.c.payment_id == payment_id,
            payment_transactions.c.kind == kind, payment_transactions.c.outcome != "failed")
    )).scalar()
    key = f"{payment_id}:{kind}:{int(done or 0) + 1}"
    result = await tx.conn.execute(
        insert(payment_transactions).values(
            payment_id=payment_id, kind=kind, amount_minor=amount.minor_units,
            outcome="pending", created_at=tx.now,
        ).returning(payment_transactions.c.id)
    )
    return int(result.scalar_one()), key


async def checkout_status(tx: Tx, key: str) -> str | None:
    return (await tx.conn.execute(
        select(checkouts.c.status).where(checkouts.c.key == key)
    )).scalar()

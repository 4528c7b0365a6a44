"""``commerce.checkout``: a cart becomes an order — all or nothing, once per idempotency key.

1. **Claim** the idempotency key (a ``checkouts`` row with a lease). The same key
   again returns the order made under it; a racing request with the same key
   waits for the first to finish. An order number is reserved here.
2. **Prepare** (reads only): the cart is open, not empty, the caller's; plugins'
   ``validate_cart``; holds refreshed; delivery groups and rates; totals; sourcing.
3. **Authorize** each payment: a payment row is committed (``authorizing``)
   *before* the gateway is called, so a crash leaves a trace the worker can act on.
4. **Commit** the order in one transaction (``omnicore.checkout._commit``).

Any failure after payments were authorized voids them; the cart stays as it was,
its holds alive. A payment that needs the customer (3-D Secure) raises
``PaymentActionRequired`` and the checkout waits for the gateway's webhook
(``commerce.payments.apply_events`` → ``resume``). A checkout whose process died
is found by ``reconcile`` (run by the worker) once its lease is over: its
authorizations are voided, never left holding the customer's money.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from omnicore.checkout._commit import commit_order
from omnicore.checkout._prepare import Prepared, parse_payments, prepare, split_amounts
from omnicore.checkout._recovery import RecoveryCalls, unsettled
from omnicore.customers import normalise_identity
from omnicore.errors import (
    Conflict,
    InvalidInput,
    OmnicoreError,
    PaymentActionRequired,
    PaymentDeclined,
    PaymentUnavailable,
)
from omnicore.money import Money
from omnicore.orders import Order, PaymentStatus, next_number
from omnicore.payments import UNSETTLED, GatewayResult, Outcome, PaymentRequest
from omnicore.stock import Contention
from omnicore.store.order_tables import checkouts, payment_transactions, payments

if TYPE_CHECKING:
    from omnicore.commerce import Commerce
    from omnicore.store.uow import Tx

__all__ = ["CheckoutService"]

log = logging.getLogger("omnicore.checkout")
COMMIT_ATTEMPTS = 6
WAIT_STEP_SECONDS = 0.05


def _key(value: object) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > 200:
        raise InvalidInput("must be a non-empty string of at most 200 characters",
                           field="idempotency_key")
    return value


def _retryable(exc: DBAPIError) -> bool:
    state = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    return state in ("40P01", "40001")


class CheckoutService(RecoveryCalls):
    """Checkout and its reconciliation (``commerce.checkout`` is ``checkouts.checkout``)."""

    def __init__(self, commerce: Commerce) -> None:
        self._commerce = commerce
        self._uow = commerce.uow

    # -- the checkout --------------------------------------------------------------------------

    async def checkout(
        self, cart_id: str, *, payments: Sequence[Mapping[str, Any]], idempotency_key: str,
        customer_id: str | None = None, email: str | None = None, phone: str | None = None,
        actor: str | None = None,
    ) -> Order:
        """Turn the cart into an order and authorize its payments, all or nothing.

        :param payments: ``[{"gateway": "stripe", "amount": "20.00", "data": {...}}, …]``;
            one payment may leave out ``amount`` (it takes the rest of the total).
        :param idempotency_key: the same key returns the same order, never charging twice.
        :param customer_id: the signed-in customer; a cart of another customer is refused.
        :param email: contact for tracking (default: the customer's e-mail identity).
        """
        key = _key(idempotency_key)
        region = self._commerce.customers.default_region
        # stored normalised like identities: orders.track compares them that way
        email = None if email is None else normalise_identity("email", email, region=region)[2]
        phone = None if phone is None else normalise_identity("phone", phone, region=region)[2]
        cart = await self._commerce.carts.get(cart_id)
        asked = parse_payments(payments, cart.currency)
        for index, payment in enumerate(asked):
            self._commerce.payments.gateway(payment.gateway, field=f"payments[{index}].gateway")
        request = {"payments": [{"gateway": p.gateway, "amount": str(p.amount.amount)
                                 if p.amount else None} for p in asked],
                   "customer_id": customer_id, "email": email, "phone": phone, "actor": actor}
        number, done = await self._claim(key, cart.id, request)
        if done is not None:
            return await self._commerce.orders.get(done)
        try:
            prepared = await prepare(self._commerce, cart.id, customer_id)
            amounts = split_amounts(asked, prepared.totals.total)
            payment_ids = await self._authorize(key, number, prepared, asked, amounts,
                                                customer_id, email)
            order_id = await self._commit(key, number, prepared, payment_ids, customer_id,
                                          email, phone, actor)
        except PaymentActionRequired:
            raise
        except Exception as exc:
            await self._abort(key, exc)
            raise
        return await self._after_commit(order_id)

    async def _claim(self, key: str, cart_id: str, request: dict[str, Any]
                     ) -> tuple[str, str | None]:
        """Reserve ``key``: ``(order number, None)`` to go on, ``(number, order_id)`` if done."""
        restarts = 0
        # the lease is measured on the Commerce clock; the wait is bounded in real time too
        deadline = time.monotonic() + self._commerce.order_settings.checkout_lease_seconds
        while True:
            try:
                async with self._uow() as tx:
                    outcome = await self._claim_in(tx, key, cart_id, request)
            except IntegrityError:
                continue  # another request inserted the key first: read it again
            if outcome == "wait":
                if time.monotonic() > deadline:
                    raise Conflict("a checkout with this idempotency key is still in progress",
                                   field="idempotency_key")
                await asyncio.sleep(WAIT_STEP_SECONDS)
                continue
            if outcome == "restart":
                restarts += 1
                if restarts > 2:
                    raise PaymentUnavailable("an earlier attempt's authorization could not be "
                                             "voided yet: try again later")
                await self._void_unsettled(key)
                continue
            assert isinstance(outcome, tuple)
            return outcome

    async def _claim_in(self, tx: Tx, key: str, cart_id: str, request: dict[str, Any]
                        ) -> tuple[str, str | None] | str:
        row = (await tx.conn.execute(
            select(checkouts).where(checkouts.c.key == key).with_for_update()
        )).one_or_none()
        lease_end = tx.now + self._commerce.order_settings.lease
        if row is None:
            number = await next_number(tx, self._commerce.order_settings.number_prefix)
            await tx.conn.execute(insert(checkouts).values(
                key=key, cart_id=cart_id, status="in_progress", order_number=number,
                order_id=None, locked_until=lease_end, request=request, error=None,
                created_at=tx.now, updated_at=tx.now))
            return number, None
        if row.cart_id != cart_id:
            raise Conflict("this idempotency key was used for another cart",
                           field="idempotency_key")
        if row.status == "completed":
            return row.order_number, row.order_id
        if row.status == "requires_action" and row.locked_until > tx.now:
            waiting = (await tx.conn.execute(
                select(payments.c.id, payments.c.next_action).where(
                    payments.c.checkout_key == key,
                    payments.c.status == PaymentStatus.REQUIRES_ACTION.value)
            )).first()
            if waiting is not None:
                raise PaymentActionRequired("the payment waits for the customer",
                                            payment_id=waiting.id,
                                            next_action=waiting.next_action or {})
        if row.status == "in_progress" and row.locked_until > tx.now:
            return "wait"
        if row.status in ("in_progress", "requires_action"):  # its lease is over: take it back
            await tx.conn.execute(update(checkouts).where(checkouts.c.key == key)
                                  .values(status="failed", updated_at=tx.now))
            return "restart"
        # failed before: this is a new attempt under the same key
        if await unsettled(tx, key):
            return "restart"
        await tx.conn.execute(update(checkouts).where(checkouts.c.key == key).values(
            status="in_progress", locked_until=lease_end, request=request, error=None,
            updated_at=tx.now))
        return row.order_number, None

    async def _authorize(
        self, key: str, number: str, prepared: Prepared, asked: Sequence[Any],
        amounts: Sequence[Money], customer_id: str | None, email: str | None,
    ) -> list[str]:
        cart = prepared.cart
        ids = [f"pay_{secrets.token_hex(12)}" for _ in asked]
        async with self._uow() as tx:
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
            gateway = self._commerce.payments.gateway(payment.gateway)
            request = PaymentRequest(
                payment_id=payment_id, amount=amount, order_number=number,
                idempotency_key=f"{payment_id}:authorize", channel=cart.channel,
                customer_id=customer_id or cart.customer_id, email=email, data=payment.data)
            try:
                result = await gateway.authorize(request)
            except OmnicoreError as exc:
                await self._record(payment_id, None, exc)
                raise
            except Exception as exc:
                await self._record(payment_id, None, exc)
                raise PaymentUnavailable(f"payment gateway {payment.gateway!r} failed: "
                                         f"{type(exc).__name__}", field="payments") from exc
            await self._record(payment_id, result, None)
            if result.outcome is Outcome.FAILED:
                raise PaymentDeclined(result.message or "the payment was refused",
                                      field="payments")
            if result.outcome is Outcome.REQUIRES_ACTION and waiting is None:
                waiting = (payment_id, result)
        if waiting is not None:
            async with self._uow() as tx:
                await tx.conn.execute(update(checkouts).where(checkouts.c.key == key).values(
                    status="requires_action", updated_at=tx.now,
                    locked_until=tx.now + self._commerce.order_settings.action_timeout))
            raise PaymentActionRequired("the customer must confirm the payment",
                                        payment_id=waiting[0],
                                        next_action=waiting[1].next_action or {})
        return ids

    async def _record(self, payment_id: str, result: GatewayResult | None,
                      error: Exception | None) -> None:
        async with self._uow() as tx:
            if result is None:
                await tx.conn.execute(update(payments).where(payments.c.id == payment_id)
                                      .values(status=PaymentStatus.FAILED.value,
                                              updated_at=tx.now))
                code = getattr(error, "decline_code", None) or getattr(error, "code", None)
                await tx.conn.execute(insert(payment_transactions).values(
                    payment_id=payment_id, kind="authorize", amount_minor=0, outcome="failed",
                    error_code=str(code or type(error).__name__)[:64],
                    message=str(error)[:500], created_at=tx.now))
                return
            status = {Outcome.SUCCEEDED: PaymentStatus.AUTHORIZED,
                      Outcome.PENDING: PaymentStatus.PENDING,
                      Outcome.REQUIRES_ACTION: PaymentStatus.REQUIRES_ACTION,
                      Outcome.FAILED: PaymentStatus.FAILED}[result.outcome]
            authorized = result.amount.minor_units if status is PaymentStatus.AUTHORIZED else 0
            await tx.conn.execute(update(payments).where(payments.c.id == payment_id).values(
                status=status.value, reference=result.reference, authorized_minor=authorized,
                next_action=dict(result.next_action) if result.next_action else None,
                updated_at=tx.now))
            await tx.conn.execute(insert(payment_transactions).values(
                payment_id=payment_id, kind="authorize", amount_minor=result.amount.minor_units,
                outcome=result.outcome.value, reference=result.reference,
                message=result.message, created_at=tx.now))

    async def _commit(self, key: str, number: str, prepared: Prepared,
                      payment_ids: Sequence[str], customer_id: str | None, email: str | None,
                      phone: str | None, actor: str | None) -> str:
        settings = self._commerce.order_settings
        for attempt in range(COMMIT_ATTEMPTS):
            try:
                async with self._uow() as tx:
                    return await commit_order(
                        tx, prepared, key=key, number=number, payment_ids=payment_ids,
                        customer_id=customer_id, email=email, phone=phone, actor=actor,
                        capture_policy=settings.capture_policy,
                        low_threshold=self._commerce.stock.low_threshold)
            except Contention:
                continue
            except DBAPIError as exc:
                if attempt + 1 < COMMIT_ATTEMPTS and _retryable(exc):
                    continue
                raise
        raise Conflict("the stock of this cart is selling too fast: try again", field="cart_id")

    async def _after_commit(self, order_id: str) -> Order:
        from omnicore.orders import CapturePolicy

        if self._commerce.order_settings.capture_policy is CapturePolicy.IMMEDIATE:
            await self._commerce.orders.capture_due(order_id, actor="checkout")
        return await self._commerce.orders.get(order_id)

    # -- after the customer acted (3-D Secure) ----------------------------------------------------

    async def resume(self, key: str, *, failed: bool = False) -> Order | None:
        """Finish a checkout that waited for the customer (called on the gateway's webhook)."""
        async with self._uow.read() as tx:
            row = (await tx.conn.execute(select(checkouts).where(checkouts.c.key == key))
                   ).one_or_none()
            pays = [] if row is None else (await tx.conn.execute(
                select(payments).where(payments.c.checkout_key == key,
                                       payments.c.order_id.is_(None),
                                       payments.c.status.in_([s.value for s in UNSETTLED]))
            )).all()
        if row is None or row.status != "requires_action":
            return None
        if failed:
            await self._abort(key, PaymentDeclined("the customer's payment failed"))
            return None
        if any(p.status in (PaymentStatus.REQUIRES_ACTION, PaymentStatus.AUTHORIZING)
               for p in pays):
            return None  # another payment still waits
        request = dict(row.request)
        try:
            prepared = await prepare(self._commerce, row.cart_id, request.get("customer_id"))
            total = sum(p.amount_minor for p in pays)
            if total != prepared.totals.total.minor_units:
                raise Conflict("the cart changed while the payment waited", field="cart_id")
            order_id = await self._commit(key, row.order_number, prepared, [p.id for p in pays],
                                          request.get("customer_id"), request.get("email"),
                                          request.get("phone"), request.get("actor"))
        except Exception as exc:
            await self._abort(key, exc)
            raise
        return await self._after_commit(order_id)

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
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from omnicore.checkout import _recovery
from omnicore.checkout._claim import claim_key
from omnicore.checkout._commit import commit_order
from omnicore.checkout._models import CheckoutStatus, Claim, ClaimAction
from omnicore.checkout._payments import authorize
from omnicore.checkout._prepare import Prepared, parse_payments, prepare, split_amounts
from omnicore.customers import normalise_identity
from omnicore.errors import (
    Conflict,
    InvalidInput,
    PaymentActionRequired,
    PaymentDeclined,
    PaymentUnavailable,
)
from omnicore.orders import CapturePolicy, Order, PaymentStatus
from omnicore.payments import UNSETTLED
from omnicore.stock import Contention
from omnicore.store.order_tables import checkouts, payments

if TYPE_CHECKING:
    from omnicore.carts import CartService
    from omnicore.commerce import Commerce
    from omnicore.customers import CustomerService
    from omnicore.delivery import DeliveryService
    from omnicore.orders import OrderService, OrderSettings
    from omnicore.payments import PaymentService
    from omnicore.pricing import PricingService
    from omnicore.stock import StockService
    from omnicore.store.uow import Tx

__all__ = ["CheckoutService"]

WAIT_STEP_SECONDS = 0.05
#: how many times a key whose earlier attempt left payments to void is claimed again
MAX_RESTARTS = 2


def _key(value: object) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > 200:
        raise InvalidInput("must be a non-empty string of at most 200 characters",
                           field="idempotency_key")
    return value


def _too_fast(_: Exception) -> Conflict:
    return Conflict("the stock of this cart is selling too fast: try again", field="cart_id")


class CheckoutService:
    """Checkout and its reconciliation (``commerce.checkout`` is ``checkouts.checkout``).

    :param commerce: gives the unit of work and is handed to the ``choose_sources`` hook.
    :param settings: ``[checkout]``, ``[orders]`` and ``[sourcing]`` as the orders use them.
    :param carts: reads, validates and refreshes the cart checked out.
    :param payments: the payment gateways that authorize and void.
    :param orders: reads the order made, captures it (``capture_policy = immediate``).
    :param customers: for the region of the phone numbers given.
    :param stock: for the default low-stock threshold of the allocations' events.
    :param pricing: prices the cart; ``delivery``: checks and rates its delivery groups.
    """

    def __init__(
        self, commerce: Commerce, *, settings: OrderSettings, carts: CartService,
        payments: PaymentService, orders: OrderService, customers: CustomerService,
        stock: StockService, pricing: PricingService, delivery: DeliveryService,
    ) -> None:
        self._commerce = commerce
        self._uow = commerce.uow
        self._settings = settings
        self._carts = carts
        self._payments = payments
        self._orders = orders
        self._customers = customers
        self._stock = stock
        self._pricing = pricing
        self._delivery = delivery

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
        region = self._customers.default_region
        # stored normalised like identities: orders.track compares them that way
        email = None if email is None else normalise_identity("email", email, region=region)[2]
        phone = None if phone is None else normalise_identity("phone", phone, region=region)[2]
        cart = await self._carts.get(cart_id)
        asked = parse_payments(payments, cart.currency)
        for index, payment in enumerate(asked):
            self._payments.gateway(payment.gateway, field=f"payments[{index}].gateway")
        request = {"payments": [{"gateway": p.gateway, "amount": str(p.amount.amount)
                                 if p.amount else None} for p in asked],
                   "customer_id": customer_id, "email": email, "phone": phone, "actor": actor}
        claim = await self._claim(key, cart.id, request)
        assert claim.number is not None
        if claim.action is ClaimAction.DONE:
            assert claim.order_id is not None
            return await self._orders.get(claim.order_id)
        try:
            prepared = await self._prepare(cart.id, customer_id)
            amounts = split_amounts(asked, prepared.totals.total)
            payment_ids = await authorize(
                self._uow, self._payments, key, claim.number, prepared, asked, amounts,
                customer_id, email, action_timeout=self._settings.action_timeout)
            order_id = await self._commit(key, claim.number, prepared, payment_ids, customer_id,
                                          email, phone, actor)
        except PaymentActionRequired:
            raise
        except Exception as exc:
            await _recovery.abort(self._uow, self._payments, key, exc)
            raise
        return await self._after_commit(order_id)

    async def _claim(self, key: str, cart_id: str, request: dict[str, Any]) -> Claim:
        """Claim ``key`` (``claim_key``): waits while another request holds it, voids what
        an earlier attempt left first; returns a ``PROCEED`` or ``DONE`` claim."""
        restarts = 0
        # the lease is measured on the Commerce clock; the wait is bounded in real time too
        deadline = time.monotonic() + self._settings.checkout_lease_seconds
        while True:
            try:
                async with self._uow() as tx:
                    claim = await claim_key(tx, key, cart_id, request, self._settings)
            except IntegrityError:
                continue  # another request inserted the key first: read it again
            if claim.action is ClaimAction.WAIT:
                if time.monotonic() > deadline:
                    raise Conflict("a checkout with this idempotency key is still in progress",
                                   field="idempotency_key")
                await asyncio.sleep(WAIT_STEP_SECONDS)
                continue
            if claim.action is ClaimAction.RESTART:
                restarts += 1
                if restarts > MAX_RESTARTS:
                    raise PaymentUnavailable("an earlier attempt's authorization could not be "
                                             "voided yet: try again later")
                await _recovery.void_unsettled(self._uow, self._payments, key)
                continue
            return claim

    async def _prepare(self, cart_id: str, customer_id: str | None) -> Prepared:
        return await prepare(self._commerce, cart_id, customer_id, carts=self._carts,
                             delivery=self._delivery, pricing=self._pricing,
                             transfer_lead=self._settings.transfer_lead)

    async def _commit(self, key: str, number: str, prepared: Prepared,
                      payment_ids: Sequence[str], customer_id: str | None, email: str | None,
                      phone: str | None, actor: str | None) -> str:
        """Commit the order (``commit_order``), again when stock moved under it."""

        async def attempt(tx: Tx) -> str:
            return await commit_order(
                tx, prepared, key=key, number=number, payment_ids=payment_ids,
                customer_id=customer_id, email=email, phone=phone, actor=actor,
                capture_policy=self._settings.capture_policy,
                low_threshold=self._stock.low_threshold)

        return await self._uow.run(attempt, retry_on=(Contention,), exhausted=_too_fast)

    async def _after_commit(self, order_id: str) -> Order:
        if self._settings.capture_policy is CapturePolicy.IMMEDIATE:
            await self._orders.capture_due(order_id, actor="checkout")
        return await self._orders.get(order_id)

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
        if row is None or row.status != CheckoutStatus.REQUIRES_ACTION:
            return None
        if failed:
            await _recovery.abort(self._uow, self._payments, key,
                                  PaymentDeclined("the customer's payment failed"))
            return None
        if any(p.status in (PaymentStatus.REQUIRES_ACTION, PaymentStatus.AUTHORIZING)
               for p in pays):
            return None  # another payment still waits
        request = dict(row.request)
        try:
            prepared = await self._prepare(row.cart_id, request.get("customer_id"))
            total = sum(p.amount_minor for p in pays)
            if total != prepared.totals.total.minor_units:
                raise Conflict("the cart changed while the payment waited", field="cart_id")
            order_id = await self._commit(key, row.order_number, prepared, [p.id for p in pays],
                                          request.get("customer_id"), request.get("email"),
                                          request.get("phone"), request.get("actor"))
        except Exception as exc:
            await _recovery.abort(self._uow, self._payments, key, exc)
            raise
        return await self._after_commit(order_id)

    # -- the worker ------------------------------------------------------------------------------

    async def reconcile(self) -> int:
        """Void the authorizations of checkouts that died or waited too long; returns how many.

        Run by the worker. A checkout is presumed dead when its lease is over
        (``[checkout] lease_seconds``) — or its customer action timed out — without
        an order: it is marked failed (so a late commit cannot succeed), then its
        payments are voided at the gateway. A void that fails is retried next time.
        """
        return await _recovery.reconcile(self._uow, self._payments)

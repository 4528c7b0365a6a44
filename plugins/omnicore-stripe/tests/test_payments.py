"""Authorize at checkout, capture, void and refund through the core, against a faked Stripe."""

from __future__ import annotations

from typing import Any

import attrs
import pytest
from conftest import SECRET_KEY, SETTINGS, Sleeps, open_shop
from omnicore_stripe import StripePlugin, StripeSettings, create_params
from stripe_fake import FakeStripe
from stripe_world import build_world, cart, pay, transactions

from omnicore import (
    Commerce,
    Conflict,
    InvalidInput,
    Money,
    PaymentDeclined,
    PaymentUnavailable,
)
from omnicore.orders import OrderStatus, PaymentStatus
from omnicore.payments import PaymentRef
from omnicore.testing import FakeClock


def eur(amount: str) -> Money:
    return Money(amount, "EUR")


async def test_authorize_capture_and_partial_refund(shop: Commerce, stripe: FakeStripe) -> None:
    order = await shop.checkout(await cart(shop), payments=pay(), idempotency_key="ck-1",
                                email="ada@example.com")
    assert order.status is OrderStatus.AUTHORIZED
    payment = order.payments[0]
    assert (payment.gateway, payment.status, payment.authorized) == (
        "stripe", PaymentStatus.AUTHORIZED, eur("44.70"))

    create = stripe.calls[0]
    assert (create.method, create.path, create.key) == (
        "POST", "/payment_intents", f"{payment.id}:authorize")
    assert create.headers["authorization"] == f"Bearer {SECRET_KEY}"
    assert create.headers["stripe-version"] == "2025-08-27.basil"
    assert create.headers["content-type"] == "application/x-www-form-urlencoded"
    assert dict(create.pairs) == {
        "amount": "4470", "currency": "eur", "capture_method": "manual",
        "metadata[omnicore_payment_id]": payment.id, "metadata[order_number]": order.number,
        "description": f"Order {order.number}", "payment_method": "pm_card_visa",
        "confirm": "true", "use_stripe_sdk": "true",
        "automatic_payment_methods[enabled]": "true",
        "automatic_payment_methods[allow_redirects]": "never",
    }
    intent = stripe.intents[payment.reference]
    assert intent["status"] == "requires_capture" and intent["amount_capturable"] == 4470

    # all of it captured at once (the core's default policy captures as goods leave)
    captured = await shop.payments.capture(payment.id)
    assert (captured.status, captured.captured) == (PaymentStatus.CAPTURED, eur("44.70"))
    capture = stripe.calls[-1]
    assert capture.path == f"/payment_intents/{payment.reference}/capture"
    assert capture.params == {"amount_to_capture": "4470"}
    assert capture.key and capture.key.startswith(f"{payment.id}:capture:")
    assert intent["status"] == "succeeded" and intent["amount_received"] == 4470

    refunded = await shop.payments.refund(payment.id, "10.00")
    assert (refunded.status, refunded.refunded) == (PaymentStatus.PARTIALLY_REFUNDED,
                                                    eur("10.00"))
    refund = stripe.calls[-1]
    assert (refund.method, refund.path) == ("POST", "/refunds")
    assert refund.params == {"payment_intent": payment.reference, "amount": "1000",
                             "metadata": {"omnicore_payment_id": payment.id,
                                          "order_number": order.number}}
    assert refund.key and refund.key.startswith(f"{payment.id}:refund:")
    assert stripe.charges[intent["latest_charge"]]["amount_refunded"] == 1000
    history = await shop.payments.transactions(payment.id)
    assert [(t["kind"], t["outcome"]) for t in history] == [
        ("authorize", "succeeded"), ("capture", "succeeded"), ("refund", "succeeded")]
    assert history[-1]["reference"] in stripe.refunds  # the re_… id is kept
    assert (await shop.orders.get(order.id)).status is OrderStatus.PAID  # refunded in part


def test_create_params_follow_the_storefront_data() -> None:
    settings = StripeSettings(**SETTINGS)
    redirect = create_params("pay_1", eur("10.00"), "100001",
                             {"payment_method": "pm_card_visa",
                              "return_url": "https://shop.example.com/paid"}, settings)
    assert redirect["return_url"] == "https://shop.example.com/paid"
    assert "automatic_payment_methods" not in redirect  # redirect-based methods allowed
    assert create_params("pay_1", Money("1000", "JPY"), "100001", {}, settings)["amount"] == 1000
    for bad in ({"payment_method": "pm card"}, {"payment_method": 42},
                {"payment_method": "pm_card_visa", "return_url": "javascript:x"}):
        with pytest.raises(InvalidInput) as caught:
            create_params("pay_1", eur("10.00"), "100001", bad, settings)
        assert caught.value.field == "payments"


async def test_partial_capture_without_multicapture_takes_what_remains(
    shop: Commerce, stripe: FakeStripe
) -> None:
    order = await shop.checkout(await cart(shop), payments=pay(), idempotency_key="ck")
    payment = order.payments[0]
    captured = await shop.payments.capture(payment.id, "20.00")
    # Stripe would release the rest of the authorization: everything is taken instead
    assert stripe.calls[-1].params == {"amount_to_capture": "4470"}
    assert (captured.status, captured.captured) == (PaymentStatus.CAPTURED, eur("44.70"))
    assert stripe.intents[payment.reference]["status"] == "succeeded"


async def test_partial_captures_with_multicapture(
    db_url: str, clock: FakeClock, plugin: StripePlugin, stripe: FakeStripe
) -> None:
    stripe.multicapture = "available"
    async with await open_shop(db_url, clock, plugin, stripe={"multicapture": True}) as shop:
        await build_world(shop)
        order = await shop.checkout(await cart(shop), payments=pay(), idempotency_key="ck")
        assert stripe.calls[0].params["payment_method_options"] == {
            "card": {"request_multicapture": "if_available"}}
        payment = order.payments[0]
        first = await shop.payments.capture(payment.id, "20.00")
        assert stripe.paths()[-2:] == [f"GET /payment_intents/{payment.reference}",
                                       f"POST /payment_intents/{payment.reference}/capture"]
        assert stripe.calls[-2].params == {"expand": ["latest_charge"]}
        assert stripe.calls[-1].params == {"amount_to_capture": "2000", "final_capture": "false"}
        assert (first.status, first.captured) == (PaymentStatus.PARTIALLY_CAPTURED,
                                                  eur("20.00"))
        intent = stripe.intents[payment.reference]
        assert (intent["status"], intent["amount_capturable"]) == ("requires_capture", 2470)
        rest = await shop.payments.capture(payment.id)  # the last one is final
        assert stripe.calls[-1].params == {"amount_to_capture": "2470"}
        assert (rest.status, rest.captured) == (PaymentStatus.CAPTURED, eur("44.70"))
        assert intent["status"] == "succeeded"


async def test_multicapture_asked_but_not_available_for_this_card(
    db_url: str, clock: FakeClock, plugin: StripePlugin, stripe: FakeStripe
) -> None:
    async with await open_shop(db_url, clock, plugin, stripe={"multicapture": True}) as shop:
        await build_world(shop)
        order = await shop.checkout(await cart(shop), payments=pay(), idempotency_key="ck")
        payment = order.payments[0]
        captured = await shop.payments.capture(payment.id, "20.00")
        assert stripe.calls[-1].params == {"amount_to_capture": "4470"}
        assert captured.captured == eur("44.70")


async def test_immediate_capture_policy_captures_at_checkout(
    db_url: str, clock: FakeClock, plugin: StripePlugin, stripe: FakeStripe
) -> None:
    async with await open_shop(db_url, clock, plugin,
                               orders={"capture_policy": "immediate"}) as shop:
        await build_world(shop)
        order = await shop.checkout(await cart(shop), payments=pay(), idempotency_key="ck")
        assert order.status is OrderStatus.PAID
        assert [p.split(" ")[0] + " " + p.split("/")[-1] for p in stripe.paths()] == [
            "POST payment_intents", "POST capture"]


async def test_a_decline_raises_with_the_decline_code_and_leaves_the_cart_open(
    shop: Commerce, stripe: FakeStripe
) -> None:
    cart_id = await cart(shop)
    with pytest.raises(PaymentDeclined) as caught:
        await shop.checkout(cart_id, payments=pay("pm_card_visa_chargeDeclinedInsufficientFunds"),
                            idempotency_key="ck")
    assert caught.value.decline_code == "insufficient_funds"
    assert caught.value.message == "Your card has insufficient funds."
    assert caught.value.field == "payments"
    assert len(stripe.calls) == 1  # a 402 is not retried
    assert (await shop.carts.get(cart_id)).status.value == "open"
    # another card, the same checkout key: it goes through
    order = await shop.checkout(cart_id, payments=pay(), idempotency_key="ck")
    assert order.status is OrderStatus.AUTHORIZED


async def test_a_retry_after_a_timeout_reuses_the_key_and_makes_one_intent(
    shop: Commerce, stripe: FakeStripe, sleeps: Sleeps
) -> None:
    stripe.fail_next("/payment_intents", "timeout_after")  # Stripe authorized; answer lost
    order = await shop.checkout(await cart(shop), payments=pay(), idempotency_key="ck")
    first, second = stripe.calls
    assert first.key == second.key == f"{order.payments[0].id}:authorize"
    assert first.pairs == second.pairs
    assert len(stripe.intents) == 1  # no second authorization
    assert order.payments[0].reference in stripe.intents
    assert len(sleeps.delays) == 1 and sleeps.delays[0] > 0


async def test_stripe_down_is_payment_unavailable_and_nothing_is_held(
    shop: Commerce, stripe: FakeStripe, sleeps: Sleeps
) -> None:
    for _ in range(3):
        stripe.fail_next("/payment_intents", "connect_error")
    cart_id = await cart(shop)
    with pytest.raises(PaymentUnavailable):
        await shop.checkout(cart_id, payments=pay(), idempotency_key="ck")
    assert len(stripe.calls) == 3 and len(sleeps.delays) == 2  # 1 try + 2 retries
    assert sleeps.delays[1] > sleeps.delays[0]  # exponential
    assert stripe.intents == {}
    order = await shop.checkout(cart_id, payments=pay(), idempotency_key="ck")  # try again
    assert order.status is OrderStatus.AUTHORIZED


async def test_void_cancels_the_intent(shop: Commerce, stripe: FakeStripe) -> None:
    order = await shop.checkout(await cart(shop), payments=pay(), idempotency_key="ck")
    payment = order.payments[0]
    voided = await shop.payments.void(payment.id)
    assert voided.status is PaymentStatus.VOIDED
    assert stripe.calls[-1].path == f"/payment_intents/{payment.reference}/cancel"
    assert stripe.calls[-1].key.startswith(f"{payment.id}:void:")
    assert stripe.intents[payment.reference]["status"] == "canceled"


def lost_reference(payment: Any, order_number: str | None,
                   method: str = "pm_card_visa") -> PaymentRef:
    """The payment as reconciliation sees it after a crash: the pi_… was never recorded."""
    return PaymentRef(payment.id, None, payment.amount, payment.authorized, eur("0"), eur("0"),
                      order_number, {"payment_method": method})


async def test_reconciliation_finds_the_intent_by_its_metadata(
    shop: Commerce, stripe: FakeStripe
) -> None:
    """The process died after Stripe authorized, before the pi_… was written down."""
    gateway = shop.payments.gateway("stripe")
    order = await shop.checkout(await cart(shop), payments=pay(), idempotency_key="ck")
    payment = order.payments[0]
    calls = len(stripe.calls)
    result = await gateway.void(lost_reference(payment, order.number),
                                idempotency_key=f"{payment.id}:void")
    search, cancel = stripe.calls[calls:]
    assert (search.method, search.path) == ("GET", "/payment_intents/search")
    assert search.params == {"query": f"metadata['omnicore_payment_id']:'{payment.id}'"}
    assert cancel.path == f"/payment_intents/{payment.reference}/cancel"
    assert result.reference == payment.reference
    assert len(stripe.intents) == 1  # looked up, never created again
    assert stripe.intents[payment.reference]["status"] == "canceled"


async def test_reconciliation_replays_the_create_call_while_search_lags(
    shop: Commerce, stripe: FakeStripe
) -> None:
    """Search does not see an intent made moments ago; Stripe still has the key."""
    gateway = shop.payments.gateway("stripe")
    order = await shop.checkout(await cart(shop), payments=pay(), idempotency_key="ck")
    payment = order.payments[0]
    stripe.searchable = False
    calls = len(stripe.calls)
    await gateway.void(lost_reference(payment, order.number),
                       idempotency_key=f"{payment.id}:void")
    search, replay, cancel = stripe.calls[calls:]
    assert search.path == "/payment_intents/search"
    # the create call replayed under the same key: Stripe answers with the same intent
    assert (replay.path, replay.key) == ("/payment_intents", f"{payment.id}:authorize")
    assert replay.pairs == stripe.calls[0].pairs
    assert len(stripe.intents) == 1
    assert cancel.path == f"/payment_intents/{payment.reference}/cancel"
    assert stripe.intents[payment.reference]["status"] == "canceled"


async def test_reconciliation_after_stripe_forgot_the_key_authorizes_nothing_again(
    shop: Commerce, stripe: FakeStripe, clock: FakeClock
) -> None:
    """A day later Stripe has pruned the :authorize key: a replay would be a new charge."""
    gateway = shop.payments.gateway("stripe")
    order = await shop.checkout(await cart(shop), payments=pay(), idempotency_key="ck")
    payment = order.payments[0]
    clock.advance(hours=25)
    stripe.forget_idempotency_keys()
    calls = len(stripe.calls)
    result = await gateway.void(lost_reference(payment, order.number),
                                idempotency_key=f"{payment.id}:void")
    assert [f"{c.method} {c.path}" for c in stripe.calls[calls:]] == [
        "GET /payment_intents/search", f"POST /payment_intents/{payment.reference}/cancel"]
    assert len(stripe.intents) == 1  # no second authorization
    assert result.reference == payment.reference
    assert stripe.intents[payment.reference]["status"] == "canceled"

    # the double does forget: the old replay would have authorized the card a second time
    again = await gateway.client.post("/payment_intents", create_params(
        payment.id, payment.amount, order.number, {"payment_method": "pm_card_visa"},
        gateway.settings), idempotency_key=f"{payment.id}:authorize")
    assert again["id"] != payment.reference and again["status"] == "requires_capture"
    assert len(stripe.intents) == 2


async def test_reconciliation_after_the_window_never_replays_even_if_search_lags(
    shop: Commerce, stripe: FakeStripe, clock: FakeClock
) -> None:
    """The residual case (search an hour behind, a payment more than 23 h old): nothing is
    found and nothing is created; an authorization nobody captures lapses after 7 days."""
    gateway = shop.payments.gateway("stripe")
    order = await shop.checkout(await cart(shop), payments=pay(), idempotency_key="ck")
    payment = order.payments[0]
    clock.advance(hours=23, minutes=1)
    stripe.forget_idempotency_keys()
    stripe.searchable = False
    calls = len(stripe.calls)
    result = await gateway.void(lost_reference(payment, order.number),
                                idempotency_key=f"{payment.id}:void")
    assert [c.path for c in stripe.calls[calls:]] == ["/payment_intents/search"]
    assert result.reference is None and "no PaymentIntent" in (result.message or "")
    assert len(stripe.intents) == 1


async def test_reconciliation_of_a_declined_authorization_releases_nothing(
    shop: Commerce, stripe: FakeStripe
) -> None:
    """The decline came back, the process died before recording it: the replay says so."""
    gateway = shop.payments.gateway("stripe")
    with pytest.raises(PaymentDeclined):
        await shop.checkout(await cart(shop), payments=pay("pm_card_chargeDeclined"),
                            idempotency_key="ck")
    (intent,) = stripe.intents.values()
    payment_id = intent["metadata"]["omnicore_payment_id"]
    lost = PaymentRef(payment_id, None, eur("44.70"), eur("0"), eur("0"), eur("0"),
                      intent["metadata"]["order_number"],
                      {"payment_method": "pm_card_chargeDeclined"})
    stripe.searchable = False  # not indexed yet
    result = await gateway.void(lost, idempotency_key=f"{payment_id}:void")
    assert result.reference is None
    assert stripe.paths()[-1] == "POST /payment_intents"  # the replay; no cancel
    assert len(stripe.intents) == 1
    # once search sees it, the declined intent is found and cancelled: nothing was held
    stripe.searchable = True
    found = await gateway.void(lost, idempotency_key=f"{payment_id}:void:2")
    assert found.reference == intent["id"] and len(stripe.intents) == 1


async def test_reconciliation_without_the_order_number_searches_by_metadata(
    shop: Commerce, stripe: FakeStripe
) -> None:
    gateway = shop.payments.gateway("stripe")
    order = await shop.checkout(await cart(shop), payments=pay(), idempotency_key="ck")
    payment = order.payments[0]
    lost = lost_reference(payment, None)
    calls = len(stripe.calls)
    await gateway.void(lost, idempotency_key=f"{payment.id}:void")
    search, cancel = stripe.calls[calls:]
    assert (search.method, search.path) == ("GET", "/payment_intents/search")
    assert cancel.path == f"/payment_intents/{payment.reference}/cancel"
    # nothing found (the first call never reached Stripe): nothing to release
    stripe.searchable = False
    result = await gateway.void(lost, idempotency_key=f"{payment.id}:void:2")
    assert result.reference is None and "no PaymentIntent" in (result.message or "")


async def test_a_key_reused_with_other_parameters_is_a_conflict(
    shop: Commerce, stripe: FakeStripe
) -> None:
    from omnicore.payments import PaymentRequest

    gateway = shop.payments.gateway("stripe")
    ask = PaymentRequest(payment_id="pay_x", amount=eur("10.00"), order_number="100009",
                         idempotency_key="pay_x:authorize", channel="web",
                         data={"payment_method": "pm_card_visa"})
    await gateway.authorize(ask)
    with pytest.raises(Conflict) as caught:
        await gateway.authorize(attrs.evolve(ask, amount=eur("12.00")))
    assert caught.value.field == "idempotency_key"
    assert len(stripe.calls) == 2  # an idempotency_error is never retried


async def test_voiding_what_stripe_already_settled_succeeds(
    shop: Commerce, stripe: FakeStripe
) -> None:
    order = await shop.checkout(await cart(shop), payments=pay(), idempotency_key="ck")
    payment = order.payments[0]
    stripe.intents[payment.reference]["status"] = "canceled"  # cancelled at the dashboard
    voided = await shop.payments.void(payment.id)
    assert voided.status is PaymentStatus.VOIDED
    assert stripe.paths()[-2:] == [f"POST /payment_intents/{payment.reference}/cancel",
                                   f"GET /payment_intents/{payment.reference}"]
    assert await transactions(shop, payment.id) == [("authorize", "succeeded"),
                                                    ("void", "succeeded")]

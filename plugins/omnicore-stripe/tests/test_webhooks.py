"""3-D Secure through a signed webhook on the real ASGI app; forged, stale and replayed
webhooks; the events a dashboard change sends."""

from __future__ import annotations

import httpx
import pytest
from conftest import WEBHOOK_SECRET
from omnicore_stripe import sign, verify
from stripe_fake import FakeStripe, dumps, event, stripe_id
from stripe_world import cart, pay, post_event, transactions

from omnicore import Commerce, Money, PaymentActionRequired
from omnicore.orders import OrderStatus, PaymentStatus
from omnicore.testing import FakeClock


async def waiting_for_3ds(shop: Commerce, stripe: FakeStripe, method: str | None
                          = "pm_card_authenticationRequired") -> tuple[str, PaymentActionRequired]:
    cart_id = await cart(shop)
    with pytest.raises(PaymentActionRequired) as caught:
        await shop.checkout(cart_id, payments=pay(method), idempotency_key="ck-3ds")
    return cart_id, caught.value


async def test_3ds_checkout_completes_when_the_signed_webhook_says_authorized(
    shop: Commerce, stripe: FakeStripe, app: httpx.AsyncClient, clock: FakeClock
) -> None:
    cart_id, action = await waiting_for_3ds(shop, stripe)
    intent = stripe.intents[action.next_action["payment_intent"]]
    assert action.next_action == {"type": "use_stripe_sdk",
                                  "client_secret": intent["client_secret"],
                                  "payment_intent": intent["id"]}
    assert (await shop.payments.get(action.payment_id)).status is PaymentStatus.REQUIRES_ACTION
    # the same key again while the customer confirms: no second authorization
    with pytest.raises(PaymentActionRequired):
        await shop.checkout(cart_id, payments=pay("pm_card_authenticationRequired"),
                            idempotency_key="ck-3ds")
    assert len(stripe.intents) == 1

    # the customer passes 3-D Secure in the browser; Stripe tells the shop
    confirmed = stripe.complete_3ds(intent["id"])
    response = await post_event(app, event("payment_intent.amount_capturable_updated", confirmed,
                                           previous={"amount_capturable": 0,
                                                     "status": "requires_action"}),
                                WEBHOOK_SECRET, clock)
    assert response.status_code == 200 and response.json() == {"received": True, "applied": 1}

    order = await shop.checkout(cart_id, payments=pay("pm_card_authenticationRequired"),
                                idempotency_key="ck-3ds")
    assert order.status is OrderStatus.AUTHORIZED
    assert [(p.id, p.status, p.authorized, p.reference) for p in order.payments] == [
        (action.payment_id, PaymentStatus.AUTHORIZED, Money("44.70", "EUR"), intent["id"])]
    assert (await shop.carts.get(cart_id)).status.value == "completed"
    assert await transactions(shop, action.payment_id) == [
        ("authorize", "requires_action"), ("webhook", "authorized")]


async def test_payment_intent_succeeded_is_a_capture_not_the_authorization(
    shop: Commerce, stripe: FakeStripe, app: httpx.AsyncClient, clock: FakeClock
) -> None:
    order = await shop.checkout(await cart(shop), payments=pay(), idempotency_key="ck")
    payment = order.payments[0]
    intent = stripe.intents[payment.reference]
    intent.update(status="succeeded", amount_capturable=0, amount_received=4470)  # dashboard
    response = await post_event(app, event("payment_intent.succeeded", intent), WEBHOOK_SECRET,
                                clock)
    assert response.json()["applied"] == 1
    after = await shop.payments.get(payment.id)
    assert (after.status, after.captured) == (PaymentStatus.CAPTURED, Money("44.70", "EUR"))
    assert (await shop.orders.get(order.id)).status is OrderStatus.PAID


async def test_client_side_confirmation_then_webhook(
    shop: Commerce, stripe: FakeStripe, app: httpx.AsyncClient, clock: FakeClock
) -> None:
    """No payment method at checkout: the storefront confirms with the Payment Element."""
    cart_id, action = await waiting_for_3ds(shop, stripe, method=None)
    create = stripe.calls[0]
    assert "confirm" not in create.params and "payment_method" not in create.params
    assert create.params["automatic_payment_methods"] == {"enabled": "true"}
    intent = stripe.intents[action.next_action["payment_intent"]]
    assert action.next_action == {"type": "confirm_payment",
                                  "client_secret": intent["client_secret"],
                                  "payment_intent": intent["id"]}
    intent["payment_method"] = "pm_card_visa"
    confirmed = stripe.complete_3ds(intent["id"])
    response = await post_event(app, event("payment_intent.amount_capturable_updated", confirmed),
                                WEBHOOK_SECRET, clock)
    assert response.json() == {"received": True, "applied": 1}
    order = await shop.checkout(cart_id, payments=pay(None), idempotency_key="ck-3ds")
    assert order.status is OrderStatus.AUTHORIZED


async def test_failed_3ds_ends_the_checkout_and_leaves_the_cart_open(
    shop: Commerce, stripe: FakeStripe, app: httpx.AsyncClient, clock: FakeClock
) -> None:
    cart_id, action = await waiting_for_3ds(shop, stripe)
    failed = stripe.complete_3ds(action.next_action["payment_intent"], succeed=False)
    response = await post_event(app, event("payment_intent.payment_failed", failed),
                                WEBHOOK_SECRET, clock)
    assert response.json() == {"received": True, "applied": 1}
    payment = await shop.payments.get(action.payment_id)
    assert payment.status is PaymentStatus.FAILED
    history = await shop.payments.transactions(action.payment_id)
    assert (history[-1]["kind"], history[-1]["outcome"]) == ("webhook", "failed")
    assert history[-1]["event_id"].startswith("stripe:evt_")
    assert (await shop.carts.get(cart_id)).status.value == "open"
    # the customer tries another card under the same key
    order = await shop.checkout(cart_id, payments=pay(), idempotency_key="ck-3ds")
    assert order.status is OrderStatus.AUTHORIZED


@pytest.mark.parametrize("case", ["forged", "tampered", "stale", "missing", "malformed",
                                  "no_v1"])
async def test_bad_signatures_are_refused_and_nothing_is_applied(
    shop: Commerce, stripe: FakeStripe, app: httpx.AsyncClient, clock: FakeClock, case: str
) -> None:
    _, action = await waiting_for_3ds(shop, stripe)
    confirmed = stripe.complete_3ds(action.next_action["payment_intent"])
    payload = event("payment_intent.amount_capturable_updated", confirmed)
    now = int(clock.now.timestamp())
    body = dumps(payload)
    headers = {
        "forged": sign(body, "whsec_notTheEndpointSecret000000", now),
        "tampered": sign(dumps({**payload, "id": "evt_other"}), WEBHOOK_SECRET, now),
        "stale": sign(body, WEBHOOK_SECRET, now - 301),
        "missing": None,
        "malformed": "v1=,t=soon",
        "no_v1": f"t={now},v0={sign(body, WEBHOOK_SECRET, now).split('v1=')[1]}",
    }[case]
    response = await app.post("/webhooks/stripe", content=body,
                              headers={"Stripe-Signature": headers} if headers else {})
    assert response.status_code == 400
    assert "error" in response.json()
    assert WEBHOOK_SECRET not in response.text
    payment = await shop.payments.get(action.payment_id)
    assert payment.status is PaymentStatus.REQUIRES_ACTION
    assert await transactions(shop, action.payment_id) == [("authorize", "requires_action")]


async def test_signatures_within_the_tolerance_and_several_v1_values(
    shop: Commerce, stripe: FakeStripe, app: httpx.AsyncClient, clock: FakeClock
) -> None:
    order = await shop.checkout(await cart(shop), payments=pay(), idempotency_key="ck")
    intent = stripe.intents[order.payments[0].reference]
    payload = event("payment_intent.canceled", {**intent, "status": "canceled"})
    body = dumps(payload)
    then = int(clock.now.timestamp()) - 299
    good = sign(body, WEBHOOK_SECRET, then).split("v1=")[1]
    rolled = sign(body, "whsec_theSecretBeingRolledOut0000", then).split("v1=")[1]
    response = await app.post("/webhooks/stripe", content=body, headers={
        "Stripe-Signature": f"t={then},v1={rolled},v1={good},v0=deadbeef"})
    assert response.status_code == 200 and response.json()["applied"] == 1
    assert (await shop.payments.get(order.payments[0].id)).status is PaymentStatus.VOIDED


async def test_a_timestamp_in_the_future_is_accepted_like_stripes_libraries(
    shop: Commerce, stripe: FakeStripe, app: httpx.AsyncClient, clock: FakeClock
) -> None:
    """Only a signature older than the tolerance is refused: a sender whose clock runs
    ahead is not (stripe-python, stripe-node … check ``t < now - tolerance`` only)."""
    order = await shop.checkout(await cart(shop), payments=pay(), idempotency_key="ck")
    intent = stripe.intents[order.payments[0].reference]
    body = dumps(event("payment_intent.canceled", {**intent, "status": "canceled"}))
    ahead = int(clock.now.timestamp()) + 3600
    response = await app.post("/webhooks/stripe", content=body,
                              headers={"Stripe-Signature": sign(body, WEBHOOK_SECRET, ahead)})
    assert response.status_code == 200 and response.json()["applied"] == 1
    assert (await shop.payments.get(order.payments[0].id)).status is PaymentStatus.VOIDED


def test_the_tolerance_bounds_the_age_of_a_signature() -> None:
    from omnicore import Forbidden

    body, now = b'{"object": "event"}', 1_772_443_800
    for age in (-86_400, -301, 0, 300):  # the future, now, exactly the tolerance
        verify({"Stripe-Signature": sign(body, WEBHOOK_SECRET, now - age)}, body,
               WEBHOOK_SECRET, now=now, tolerance=300)
    with pytest.raises(Forbidden) as caught:
        verify({"Stripe-Signature": sign(body, WEBHOOK_SECRET, now - 301)}, body,
               WEBHOOK_SECRET, now=now, tolerance=300)
    assert "300 s old" in caught.value.message


async def test_replayed_and_redelivered_events_apply_once(
    shop: Commerce, stripe: FakeStripe, app: httpx.AsyncClient, clock: FakeClock
) -> None:
    order = await shop.checkout(await cart(shop), payments=pay(), idempotency_key="ck")
    payment = order.payments[0]
    await shop.payments.capture(payment.id)
    found = stripe.charges[stripe.intents[payment.reference]["latest_charge"]]
    refunded = {**found, "amount_refunded": 1500}
    payload = event("charge.refunded", refunded, previous={"amount_refunded": 0,
                                                            "refunded": False})
    body = dumps(payload)
    header = sign(body, WEBHOOK_SECRET, int(clock.now.timestamp()))
    first = await app.post("/webhooks/stripe", content=body, headers={"Stripe-Signature": header})
    assert first.json() == {"received": True, "applied": 1}
    # the very same request again (a replay inside the tolerance) changes nothing
    again = await app.post("/webhooks/stripe", content=body, headers={"Stripe-Signature": header})
    assert again.status_code == 200 and again.json() == {"received": True, "applied": 0}
    # Stripe's redelivery (a new signature, the same event id) changes nothing either
    clock.advance(3600)
    redelivered = await post_event(app, payload, WEBHOOK_SECRET, clock)
    assert redelivered.json() == {"received": True, "applied": 0}
    # and the captured request replayed later is refused outright
    late = await app.post("/webhooks/stripe", content=body, headers={"Stripe-Signature": header})
    assert late.status_code == 400
    after = await shop.payments.get(payment.id)
    assert (after.status, after.refunded) == (PaymentStatus.PARTIALLY_REFUNDED,
                                              Money("15.00", "EUR"))
    assert [t for t in await transactions(shop, payment.id) if t[0] == "webhook"] == [
        ("webhook", "refunded")]


async def test_a_refund_made_at_the_dashboard_updates_the_payment(
    shop: Commerce, stripe: FakeStripe, app: httpx.AsyncClient, clock: FakeClock
) -> None:
    order = await shop.checkout(await cart(shop), payments=pay(), idempotency_key="ck")
    payment = order.payments[0]
    await shop.payments.capture(payment.id)
    await shop.payments.refund(payment.id, "10.00")  # through omnicore: Stripe also notifies
    found = stripe.charges[stripe.intents[payment.reference]["latest_charge"]]
    assert found["amount_refunded"] == 1000
    ours = await post_event(app, event("charge.refunded", found,
                                       previous={"amount_refunded": 0}), WEBHOOK_SECRET, clock)
    assert ours.json()["applied"] == 1
    assert (await shop.payments.get(payment.id)).refunded == Money("10.00", "EUR")  # not twice
    full = {**found, "amount_refunded": 4470, "refunded": True}  # the rest, at the dashboard
    theirs = await post_event(app, event("charge.refunded", full,
                                         previous={"amount_refunded": 1000, "refunded": False}),
                              WEBHOOK_SECRET, clock)
    assert theirs.json()["applied"] == 1
    after = await shop.payments.get(payment.id)
    assert (after.status, after.refunded) == (PaymentStatus.REFUNDED, Money("44.70", "EUR"))


async def test_events_of_other_types_and_other_payments_are_acknowledged(
    shop: Commerce, stripe: FakeStripe, app: httpx.AsyncClient, clock: FakeClock
) -> None:
    other = {"id": stripe_id("cus"), "object": "customer", "email": "x@example.com",
             "metadata": {}}
    response = await post_event(app, event("customer.created", other), WEBHOOK_SECRET, clock)
    assert response.json() == {"received": True, "applied": 0}
    stranger = {**next(iter(stripe.intents.values()), {}), "id": "pi_3QnotOurs",
                "object": "payment_intent", "status": "canceled", "metadata": {},
                "amount": 100, "currency": "eur"}
    response = await post_event(app, event("payment_intent.canceled", stranger),
                                WEBHOOK_SECRET, clock)
    assert response.json() == {"received": True, "applied": 0}
    body = b"not json"
    now = int(clock.now.timestamp())
    response = await app.post("/webhooks/stripe", content=body,
                              headers={"Stripe-Signature": sign(body, WEBHOOK_SECRET, now)})
    assert response.status_code == 400

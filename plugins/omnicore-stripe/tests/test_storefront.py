"""A full storefront checkout over the GraphQL gateway (``checkoutComplete``) paying with
Stripe: card, 3-D Secure completed by the signed webhook on the same app, a decline."""

from __future__ import annotations

from typing import Any

import httpx
from conftest import WEBHOOK_SECRET
from stripe_fake import FakeStripe, event
from stripe_world import post_event

from omnicore import Commerce, Money
from omnicore.gateway.app import CHANNEL_HEADER
from omnicore.orders import PaymentStatus
from omnicore.testing import FakeClock

CART = """mutation($lines: [CartLineInput!]) { cartCreate(lines: $lines) {
  cart { id version } userErrors { field code message } } }"""
DELIVERY = """mutation($id: ID!, $v: Int!, $groups: [DeliveryGroupInput!]!) {
  cartDeliveryUpdate(cartId: $id, version: $v, delivery: $groups) {
    cart { id version } userErrors { field code message } } }"""
CHECKOUT = """mutation($id: ID!, $key: String!, $payments: [PaymentInput!]!, $email: String) {
  checkoutComplete(cartId: $id, idempotencyKey: $key, payments: $payments, email: $email) {
    order { id number status total { amount currency }
            payments { gateway status amount { amount } authorized { amount } } }
    nextAction { paymentId type clientSecret data }
    userErrors { field code message } } }"""
HOME = {"key": "home", "kind": "ship", "method": "standard",
        "address": {"line1": "3 rue de Rivoli", "city": "Paris", "postalCode": "75004",
                    "country": "FR"}}


class Storefront:
    def __init__(self, shop: Commerce, app: httpx.AsyncClient, token: str) -> None:
        self.shop, self.app, self.token = shop, app, token

    async def call(self, query: str, name: str, **variables: Any) -> dict[str, Any]:
        response = await self.app.post("/graphql", json={"query": query, "variables": variables},
                                       headers={CHANNEL_HEADER: self.token})
        body = response.json()
        assert response.status_code == 200 and "errors" not in body, body
        payload: dict[str, Any] = body["data"][name]
        return payload

    async def ready_cart(self) -> str:
        made = await self.call(CART, "cartCreate", lines=[{"sku": "TEE-L", "quantity": 2}])
        cart = made["cart"]
        done = await self.call(DELIVERY, "cartDeliveryUpdate", id=cart["id"], v=cart["version"],
                               groups=[HOME])
        assert done["userErrors"] == []
        cart_id: str = done["cart"]["id"]
        return cart_id

    async def pay(self, cart_id: str, key: str, method: str) -> dict[str, Any]:
        return await self.call(CHECKOUT, "checkoutComplete", id=cart_id, key=key,
                               email="ada@example.com",
                               payments=[{"gateway": "stripe",
                                          "data": {"payment_method": method}}])


async def storefront(shop: Commerce, app: httpx.AsyncClient) -> Storefront:
    web = next(c for c in await shop.channels.list() if c.code == "web")
    return Storefront(shop, app, str(web.public_token))


async def test_checkout_complete_pays_with_stripe(
    shop: Commerce, app: httpx.AsyncClient, stripe: FakeStripe
) -> None:
    front = await storefront(shop, app)
    cart_id = await front.ready_cart()
    done = await front.pay(cart_id, "pay-1", "pm_card_visa")
    assert done["userErrors"] == [] and done["nextAction"] is None
    order = done["order"]
    assert (order["status"], order["total"]) == ("authorized",
                                                 {"amount": "44.70", "currency": "EUR"})
    assert order["payments"] == [{"gateway": "stripe", "status": "authorized",
                                  "amount": {"amount": "44.70"},
                                  "authorized": {"amount": "44.70"}}]
    (intent,) = stripe.intents.values()
    assert intent["metadata"]["order_number"] == order["number"]
    assert (intent["status"], intent["capture_method"]) == ("requires_capture", "manual")
    # the same press of the Pay button again: the same order, no second intent
    again = await front.pay(cart_id, "pay-1", "pm_card_visa")
    assert again["order"]["id"] == order["id"] and len(stripe.intents) == 1


async def test_3d_secure_over_graphql_completed_by_the_webhook(
    shop: Commerce, app: httpx.AsyncClient, stripe: FakeStripe, clock: FakeClock
) -> None:
    front = await storefront(shop, app)
    cart_id = await front.ready_cart()
    waiting = await front.pay(cart_id, "pay-3ds", "pm_card_authenticationRequired")
    assert waiting["order"] is None
    assert [e["code"] for e in waiting["userErrors"]] == ["payment_action_required"]
    action = waiting["nextAction"]
    (intent,) = stripe.intents.values()
    assert (action["type"], action["clientSecret"]) == ("use_stripe_sdk", intent["client_secret"])
    assert action["data"]["payment_intent"] == intent["id"]

    # Stripe.js confirms in the browser; Stripe posts the event to the same app
    confirmed = stripe.complete_3ds(intent["id"])
    hook = await post_event(app, event("payment_intent.amount_capturable_updated", confirmed),
                            WEBHOOK_SECRET, clock)
    assert hook.json() == {"received": True, "applied": 1}

    done = await front.pay(cart_id, "pay-3ds", "pm_card_authenticationRequired")
    assert done["userErrors"] == [] and done["nextAction"] is None
    assert done["order"]["status"] == "authorized"
    payment = await shop.payments.get(action["paymentId"])
    assert (payment.status, payment.authorized, payment.reference) == (
        PaymentStatus.AUTHORIZED, Money("44.70", "EUR"), intent["id"])


async def test_a_stripe_decline_is_a_user_error(
    shop: Commerce, app: httpx.AsyncClient, stripe: FakeStripe
) -> None:
    front = await storefront(shop, app)
    refused = await front.pay(await front.ready_cart(), "pay-x",
                              "pm_card_visa_chargeDeclinedInsufficientFunds")
    assert refused["order"] is None
    assert refused["userErrors"] == [{"field": "payments", "code": "payment_declined",
                                      "message": "Your card has insufficient funds."}]

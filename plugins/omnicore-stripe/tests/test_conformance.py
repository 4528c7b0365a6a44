"""Every request the suite sends to Stripe is checked against Stripe's parameters for
2025-08-27.basil when its test ends (``vendor_requests`` in conftest). These tests show
that the check sees the requests and refuses what Stripe would refuse."""

from __future__ import annotations

from urllib.parse import urlencode

import httpx
import pytest
from conftest import stripe_api
from omnicore_stripe import encode
from stripe_fake import FakeStripe
from stripe_world import cart, pay

from omnicore import Commerce
from omnicore.testing import RecordedRequest, RequestRecorder

API = "https://api.stripe.com/v1"
CREATE = {"amount": 4470, "currency": "eur", "capture_method": "manual",
          "metadata": {"omnicore_payment_id": "pay_1", "order_number": "100001"},
          "payment_method": "pm_card_visa", "confirm": True, "use_stripe_sdk": True,
          "automatic_payment_methods": {"enabled": True, "allow_redirects": "never"}}


def post(path: str, params: dict[str, object]) -> RecordedRequest:
    return RecordedRequest("POST", f"{API}{path}", urlencode(encode(params)).encode(),
                           "application/x-www-form-urlencoded")


async def test_the_requests_of_a_test_are_recorded_and_conform(
        shop: Commerce, stripe: FakeStripe, app: httpx.AsyncClient,
        vendor_requests: RequestRecorder) -> None:
    order = await shop.checkout(await cart(shop), payments=pay(), idempotency_key="ck")
    await shop.payments.capture(order.payments[0].id)
    await shop.payments.refund(order.payments[0].id, "10.00")
    await app.post("/webhooks/stripe", content=b"{}")  # the app itself: recorded, not Stripe

    conformance = stripe_api()
    checked = [str(r) for r in vendor_requests.requests if conformance.concerns(r)]
    assert checked[0] == "POST /v1/payment_intents" and len(checked) == 3
    assert any(r.host == "shop.test" for r in vendor_requests.requests)
    assert conformance.check(vendor_requests.requests) == []


def test_the_create_call_conforms() -> None:
    assert stripe_api().check([post("/payment_intents", CREATE)]) == []


@pytest.mark.parametrize(("request_", "where"), [
    (post("/payment_intents", {k: v for k, v in CREATE.items() if k != "currency"}),
     "body.currency"),
    (post("/payment_intents", {**CREATE, "capture_method": "later"}), "body.capture_method"),
    (post("/payment_intents", {**CREATE, "amount": "44.70"}), "body.amount"),
    (post("/payment_intents", {**CREATE, "amount_cents": 4470}), "body.amount_cents"),
    (post("/payment_intents", {**CREATE, "confirm": "yes"}), "body.confirm"),
    (post("/payment_intents", {**CREATE, "automatic_payment_methods": {"allow_redirects":
                                                                       "never"}}),
     "body.automatic_payment_methods.enabled"),
    (post("/payment_intents/pi_1/cancel", {"cancellation_reason": "changed_mind"}),
     "body.cancellation_reason"),
    (post("/payment_intents/pi_1/capture", {"amount_to_capture": -1.5}),
     "body.amount_to_capture"),
    (post("/refunds", {"payment_intent": "pi_1", "reason": "customer_asked"}), "body.reason"),
    (RecordedRequest("GET", f"{API}/payment_intents/search?limit=10"), "query.query"),
    (RecordedRequest("GET", f"{API}/payment_intents/pi_1?expands[]=latest_charge"),
     "query.expands"),
    (RecordedRequest("POST", f"{API}/payment_intents/pi_1/confirm"), "operation"),
])
def test_what_stripe_would_refuse_is_a_problem(request_: RecordedRequest, where: str) -> None:
    problems = stripe_api().check([request_])
    assert where in [p.where for p in problems], [str(p) for p in problems]

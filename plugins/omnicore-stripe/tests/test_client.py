"""The HTTP client: form encoding, retries and back-off, and Stripe's errors as omnicore's."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import respx
from conftest import SECRET_KEY, SETTINGS, Sleeps
from omnicore_stripe import StripeClient, StripeSettings, encode
from omnicore_stripe.client import StripeError, StripeUnreachable
from omnicore_stripe.errors import to_omnicore
from stripe_fake import FakeStripe, error_body
from stripe_world import cart, pay

from omnicore import (
    Commerce,
    Conflict,
    InvalidInput,
    NotFound,
    OmnicoreError,
    PaymentDeclined,
    PaymentUnavailable,
    PluginError,
)
from omnicore.orders import OrderStatus


def test_encode_nests_with_brackets() -> None:
    assert encode({
        "amount": 4470, "confirm": True, "capture_method": "manual", "skip": None,
        "metadata": {"order_number": "100001", "omnicore_payment_id": "pay_1"},
        "payment_method_options": {"card": {"request_multicapture": "if_available"}},
        "expand": ["latest_charge", "customer"],
        "items": [{"price": "price_1", "quantity": 2}],
    }) == [
        ("amount", "4470"), ("confirm", "true"), ("capture_method", "manual"),
        ("metadata[order_number]", "100001"), ("metadata[omnicore_payment_id]", "pay_1"),
        ("payment_method_options[card][request_multicapture]", "if_available"),
        ("expand[]", "latest_charge"), ("expand[]", "customer"),
        ("items[0][price]", "price_1"), ("items[0][quantity]", "2"),
    ]


async def test_429_then_success_waits_retry_after(
    shop: Commerce, stripe: FakeStripe, sleeps: Sleeps
) -> None:
    stripe.fail_next("/payment_intents", (429, error_body(
        "invalid_request_error", "Request rate limit exceeded. Learn more about rate limits "
        "here https://stripe.com/docs/rate-limits.", code="rate_limit"), {"Retry-After": "3"}))
    order = await shop.checkout(await cart(shop), payments=pay(), idempotency_key="ck")
    assert order.status is OrderStatus.AUTHORIZED
    assert sleeps.delays == [3.0]
    assert [c.key for c in stripe.calls] == [f"{order.payments[0].id}:authorize"] * 2
    assert len(stripe.intents) == 1


def client(sleeps: Sleeps, **settings: Any) -> StripeClient:
    return StripeClient(StripeSettings(**{**SETTINGS, **settings}), sleep=sleeps,
                        jitter=lambda: 0.0)


def answer(status: int, body: dict[str, Any], **headers: str) -> httpx.Response:
    return httpx.Response(status, json=body, headers={"Request-Id": "req_9Qx", **headers})


OK = {"id": "pi_1", "object": "payment_intent"}
API_ERROR = error_body("api_error", "An unknown error occurred")
CONFLICT = error_body("invalid_request_error", "There is currently another in-progress "
                      "request using this Stripe API key.", code="lock_timeout")
BAD = error_body("invalid_request_error", "Missing required param: amount.",
                 code="parameter_missing", param="amount")


@pytest.mark.parametrize(
    ("answers", "calls", "outcome"),
    [
        ([answer(500, API_ERROR), answer(200, OK)], 2, "ok"),
        ([answer(503, API_ERROR), answer(502, API_ERROR), answer(200, OK)], 3, "ok"),
        ([answer(409, CONFLICT), answer(200, OK)], 2, "ok"),
        # Stripe-Should-Retry decides when present, both ways
        ([answer(500, API_ERROR, **{"Stripe-Should-Retry": "false"})], 1, StripeError),
        ([answer(400, BAD, **{"Stripe-Should-Retry": "true"}), answer(200, OK)], 2, "ok"),
        # other 4xx are final
        ([answer(400, BAD)], 1, StripeError),
        ([answer(404, BAD)], 1, StripeError),
        # retries run out
        ([answer(500, API_ERROR)] * 3, 3, StripeError),
        # a Retry-After longer than max_retry_after_seconds is not waited for
        ([answer(429, CONFLICT, **{"Retry-After": "120"})], 1, StripeError),
    ],
)
async def test_retry_rules(answers: list[httpx.Response], calls: int, outcome: Any) -> None:
    sleeps = Sleeps()
    with respx.mock(assert_all_called=False) as router:
        route = router.post("https://api.stripe.com/v1/payment_intents").mock(
            side_effect=answers)
        stripe = client(sleeps)
        if outcome == "ok":
            assert await stripe.post("/payment_intents", {"amount": 100, "currency": "eur"},
                                     idempotency_key="k") == OK
        else:
            with pytest.raises(outcome):
                await stripe.post("/payment_intents", {"amount": 100, "currency": "eur"},
                                  idempotency_key="k")
        await stripe.aclose()
    assert route.call_count == calls
    assert len(sleeps.delays) == calls - 1
    assert {r.request.headers["idempotency-key"] for r in route.calls} == {"k"}


async def test_back_off_grows_with_jitter_and_honours_retry_after() -> None:
    sleeps = Sleeps()
    with respx.mock() as router:
        router.post("https://api.stripe.com/v1/refunds").mock(side_effect=[
            answer(500, API_ERROR), answer(500, API_ERROR), answer(500, API_ERROR),
            answer(429, CONFLICT, **{"Retry-After": "7"}), answer(200, OK)])
        stripe = StripeClient(StripeSettings(**SETTINGS, max_retries=4), sleep=sleeps,
                              jitter=lambda: 1.0)
        await stripe.post("/refunds", {}, idempotency_key="k")
        await stripe.aclose()
    first, second, third, fourth = sleeps.delays
    assert 0 < first < second < third  # exponential, x (0.5 + jitter / 2)
    assert fourth == 7.0  # at least what Retry-After says


async def test_network_errors_are_retried_then_unreachable() -> None:
    sleeps = Sleeps()
    with respx.mock() as router:
        route = router.get("https://api.stripe.com/v1/payment_intents/pi_1").mock(
            side_effect=httpx.ConnectTimeout("timed out"))
        stripe = client(sleeps)
        with pytest.raises(StripeUnreachable) as caught:
            await stripe.get("/payment_intents/pi_1")
        await stripe.aclose()
    assert route.call_count == 3
    assert "idempotency-key" not in route.calls[0].request.headers  # GETs need none
    assert SECRET_KEY not in str(caught.value)


def stripe_error(status: int, body: dict[str, Any]) -> StripeError:
    return StripeError(status, body["error"], request_id="req_42", retryable=False)


@pytest.mark.parametrize(
    ("status", "body", "expected", "field"),
    [
        (402, error_body("card_error", "Your card was declined.", code="card_declined",
                         decline_code="generic_decline"), PaymentDeclined, "payments"),
        (402, error_body("card_error", "Your card has expired.", code="expired_card",
                         param="exp_month"), PaymentDeclined, "payments"),
        (400, error_body("idempotency_error", "Keys for idempotent requests can only be used "
                         "with the same parameters they were first used with."),
         Conflict, "idempotency_key"),
        (409, CONFLICT, Conflict, "idempotency_key"),
        (400, error_body("invalid_request_error", "This PaymentIntent could not be captured "
                         "because it has a status of canceled.",
                         code="payment_intent_unexpected_state"), Conflict, "payment_id"),
        (400, error_body("invalid_request_error", "No such PaymentMethod: 'pm_nope'",
                         code="resource_missing", param="payment_method"),
         InvalidInput, "payments"),
        (400, error_body("invalid_request_error", "Amount must be at least €0.50 eur",
                         code="amount_too_small", param="amount"), InvalidInput, "payments"),
        (404, error_body("invalid_request_error", "No such payment_intent: 'pi_x'",
                         code="resource_missing", param="intent"), NotFound, "reference"),
        (401, error_body("invalid_request_error", f"Invalid API Key provided: {SECRET_KEY}"),
         PluginError, None),
        (403, error_body("invalid_request_error", "The provided key 'rk_test_***abc' does not "
                         "have the required permissions for this endpoint."), PluginError, None),
        (429, error_body("invalid_request_error", "Request rate limit exceeded.",
                         code="rate_limit"), PaymentUnavailable, None),
        (500, API_ERROR, PaymentUnavailable, None),
        (400, BAD, PluginError, None),
    ],
)
def test_stripe_errors_become_typed_omnicore_errors(
    status: int, body: dict[str, Any], expected: type[OmnicoreError], field: str | None
) -> None:
    error = to_omnicore(stripe_error(status, body), operation="authorize")
    assert type(error) is expected
    assert error.field == field
    assert SECRET_KEY not in str(error)
    if isinstance(error, PaymentDeclined):
        assert error.decline_code == (body["error"].get("decline_code")
                                      or body["error"].get("code"))
        assert error.message == body["error"]["message"]
    if isinstance(error, PluginError):
        assert error.plugin == "stripe" and "req_42" in error.message


def test_unreachable_is_payment_unavailable() -> None:
    error = to_omnicore(StripeUnreachable("no answer"), operation="capture")
    assert isinstance(error, PaymentUnavailable)
    assert "capture" in error.message

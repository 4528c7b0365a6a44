"""Configuration at start-up, the entry point, and secrets kept out of logs and errors."""

from __future__ import annotations

import logging
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import SECRET_KEY, SETTINGS, WEBHOOK_SECRET, open_shop
from omnicore_stripe import StripePlugin, StripeSettings, sign
from stripe_fake import FakeStripe, error_body, event
from stripe_world import build_world, cart, pay, post_event

from omnicore import Commerce, InvalidInput, OmnicoreError, PaymentActionRequired
from omnicore.testing import FakeClock


@pytest.mark.parametrize(
    ("section", "field"),
    [
        ({}, "plugins.stripe.secret_key"),
        ({"webhook_secret": WEBHOOK_SECRET}, "plugins.stripe.secret_key"),
        ({"secret_key": SECRET_KEY}, "plugins.stripe.webhook_secret"),
        ({**SETTINGS, "secret_key": "pk_test_51OmniCorePublishableKey0000"},
         "plugins.stripe.secret_key"),
        ({**SETTINGS, "secret_key": f" {SECRET_KEY}"}, "plugins.stripe.secret_key"),
        ({**SETTINGS, "secret_key": f'"{SECRET_KEY}"'}, "plugins.stripe.secret_key"),
        ({**SETTINGS, "secret_key": "sk_test_short"}, "plugins.stripe.secret_key"),
        ({**SETTINGS, "secret_key": WEBHOOK_SECRET}, "plugins.stripe.secret_key"),
        ({**SETTINGS, "webhook_secret": SECRET_KEY}, "plugins.stripe.webhook_secret"),
        ({**SETTINGS, "api_version": "latest"}, "plugins.stripe.api_version"),
        ({**SETTINGS, "api_base": "ftp://api.stripe.com"}, "plugins.stripe.api_base"),
        ({**SETTINGS, "max_retries": "-1"}, "plugins.stripe.max_retries"),
        ({**SETTINGS, "return_url": "javascript:alert(1)"}, "plugins.stripe.return_url"),
        ({**SETTINGS, "secret_keys": SECRET_KEY}, "plugins.stripe.secret_keys"),
    ],
)
async def test_missing_or_malformed_settings_refuse_to_start(
    tmp_path: Path, section: dict[str, Any], field: str
) -> None:
    database = tmp_path / "never.db"
    with pytest.raises(InvalidInput) as caught:
        await Commerce.open(f"sqlite+aiosqlite:///{database}", dispatch=False,
                            load_entry_points=False, plugins=[StripePlugin()],
                            config={"plugins": {"stripe": section}})
    assert caught.value.field == field
    assert caught.value.message  # says what is wrong …
    for secret in (SECRET_KEY, WEBHOOK_SECRET, "pk_test_51OmniCorePublishableKey0000"):
        assert secret not in str(caught.value)  # … without repeating the secret
        assert all(secret not in p.message for p in caught.value.problems)
    assert not database.exists()  # refused before touching the database


async def test_settings_from_the_environment(
    db_url: str, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OMNICORE_PLUGINS__STRIPE__SECRET_KEY", SECRET_KEY)
    monkeypatch.setenv("OMNICORE_PLUGINS__STRIPE__WEBHOOK_SECRET", WEBHOOK_SECRET)
    monkeypatch.setenv("OMNICORE_PLUGINS__STRIPE__TIMEOUT_SECONDS", "12.5")
    monkeypatch.setenv("OMNICORE_PLUGINS__STRIPE__MULTICAPTURE", "true")
    plugin = StripePlugin()
    async with Commerce.open(db_url, clock=clock, dispatch=False, load_entry_points=False,
                             plugins=[plugin]) as shop:
        settings = shop.plugins.settings["stripe"]
        assert isinstance(settings, StripeSettings)
        assert (settings.secret_key, settings.timeout_seconds, settings.multicapture) == (
            SECRET_KEY, 12.5, True)
        assert shop.payments.gateway("stripe") is plugin.gateway
        assert SECRET_KEY not in repr(settings) and WEBHOOK_SECRET not in repr(settings)


def test_the_distribution_declares_the_entry_point() -> None:
    try:
        found = distribution("omnicore-stripe")
    except PackageNotFoundError:
        pytest.skip("omnicore-stripe is not installed (nox installs it)")
    points = [ep for ep in found.entry_points if ep.group == "omnicore"]
    assert [(ep.name, ep.value) for ep in points] == [("stripe", "omnicore_stripe:StripePlugin")]
    assert points[0].load() is StripePlugin


async def test_loaded_from_its_entry_point(db_url: str, clock: FakeClock) -> None:
    try:
        distribution("omnicore-stripe")
    except PackageNotFoundError:
        pytest.skip("omnicore-stripe is not installed (nox installs it)")
    async with Commerce.open(db_url, clock=clock, dispatch=False,
                             config={"plugins": {"allow": ["stripe"], "stripe": SETTINGS}}
                             ) as shop:
        assert "stripe" in shop.plugins.names()
        assert sorted(shop.plugins.hooks_of("stripe")) == [
            "register_payment_gateways", "register_routes", "register_settings", "shutdown",
            "startup"]
        assert shop.payments.gateway("stripe").code == "stripe"


async def test_secrets_never_reach_logs_or_errors(
    db_url: str, clock: FakeClock, stripe: FakeStripe, caplog: pytest.LogCaptureFixture
) -> None:
    """Every path that logs or raises — retries, a refused key, declines, 3-D Secure,
    forged and valid webhooks — at DEBUG, httpx's own loggers included."""
    from omnicore.gateway.app import create_app

    caplog.set_level(logging.DEBUG)
    errors: list[str] = []
    async with await open_shop(db_url, clock, StripePlugin(sleep=_no_sleep)) as shop:
        await build_world(shop)
        stripe.fail_next("/payment_intents", (500, error_body(
            "api_error", "An unknown error occurred"), {}))
        stripe.fail_next("/payment_intents", (401, error_body(
            "invalid_request_error", f"Invalid API Key provided: {SECRET_KEY}"), {}))
        for method in ("pm_card_visa", "pm_card_chargeDeclined", "pm_card_authenticationRequired"):
            try:
                await shop.checkout(await cart(shop, [{"sku": "TEE-M", "quantity": 1}]),
                                    payments=pay(method), idempotency_key=f"ck-{method}")
            except OmnicoreError as exc:
                errors.append(f"{exc} {exc.as_dict()}")
        assert any("refused the API key" in e for e in errors)
        assert any("payment_declined" in e for e in errors)
        assert any("payment_action_required" in e for e in errors)
        transport = httpx.ASGITransport(app=create_app(shop))
        async with httpx.AsyncClient(transport=transport, base_url="http://shop.test") as app:
            intent = next(i for i in stripe.intents.values() if i["status"] == "requires_action")
            confirmed = stripe.complete_3ds(intent["id"])
            payload = event("payment_intent.amount_capturable_updated", confirmed)
            forged = await post_event(app, payload, "whsec_guessedSecret000000000000", clock)
            stale = await post_event(app, payload, WEBHOOK_SECRET, clock, skew=-3600)
            good = await post_event(app, payload, WEBHOOK_SECRET, clock)
            errors.extend([forged.text, stale.text, good.text])
            assert (forged.status_code, stale.status_code, good.status_code) == (400, 400, 200)
    text = caplog.text + "\n".join(errors)
    assert "refused a Stripe webhook" in caplog.text  # the logs did record the failures
    assert "retrying" in caplog.text
    for secret in (SECRET_KEY, WEBHOOK_SECRET, SECRET_KEY[8:], WEBHOOK_SECRET[6:]):
        assert secret not in text
    assert sign(b"", WEBHOOK_SECRET, 0) not in text


async def _no_sleep(_: float) -> None:
    return None


async def test_requires_action_error_carries_only_what_the_storefront_needs(
    shop: Commerce, stripe: FakeStripe
) -> None:
    with pytest.raises(PaymentActionRequired) as caught:
        await shop.checkout(await cart(shop), payments=pay("pm_card_authenticationRequired"),
                            idempotency_key="ck")
    shown = caught.value.as_dict()
    assert set(shown["next_action"]) == {"type", "client_secret", "payment_intent"}
    intent = shown["next_action"]["payment_intent"]
    assert shown["next_action"]["client_secret"] == stripe.intents[intent]["client_secret"]
    assert shown["next_action"]["client_secret"].startswith(f"{intent}_secret_")
    assert SECRET_KEY not in str(shown)

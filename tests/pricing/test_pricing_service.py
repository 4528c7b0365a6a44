"""``commerce.pricing.price``: prices and promotions from the database, plugin hooks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import attrs
import pytest

from omnicore import Commerce, InvalidInput, Money, NotFound, PluginError, hookimpl
from omnicore.errors import Problem
from omnicore.pricing import Adjustment, PricingContext, Totals, validate
from omnicore.testing import FakeClock, seed_minimal


def eur(amount: str) -> Money:
    return Money(amount, "EUR")


async def catalog(commerce: Commerce) -> None:
    await seed_minimal(commerce)
    await commerce.catalog.save_product({
        "handle": "wool-cap", "title": "Wool cap", "family": "hats",
        "variants": [{"sku": "CAP-1"}, {"sku": "CAP-2"}]})
    await commerce.catalog.set_prices([
        {"sku": "CAP-1", "amount": {"amount": "12.00", "currency": "EUR"}},
        {"sku": "CAP-2", "amount": {"amount": "15.00", "currency": "EUR"}},
        {"sku": "CAP-1", "amount": {"amount": "10.00", "currency": "EUR"}, "channel": "web"},
        {"sku": "TEE-M", "amount": {"amount": "25.00", "currency": "USD"}},
    ])


@pytest.fixture
async def shop(commerce: Commerce) -> Commerce:
    await catalog(commerce)
    return commerce


async def test_prices_come_from_the_channel_list_then_the_default(shop: Commerce) -> None:
    totals = await shop.pricing.price(
        channel="web", currency="EUR",
        lines=[("l1", "TEE-M", 2), {"key": "l2", "sku": "CAP-1", "quantity": 1}],
        codes=[], customer_id=None, shipping=None)
    assert [(e.key, e.unit_price, e.total) for e in totals.lines] == [
        ("l1", eur("19.90"), eur("39.80")), ("l2", eur("10.00"), eur("10.00"))]
    assert totals.total == eur("49.80")
    usd = await shop.pricing.price(channel="web", currency="USD", lines=[("l1", "TEE-M", 1)])
    assert usd.total == Money("25.00", "USD")


async def test_missing_prices_and_bad_lines_name_the_line(shop: Commerce) -> None:
    with pytest.raises(InvalidInput) as caught:
        await shop.pricing.price(channel="web", currency="USD",
                                 lines=[("a", "TEE-M", 1), ("b", "CAP-1", 1), ("c", "NOPE", 1)])
    assert caught.value.field == "lines[1].sku"
    assert [p.field for p in caught.value.problems] == ["lines[1].sku", "lines[2].sku"]
    assert caught.value.problems[0].message == "CAP-1 has no price in USD"
    for lines, field in [([("a", "TEE-M", 0)], "lines[0].quantity"),
                         ([("a", "TEE-M")], "lines[0]"),
                         ([{"key": "a", "sku": "TEE-M"}], "lines[0].quantity"),
                         ([("a", "TEE-M", 1), ("a", "TEE-L", 1)], "lines[1].key")]:
        with pytest.raises(InvalidInput) as bad:
            await shop.pricing.price(channel="web", currency="EUR", lines=lines)
        assert bad.value.field == field
    with pytest.raises(NotFound) as channel:
        await shop.pricing.price(channel="mars", currency="EUR", lines=[])
    assert channel.value.field == "channel"


async def test_promotions_of_the_database_apply_with_families_and_codes(
    shop: Commerce, clock: FakeClock,
) -> None:
    await shop.promotions.create({"name": "hats", "kind": "buy_x_get_y", "buy": 1, "get": 1,
                                  "families": ["hats"]})
    await shop.promotions.create({"name": "ten", "kind": "fixed_off", "target": "order",
                                  "amounts": {"EUR": "10.00"}, "automatic": False,
                                  "codes": ["TEN"]})
    await shop.promotions.create({"name": "old", "kind": "percent_off", "percent": "50",
                                  "automatic": False, "codes": ["OLD"],
                                  "ends_at": clock.now.isoformat()})
    await shop.promotions.create({"name": "ship", "kind": "free_shipping",
                                  "thresholds": {"EUR": "30.00"}})
    totals = await shop.pricing.price(
        channel="web", currency="EUR",
        lines=[("l1", "TEE-M", 1), ("l2", "CAP-1", 1), ("l3", "CAP-2", 1)],
        codes=["ten", "old", "nope"], customer_id="cus_1", shipping=eur("4.90"))
    assert [e.total for e in totals.lines] == [eur("19.90"), eur("0.00"), eur("15.00")]
    assert totals.order_discounts[0].amount == eur("-10.00")
    assert totals.shipping_discount == eur("-4.90")
    assert totals.total == eur("24.90")
    assert [(c.code, c.applied, c.reason) for c in totals.codes] == [
        ("TEN", True, "applied"),
        ("OLD", False, "code OLD expired at 2026-03-02T09:30:00+00:00"),
        ("NOPE", False, "unknown discount code NOPE"),
    ]
    assert sorted(name for name in (e.name for e in totals.explanations)) == [
        "hats", "ship", "ten"]
    ids = {p.name: p.id for p in await shop.promotions.list()}
    assert sorted(totals.applied_promotions, key=lambda pair: str(pair[1])) == sorted(
        [(ids["ten"], "TEN"), (ids["hats"], None), (ids["ship"], None)],
        key=lambda pair: str(pair[1]))


async def test_per_customer_promotions_stop_once_used(shop: Commerce) -> None:
    first = await shop.promotions.create({"name": "welcome", "kind": "percent_off",
                                          "percent": "10", "per_customer_limit": 1})
    assert first.id

    async def total(customer: str | None) -> Money:
        return (await shop.pricing.price(channel="web", currency="EUR",
                                         lines=[("l", "TEE-M", 1)], customer_id=customer)).total

    assert await total("cus_1") == eur("17.91")
    assert await total(None) == eur("19.90")
    await shop.promotions.redeem([(first.id, None)], order_ref="o-1", customer_id="cus_1")
    assert await total("cus_1") == eur("19.90")
    assert await total("cus_2") == eur("17.91")


# -- plugins ------------------------------------------------------------------------------------


class Vat:
    """20 % VAT on what is left after discounts (an async implementation)."""

    name = "vat"

    def __init__(self) -> None:
        self.contexts: list[PricingContext] = []

    @hookimpl
    async def calculate_adjustments(self, context: PricingContext,
                                    totals: Totals) -> list[Adjustment]:
        self.contexts.append(context)
        base = totals.total
        return [Adjustment("VAT 20 %", Money(base.amount * Decimal("0.2"), base.currency),
                           kind="tax")]


class EcoFee:
    name = "ecofee"

    @hookimpl
    def calculate_adjustments(self, totals: Totals) -> list[Adjustment] | None:
        if not totals.lines:
            return None
        return [Adjustment("eco-fee", Money("0.07", totals.currency), kind="fee")]


class Veto:
    name = "veto"

    @hookimpl
    def validate_cart(self, cart: Any) -> list[Problem]:
        return [Problem(f"lines[{i}].sku", "is sold in store only")
                for i, (_, sku, _) in enumerate(cart.lines) if sku.startswith("CAP")]


class AlsoVeto:
    name = "age"

    @hookimpl
    async def validate_cart(self, commerce: Commerce, cart: Any) -> list[Problem] | None:
        return [Problem("customer_id", "must be 18 or older")] if cart.customer_id is None \
            else None


@attrs.frozen
class FakeCart:
    lines: list[tuple[str, str, int]]
    customer_id: str | None = None


async def open_with(db_url: str, clock: FakeClock, *plugins: object) -> Commerce:
    commerce = await Commerce.open(db_url, plugins=plugins, load_entry_points=False,
                                   dispatch=False, clock=clock,
                                   config={"database": {"pool_size": 5}})
    await catalog(commerce)
    return commerce


@pytest.fixture
async def with_vat(db_url: str, clock: FakeClock) -> AsyncIterator[tuple[Commerce, Vat]]:
    vat = Vat()
    commerce = await open_with(db_url, clock, vat, EcoFee())
    yield commerce, vat
    await commerce.close()


async def test_calculate_adjustments_adds_a_vat_line(with_vat: tuple[Commerce, Vat]) -> None:
    commerce, vat = with_vat
    await commerce.promotions.create({"name": "ten", "kind": "percent_off", "percent": "10"})
    totals = await commerce.pricing.price(channel="web", currency="EUR",
                                          lines=[("l1", "TEE-M", 3)], codes=["X"])
    # 59.70 - 10 % = 53.73: both plugins see that total, not each other's adjustments;
    # ecofee, registered last, is called first
    assert [(a.label, a.amount, a.kind, a.source) for a in totals.adjustments] == [
        ("eco-fee", eur("0.07"), "fee", "ecofee"), ("VAT 20 %", eur("10.75"), "tax", "vat")]
    assert totals.total == eur("64.55")
    assert vat.contexts[0].channel == "web" and vat.contexts[0].codes == ["X"]
    assert vat.contexts[0].lines[0].unit_price == eur("19.90")


async def test_a_bad_adjustment_is_a_plugin_error(db_url: str, clock: FakeClock) -> None:
    class Dollars:
        name = "dollars"

        @hookimpl
        def calculate_adjustments(self) -> list[Adjustment]:
            return [Adjustment("fee", Money("1.00", "USD"))]

    commerce = await open_with(db_url, clock, Dollars())
    try:
        with pytest.raises(PluginError) as caught:
            await commerce.pricing.price(channel="web", currency="EUR",
                                         lines=[("l", "TEE-M", 1)])
        assert caught.value.plugin == "dollars"
    finally:
        await commerce.close()


async def test_validate_collects_every_plugins_problems(db_url: str, clock: FakeClock) -> None:
    commerce = await open_with(db_url, clock, Veto(), AlsoVeto())
    try:
        await validate(commerce, FakeCart([("l1", "TEE-M", 1)], customer_id="cus_1"))
        with pytest.raises(InvalidInput) as caught:
            await validate(commerce, FakeCart([("l1", "TEE-M", 1), ("l2", "CAP-1", 1)]))
        assert caught.value.problems == [
            Problem("customer_id", "plugin 'age': must be 18 or older"),
            Problem("lines[1].sku", "plugin 'veto': is sold in store only"),
        ]
        assert caught.value.field == "customer_id"
    finally:
        await commerce.close()


async def test_validate_without_plugins_accepts_everything(commerce: Commerce) -> None:
    await validate(commerce, FakeCart([("l1", "TEE-M", 1)]))

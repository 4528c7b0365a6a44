"""A cart's totals, discount codes and the plugins' veto."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from helpers.cart_world import build_world, snapshot

from omnicore import Commerce, hookimpl
from omnicore.errors import Conflict, InvalidInput, NotFound, Problem
from omnicore.money import Money
from omnicore.testing import FakeClock


@pytest.fixture
async def shop(commerce: Commerce) -> Commerce:
    await build_world(commerce)
    return commerce


def eur(amount: str) -> Money:
    return Money(amount, "EUR")


async def test_totals_price_the_lines_with_the_codes(shop: Commerce) -> None:
    await shop.promotions.create({"name": "ten", "kind": "percent_off", "percent": "10",
                                  "automatic": False, "codes": ["TEN"]})
    cart = await shop.carts.create("web")
    cart = await shop.carts.add_lines(cart.id, [{"sku": "TEE-M", "quantity": 2},
                                                {"sku": "TEE-L", "quantity": 1}], version=1)
    totals = await shop.carts.totals(cart.id)
    assert totals.subtotal == totals.total == eur("59.70")
    assert [line.key for line in totals.lines] == [line.id for line in cart.lines]
    cart = await shop.carts.apply_codes(cart.id, [" ten "], version=2)
    assert cart.discount_codes == ["TEN"] and cart.version == 3
    totals = await shop.carts.totals(cart.id, shipping=eur("4.90"))
    assert totals.total == eur("58.63")  # 59.70 - 5.97 + 4.90
    assert totals.explanations
    cart = await shop.carts.remove_codes(cart.id, ["TEN", "OTHER"], version=3)
    assert cart.discount_codes == []


async def test_a_code_that_cannot_be_used_changes_nothing(
    shop: Commerce, clock: FakeClock
) -> None:
    await shop.promotions.create({"name": "ok", "kind": "percent_off", "percent": "5",
                                  "codes": ["FINE"]})
    await shop.promotions.create({"name": "past", "kind": "percent_off", "percent": "5",
                                  "codes": ["OLD"],
                                  "ends_at": (clock.now - dt.timedelta(days=1)).isoformat()})
    await shop.promotions.create({"name": "stores", "kind": "percent_off", "percent": "5",
                                  "codes": ["INSTORE"], "channels": ["pos-paris-1"]})
    once = await shop.promotions.create({"name": "once", "kind": "percent_off", "percent": "5",
                                         "codes": ["ONCE"], "usage_limit": 1})
    assert once.id is not None
    await shop.promotions.redeem([(once.id, "ONCE")], order_ref="R-1")
    cart = await shop.carts.create("web")
    cart = await shop.carts.add_lines(cart.id, [{"sku": "TEE-M", "quantity": 1}], version=1)
    cart = await shop.carts.apply_codes(cart.id, ["FINE"], version=2)
    before = await snapshot(shop, cart.id)
    for codes, error in ((["NOPE"], NotFound), (["OLD"], InvalidInput), (["ONCE"], Conflict),
                         (["INSTORE"], InvalidInput), (["FINE", "bad code!"], InvalidInput),
                         ([], InvalidInput), ("FINE", InvalidInput)):
        with pytest.raises(error) as caught:
            await shop.carts.apply_codes(cart.id, codes, version=3)  # type: ignore[arg-type]
        assert caught.value.field == "discount_codes", codes  # type: ignore[attr-defined]
    with pytest.raises(Conflict) as stale:
        await shop.carts.apply_codes(cart.id, ["FINE"], version=2)
    assert stale.value.field == "version"
    assert await snapshot(shop, cart.id) == before


async def test_a_sku_without_a_price_is_named(shop: Commerce) -> None:
    await shop.catalog.save_product({"handle": "cap", "title": "Cap",
                                     "variants": [{"sku": "CAP"}]})
    await shop.stock.receive("CAP", "wh", 3, source="seed")
    cart = await shop.carts.create("web")
    cart = await shop.carts.add_lines(cart.id, [{"sku": "TEE-M", "quantity": 1},
                                                {"sku": "CAP", "quantity": 1}], version=1)
    with pytest.raises(InvalidInput) as caught:
        await shop.carts.totals(cart.id)
    assert caught.value.field == "lines[1].sku"


class StoreOnly:
    name = "store-only"

    @hookimpl
    def validate_cart(self, cart: Any) -> list[Problem]:
        return [Problem(f"lines[{i}].sku", "is sold in store only")
                for i, line in enumerate(cart.lines) if line.sku == "TEE-L"]


async def test_validate_runs_the_plugins_veto(db_url: str, clock: FakeClock) -> None:
    async with Commerce.open(db_url, clock=clock, dispatch=False, load_entry_points=False,
                             plugins=[StoreOnly()]) as shop:
        await build_world(shop)
        cart = await shop.carts.create("web")
        cart = await shop.carts.add_lines(cart.id, [{"sku": "TEE-M", "quantity": 1}], version=1)
        assert await shop.carts.validate(cart.id) == cart
        cart = await shop.carts.add_lines(cart.id, [{"sku": "TEE-L", "quantity": 1}], version=2)
        with pytest.raises(InvalidInput) as caught:
            await shop.carts.validate(cart.id)
        assert caught.value.field == "lines[1].sku"
        assert caught.value.problems == [
            Problem("lines[1].sku", "plugin 'store-only': is sold in store only")]

"""``commerce.promotions``: promotions and codes in the database, checks, redemptions."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from omnicore import Commerce, Conflict, InvalidInput, NotFound
from omnicore.pricing import Promotion
from omnicore.store.tables import outbox_events, promotion_codes, promotion_redemptions
from omnicore.testing import FakeClock, seed_minimal

DAY = dt.timedelta(days=1)


async def events(commerce: Commerce, prefix: str = "promotion.") -> list[tuple[str, Any]]:
    async with commerce.db.read() as conn:
        rows = await conn.execute(
            select(outbox_events.c.topic, outbox_events.c.payload).order_by(outbox_events.c.id))
        return [(t, json.loads(p)) for t, p in rows if t.startswith(prefix)]


async def state(commerce: Commerce, promotion_id: str) -> tuple[int, dict[str, int], int]:
    """(times_used, {code: times_used}, redemption rows) of a promotion."""
    promotion = await commerce.promotions.get(promotion_id)
    async with commerce.db.read() as conn:
        codes = {code: used for code, used in await conn.execute(
            select(promotion_codes.c.code, promotion_codes.c.times_used)
            .where(promotion_codes.c.promotion_id == promotion_id))}
        rows = (await conn.execute(
            select(func.count()).select_from(promotion_redemptions)
            .where(promotion_redemptions.c.promotion_id == promotion_id))).scalar_one()
    return promotion.times_used, codes, rows


@pytest.fixture
async def shop(commerce: Commerce) -> Commerce:
    await seed_minimal(commerce)
    await commerce.channels.save({"code": "pos-paris", "name": "Paris till", "kind": "store",
                                  "currency": "EUR", "locations": [{"location": "paris-1"}]})
    return commerce


# -- create, read, list -------------------------------------------------------------------------


async def test_create_and_read_back_every_field(shop: Commerce, clock: FakeClock) -> None:
    created = await shop.promotions.create({
        "name": "Spring sale", "kind": "buy_x_get_y", "buy": 2, "get": 1, "percent": "50",
        "skus": ["TEE-M"], "families": ["tees"], "channels": ["web"], "automatic": False,
        "codes": ["spring24", "Spring-VIP"], "starts_at": "2026-03-01T00:00:00+01:00",
        "ends_at": "2026-04-01T00:00:00Z", "priority": 5, "stackable": False,
        "usage_limit": 1000, "per_customer_limit": 2,
    })
    assert created.id and created.id.startswith("promo_")
    assert created.codes == ["SPRING24", "SPRING-VIP"]
    assert created.created_at == clock.now
    again = await shop.promotions.get(created.id)
    assert again == Promotion(
        name="Spring sale", kind="buy_x_get_y", target="line", percent=Decimal(50), buy=2,
        get=1, skus=["TEE-M"], families=["tees"], channels=["web"], automatic=False,
        codes=["SPRING-VIP", "SPRING24"], starts_at=dt.datetime(2026, 2, 28, 23, tzinfo=dt.UTC),
        ends_at=dt.datetime(2026, 4, 1, tzinfo=dt.UTC), priority=5, stackable=False,
        usage_limit=1000, per_customer_limit=2, id=created.id, created_at=clock.now)
    topic, payload = (await events(shop))[0]
    assert topic == "promotion.created"
    assert payload["name"] == "Spring sale" and "codes" not in payload


async def test_create_refuses_bad_input_naming_the_field(shop: Commerce) -> None:
    cases = [
        ({"name": "x", "kind": "percent_off"}, InvalidInput, "percent"),
        ({"name": "x", "kind": "percent_off", "percent": "120"}, InvalidInput, "percent"),
        ({"name": "x", "kind": "fixed_off", "amounts": {"EUR": "5.001"}}, InvalidInput,
         "amounts.EUR"),
        ({"name": "x", "kind": "fixed_off", "amounts": {"XXY": "5"}}, InvalidInput,
         "amounts.XXY"),
        ({"name": "x", "kind": "free_shipping", "percent": "5"}, InvalidInput, "percent"),
        ({"name": "x", "kind": "percent_off", "percent": "5", "channels": ["web", "mars"]},
         NotFound, "channels[1]"),
        ({"name": "x", "kind": "percent_off", "percent": "5", "codes": ["ok", "no way"]},
         InvalidInput, "codes[1]"),
        ({"name": "x", "kind": "percent_off", "percent": "5", "usage_limit": 0},
         InvalidInput, "usage_limit"),
    ]
    for data, error, field in cases:
        with pytest.raises(error) as caught:
            await shop.promotions.create(data)
        assert caught.value.field == field, data
    assert await shop.promotions.list() == []


async def test_codes_are_unique_across_promotions_all_or_none(shop: Commerce) -> None:
    first = await shop.promotions.create({"name": "a", "kind": "percent_off", "percent": "5",
                                          "codes": ["TAKEN"]})
    with pytest.raises(Conflict) as caught:
        await shop.promotions.create({"name": "b", "kind": "percent_off", "percent": "5",
                                      "codes": ["fresh", "taken"]})
    assert caught.value.field == "codes[1]"
    assert [p.name for p in await shop.promotions.list()] == ["a"]
    assert first.id is not None
    with pytest.raises(Conflict):
        await shop.promotions.add_codes(first.id, ["new-1", "taken"])
    with pytest.raises(InvalidInput) as caught:
        await shop.promotions.add_codes(first.id, ["dup", "DUP"])
    assert caught.value.field == "codes[1]"
    assert await shop.promotions.add_codes(first.id, [" vip-1 ", "vip-2"], usage_limit=1) == [
        "VIP-1", "VIP-2"]
    assert (await shop.promotions.get(first.id)).codes == ["TAKEN", "VIP-1", "VIP-2"]
    with pytest.raises(NotFound):
        await shop.promotions.add_codes("promo_nope", ["X"])
    assert ("promotion.codes_added", {"promotion_id": first.id, "count": 2, "usage_limit": 1}) \
        in await events(shop)


async def test_list_filters_by_instant_and_channel_and_deactivate(shop: Commerce,
                                                                  clock: FakeClock) -> None:
    now = clock.now
    await shop.promotions.create({"name": "always", "kind": "free_shipping", "priority": 2})
    await shop.promotions.create({"name": "later", "kind": "free_shipping",
                                  "starts_at": (now + DAY).isoformat()})
    stores = await shop.promotions.create({"name": "stores", "kind": "free_shipping",
                                           "channels": ["pos-paris"], "priority": 1})
    assert [p.name for p in await shop.promotions.list()] == ["stores", "always", "later"]
    assert [p.name for p in await shop.promotions.list(active_at=now)] == ["stores", "always"]
    assert [p.name for p in await shop.promotions.list(active_at=now + DAY, channel="web")] \
        == ["always", "later"]
    assert stores.id is not None
    off = await shop.promotions.deactivate(stores.id)
    assert off.active is False
    assert [p.name for p in await shop.promotions.list(active_at=now)] == ["always"]
    assert (await events(shop))[-1][0] == "promotion.deactivated"
    with pytest.raises(NotFound) as caught:
        await shop.promotions.get("promo_nope")
    assert caught.value.field == "promotion_id"


# -- applicable and check_code ----------------------------------------------------------------


async def test_applicable_automatic_by_channel_and_date_plus_codes(shop: Commerce,
                                                                   clock: FakeClock) -> None:
    now = clock.now
    await shop.promotions.create({"name": "everywhere", "kind": "percent_off", "percent": "5"})
    await shop.promotions.create({"name": "stores only", "kind": "percent_off", "percent": "5",
                                  "channels": ["pos-paris"]})
    await shop.promotions.create({"name": "next week", "kind": "percent_off", "percent": "5",
                                  "starts_at": (now + 7 * DAY).isoformat()})
    await shop.promotions.create({"name": "by code", "kind": "percent_off", "percent": "5",
                                  "automatic": False, "codes": ["CODE1"]})
    web = await shop.promotions.applicable(channel="web", codes=["code1", "unknown"])
    assert [(p.name, p.codes) for p in web] == [("by code", ["CODE1"]), ("everywhere", [])]
    pos = await shop.promotions.applicable(channel="pos-paris")
    assert sorted(p.name for p in pos) == ["everywhere", "stores only"]
    clock.advance(days=7)
    assert sorted(p.name for p in await shop.promotions.applicable(channel="web")) == [
        "everywhere", "next week"]
    in_the_past = await shop.promotions.applicable(channel="web", now=now - DAY)
    assert sorted(p.name for p in in_the_past) == ["everywhere"]


async def test_check_code_errors_name_discount_codes_and_change_nothing(
    shop: Commerce, clock: FakeClock,
) -> None:
    now = clock.now
    week = await shop.promotions.create({
        "name": "week", "kind": "percent_off", "percent": "10", "automatic": False,
        "codes": ["WEEK"], "starts_at": (now + DAY).isoformat(),
        "ends_at": (now + 8 * DAY).isoformat()})
    await shop.promotions.create({"name": "stores", "kind": "percent_off", "percent": "10",
                                  "automatic": False, "codes": ["STORE"],
                                  "channels": ["pos-paris"]})
    assert week.id is not None

    async def refused(code: str, error: type[Exception], message: str, **kw: Any) -> None:
        with pytest.raises(error) as caught:
            await shop.promotions.check_code(code, channel=kw.pop("channel", "web"), **kw)
        assert caught.value.field == "discount_codes"  # type: ignore[attr-defined]
        assert message in str(caught.value)

    await refused("NOPE", NotFound, "unknown discount code NOPE")
    await refused("no pe", InvalidInput, "not a valid code")
    await refused("week", InvalidInput, "code WEEK is valid from 2026-03-03T09:30:00+00:00")
    await refused("store", InvalidInput, "code STORE is not valid on channel 'web'")
    assert (await shop.promotions.check_code("store", channel="pos-paris")).name == "stores"
    clock.advance(days=1)
    assert (await shop.promotions.check_code(" Week ", channel="web")).codes == ["WEEK"]
    await refused("WEEK", InvalidInput, "code WEEK expired at 2026-03-10T09:30:00+00:00",
                  now=now + 8 * DAY)
    await shop.promotions.deactivate(week.id)
    await refused("WEEK", InvalidInput, "code WEEK is no longer valid")
    assert await state(shop, week.id) == (0, {"WEEK": 0}, 0)


async def test_exhausted_codes_are_conflicts(shop: Commerce) -> None:
    total = await shop.promotions.create({"name": "total", "kind": "percent_off",
                                          "percent": "10", "automatic": False,
                                          "codes": ["TOTAL"], "usage_limit": 1})
    single = await shop.promotions.create({"name": "single", "kind": "percent_off",
                                           "percent": "10", "automatic": False})
    once = await shop.promotions.create({"name": "once", "kind": "percent_off",
                                         "percent": "10", "automatic": False,
                                         "codes": ["ONCE"], "per_customer_limit": 1})
    assert total.id and single.id and once.id
    await shop.promotions.add_codes(single.id, ["SINGLE-1"], usage_limit=1)
    await shop.promotions.redeem([(total.id, "TOTAL")], order_ref="o-1")
    await shop.promotions.redeem([(single.id, "SINGLE-1")], order_ref="o-1")
    await shop.promotions.redeem([(once.id, "ONCE")], order_ref="o-1", customer_id="cus_a")
    for code, customer, message in [
        ("TOTAL", None, "code TOTAL: the promotion has reached its usage limit"),
        ("SINGLE-1", None, "code SINGLE-1 has reached its usage limit"),
        ("ONCE", "cus_a", "code ONCE has already been used by this customer (1 of 1)"),
    ]:
        with pytest.raises(Conflict) as caught:
            await shop.promotions.check_code(code, channel="web", customer_id=customer)
        assert caught.value.field == "discount_codes"
        assert message in caught.value.message
    assert (await shop.promotions.check_code("ONCE", channel="web", customer_id="cus_b")).id \
        == once.id
    with pytest.raises(InvalidInput) as guest:
        await shop.promotions.check_code("ONCE", channel="web")
    assert "sign in" in guest.value.message


# -- redeem ---------------------------------------------------------------------------------------


async def test_redeem_counts_and_is_idempotent_per_order(shop: Commerce, clock: FakeClock) -> None:
    promo = await shop.promotions.create({"name": "p", "kind": "percent_off", "percent": "10",
                                          "automatic": False, "codes": ["P1", "P2"]})
    auto = await shop.promotions.create({"name": "auto", "kind": "free_shipping"})
    assert promo.id and auto.id
    first = await shop.promotions.redeem([(promo.id, "p1"), (auto.id, None)],
                                         order_ref="order-1", customer_id="cus_a")
    assert [(r.promotion_id, r.code, r.order_ref, r.customer_id) for r in first] == [
        (promo.id, "P1", "order-1", "cus_a"), (auto.id, None, "order-1", "cus_a")]
    clock.advance(seconds=30)
    retried = await shop.promotions.redeem([(promo.id, "P1"), (auto.id, None)],
                                           order_ref="order-1", customer_id="cus_a")
    assert retried == first  # the first redemptions, redeemed_at unchanged
    assert await state(shop, promo.id) == (1, {"P1": 1, "P2": 0}, 1)
    assert await state(shop, auto.id) == (1, {}, 1)
    redeemed = [p for t, p in await events(shop) if t == "promotion.redeemed"]
    assert sorted((p["promotion_id"], p["code"] or "", p["times_used"]) for p in redeemed) == \
        sorted([(auto.id, "", 1), (promo.id, "P1", 1)])
    assert await shop.promotions.redemptions("order-1") == sorted(
        first, key=lambda r: r.promotion_id)


async def test_redeem_is_all_or_nothing(shop: Commerce) -> None:
    plenty = await shop.promotions.create({"name": "plenty", "kind": "free_shipping"})
    scarce = await shop.promotions.create({"name": "scarce", "kind": "percent_off",
                                           "percent": "10", "usage_limit": 1})
    assert plenty.id and scarce.id
    await shop.promotions.redeem([(scarce.id, None)], order_ref="order-1")
    with pytest.raises(Conflict) as caught:
        await shop.promotions.redeem([(plenty.id, None), (scarce.id, None)],
                                     order_ref="order-2")
    assert caught.value.field == "discount_codes"
    assert "'scarce' has reached its usage limit" in caught.value.message
    assert await state(shop, plenty.id) == (0, {}, 0)
    assert await state(shop, scarce.id) == (1, {}, 1)


async def test_redeem_enforces_per_customer_limits_and_refuses_bad_input(shop: Commerce) -> None:
    twice = await shop.promotions.create({"name": "twice", "kind": "percent_off",
                                          "percent": "10", "per_customer_limit": 2})
    coded = await shop.promotions.create({"name": "coded", "kind": "percent_off",
                                          "percent": "10", "automatic": False,
                                          "codes": ["MINE"]})
    assert twice.id and coded.id
    for ref in ("o-1", "o-2"):
        await shop.promotions.redeem([(twice.id, None)], order_ref=ref, customer_id="cus_a")
    with pytest.raises(Conflict) as caught:
        await shop.promotions.redeem([(twice.id, None)], order_ref="o-3", customer_id="cus_a")
    assert "already been used by this customer (2 of 2)" in caught.value.message
    await shop.promotions.redeem([(twice.id, None)], order_ref="o-3", customer_id="cus_b")
    with pytest.raises(InvalidInput):
        await shop.promotions.redeem([(twice.id, None)], order_ref="o-4")
    with pytest.raises(NotFound) as missing:
        await shop.promotions.redeem([("promo_nope", None)], order_ref="o-5")
    assert missing.value.field == "discount_codes"
    with pytest.raises(NotFound):
        await shop.promotions.redeem([(coded.id, "NOT-MINE")], order_ref="o-6")
    with pytest.raises(InvalidInput) as ref:
        await shop.promotions.redeem([(coded.id, "MINE")], order_ref=" ")
    assert ref.value.field == "order_ref"
    assert await state(shop, twice.id) == (3, {}, 3)
    assert await state(shop, coded.id) == (0, {"MINE": 0}, 0)


async def test_redeem_refuses_an_ended_promotion(shop: Commerce, clock: FakeClock) -> None:
    flash = await shop.promotions.create({
        "name": "flash", "kind": "percent_off", "percent": "30",
        "ends_at": (clock.now + dt.timedelta(hours=1)).isoformat()})
    assert flash.id
    clock.advance(hours=1)
    with pytest.raises(InvalidInput) as caught:
        await shop.promotions.redeem([(flash.id, None)], order_ref="late")
    assert caught.value.field == "discount_codes"
    assert "promotion 'flash' expired" in caught.value.message

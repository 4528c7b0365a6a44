"""``price_lines``: the pure pricing engine, without a database."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from omnicore.errors import InvalidInput
from omnicore.money import Money
from omnicore.pricing import Adjustment, PricingLine, Promotion, Totals, price_lines
from omnicore.pricing._context import with_adjustments
from omnicore.pricing._engine import allocate

NOW = dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC)


def eur(amount: str) -> Money:
    return Money(amount, "EUR")


def line(key: str, sku: str, quantity: int, price: str, currency: str = "EUR",
         family: str | None = None) -> PricingLine:
    return PricingLine(key, sku, quantity, Money(price, currency), family)


def promo(name: str, kind: str, **fields: Any) -> Promotion:
    return Promotion(name=name, kind=kind, id=f"p-{name}", **fields)


def price(lines: list[PricingLine], promotions: list[Promotion], **kwargs: Any) -> Totals:
    kwargs.setdefault("currency", lines[0].unit_price.currency if lines else "EUR")
    kwargs.setdefault("channel", "web")
    kwargs.setdefault("now", NOW)
    totals = price_lines(lines, promotions, **kwargs)
    assert_consistent(totals)
    return totals


def assert_consistent(totals: Totals) -> None:
    """Σ parts == total, nothing negative, every amount in the cart's currency."""
    minor = 0
    for entry in totals.lines:
        assert entry.total.amount >= 0
        assert entry.subtotal.minor_units + sum(d.amount.minor_units for d in entry.discounts) \
            == entry.total.minor_units
        assert -entry.order_discount_share.minor_units <= entry.total.minor_units
        minor += entry.total.minor_units
    minor += sum(a.amount.minor_units for a in totals.order_discounts)
    minor += totals.shipping.minor_units if totals.shipping else 0
    minor += totals.shipping_discount.minor_units
    minor += sum(a.amount.minor_units for a in totals.adjustments)
    assert minor == totals.total.minor_units
    assert totals.total.amount >= 0
    assert sum(e.order_discount_share.minor_units for e in totals.lines) == sum(
        a.amount.minor_units for a in totals.order_discounts)
    explained = sum(e.amount.minor_units for e in totals.explanations)
    discounts = (sum(d.amount.minor_units for e in totals.lines for d in e.discounts)
                 + sum(a.amount.minor_units for a in totals.order_discounts)
                 + totals.shipping_discount.minor_units)
    assert explained == discounts
    assert {m.currency for m in _amounts(totals)} == {totals.currency}


def _amounts(totals: Totals) -> list[Money]:
    found = [totals.subtotal, totals.total, totals.shipping_discount]
    for entry in totals.lines:
        found += [entry.subtotal, entry.total, entry.unit_price, entry.order_discount_share]
        found += [d.amount for d in entry.discounts]
    return found + [a.amount for a in totals.order_discounts + totals.adjustments]


# -- no promotion ----------------------------------------------------------------------------


def test_without_promotions_the_total_is_the_subtotal_plus_shipping() -> None:
    totals = price([line("a", "TEE-M", 2, "19.90"), line("b", "CAP", 1, "12.00")], [],
                   shipping=eur("4.90"))
    assert [e.total for e in totals.lines] == [eur("39.80"), eur("12.00")]
    assert totals.subtotal == eur("51.80")
    assert totals.total == eur("56.70")
    assert totals.explanations == [] and totals.discount_total == eur("0")


def test_an_empty_cart_costs_nothing() -> None:
    totals = price([], [promo("ten", "percent_off", percent="10", target="order")],
                   currency="EUR")
    assert totals.total == eur("0") and totals.lines == []


# -- each kind -------------------------------------------------------------------------------


def test_percent_off_each_line() -> None:
    totals = price([line("a", "TEE-M", 2, "19.90"), line("b", "CAP", 1, "12.00")],
                   [promo("spring", "percent_off", percent="20")])
    assert [e.total for e in totals.lines] == [eur("31.84"), eur("9.60")]
    assert totals.total == eur("41.44")
    assert [(e.target, e.amount, e.reason) for e in totals.explanations] == [
        ("line:a", eur("-7.96"), "20% off"), ("line:b", eur("-2.40"), "20% off")]
    assert totals.lines[0].discounts == [
        Adjustment("spring", eur("-7.96"), "discount", "p-spring", None)]
    assert totals.discount_total == eur("10.36")


def test_percent_off_restricted_to_skus_or_families() -> None:
    lines = [line("a", "TEE-M", 1, "20.00", family="tees"), line("b", "CAP", 1, "10.00"),
             line("c", "SOCK", 1, "5.00", family="socks")]
    totals = price(lines, [promo("tees", "percent_off", percent="50", skus=["CAP"],
                                 families=["tees"])])
    assert [e.total for e in totals.lines] == [eur("10.00"), eur("5.00"), eur("5.00")]


def test_percent_off_the_order_is_shared_over_the_lines() -> None:
    totals = price([line("a", "TEE-M", 1, "10.00"), line("b", "CAP", 1, "20.00")],
                   [promo("ten", "percent_off", percent="10", target="order")])
    assert totals.order_discounts == [Adjustment("ten", eur("-3.00"), "discount", "p-ten")]
    assert [e.total for e in totals.lines] == [eur("10.00"), eur("20.00")]
    assert [e.order_discount_share for e in totals.lines] == [eur("-1.00"), eur("-2.00")]
    assert totals.total == eur("27.00")
    assert totals.explanations[0].target == "order"
    assert totals.explanations[0].reason == "10% off the order"


def test_fixed_off_per_unit_on_lines_never_below_zero() -> None:
    totals = price([line("a", "TEE-M", 3, "19.90"), line("b", "PIN", 2, "3.00")],
                   [promo("five", "fixed_off", amounts={"EUR": "5.00"})])
    assert [e.total for e in totals.lines] == [eur("44.70"), eur("0.00")]
    assert totals.explanations[0].reason == "5.00 EUR off per unit"
    assert totals.explanations[1].amount == eur("-6.00")


def test_fixed_off_the_order_once_in_the_cart_currency() -> None:
    five = promo("five", "fixed_off", target="order", amounts={"EUR": "5.00", "USD": "6.00"})
    totals = price([line("a", "TEE-M", 3, "19.90")], [five])
    assert totals.total == eur("54.70")
    usd = price([line("a", "TEE-M", 1, "1.50", "USD")], [five])
    assert usd.total == Money("0.00", "USD")  # capped: never negative
    jpy = price([line("a", "TEE-M", 1, "2000", "JPY")], [five])
    assert jpy.total == Money("2000", "JPY")
    assert jpy.not_applied[0].reason == "has no amount in JPY"


def test_buy_two_get_one_free_discounts_the_cheapest_units() -> None:
    lines = [line("a", "TEE-M", 3, "10.00"), line("b", "TEE-L", 1, "5.00"),
             line("c", "CAP", 2, "50.00")]
    b2g1 = promo("b2g1", "buy_x_get_y", buy=2, get=1, skus=["TEE-M", "TEE-L"])
    totals = price(lines, [b2g1])
    # 4 eligible units → one group of 3 → one free unit: the cheapest (5.00)
    assert [e.total for e in totals.lines] == [eur("30.00"), eur("0.00"), eur("100.00")]
    assert totals.explanations[0].reason == "buy 2 get 1 free: 1 unit(s)"
    six = price([line("a", "TEE-M", 4, "10.00"), line("b", "TEE-L", 2, "5.00")], [b2g1])
    assert [e.total for e in six.lines] == [eur("40.00"), eur("0.00")]


def test_buy_one_get_one_at_half_price_and_too_few_units() -> None:
    half = promo("bogo", "buy_x_get_y", buy=1, get=1, percent="50")
    totals = price([line("a", "TEE-M", 1, "20.00"), line("b", "CAP", 1, "9.99")], [half])
    assert [e.total for e in totals.lines] == [eur("20.00"), eur("4.99")]  # 4.995 → 5.00 off
    assert totals.explanations[0].reason == "buy 1 get 1 at 50% off: 1 unit(s)"
    alone = price([line("a", "TEE-M", 1, "20.00")], [half])
    assert alone.total == eur("20.00")
    assert alone.not_applied[0].reason == "add 1 more eligible unit(s) to buy 1 and get 1"


def test_spend_threshold() -> None:
    spend = promo("spend50", "spend_threshold", thresholds={"EUR": "50.00"}, percent="10")
    below = price([line("a", "TEE-M", 2, "19.90")], [spend])
    assert below.total == eur("39.80")
    assert below.not_applied[0].reason == "spend at least 50.00 EUR (10.20 EUR more)"
    above = price([line("a", "TEE-M", 3, "19.90")], [spend])
    assert above.order_discounts[0].amount == eur("-5.97")
    assert above.explanations[0].reason == (
        "spent 59.70 EUR (at least 50.00 EUR): 10% off the order")
    fixed = promo("tenoff", "spend_threshold", thresholds={"EUR": "50.00"},
                  amounts={"EUR": "10.00"})
    assert price([line("a", "TEE-M", 3, "19.90")], [fixed]).total == eur("49.70")


def test_free_shipping_above_a_threshold() -> None:
    free = promo("ship", "free_shipping", thresholds={"EUR": "50.00"})
    above = price([line("a", "TEE-M", 3, "19.90")], [free], shipping=eur("4.90"))
    assert above.shipping_discount == eur("-4.90")
    assert above.total == eur("59.70")
    assert above.explanations[0].target == "shipping"
    below = price([line("a", "TEE-M", 1, "19.90")], [free], shipping=eur("4.90"))
    assert below.total == eur("24.80")
    no_shipping = price([line("a", "TEE-M", 3, "19.90")], [free])
    assert no_shipping.not_applied[0].reason == "no shipping to discount"


# -- stacking and priority ---------------------------------------------------------------------


def test_stackable_promotions_compound_in_priority_order() -> None:
    first = promo("twenty", "percent_off", percent="20", priority=1)
    second = promo("ten", "percent_off", percent="10", priority=2)
    totals = price([line("a", "TEE-M", 1, "100.00")], [second, first])
    assert totals.total == eur("72.00")  # 100 - 20 % = 80, - 10 % = 72
    assert [e.name for e in totals.explanations] == ["twenty", "ten"]


def test_a_non_stackable_promotion_excludes_lower_priority_ones_on_its_targets() -> None:
    vip = promo("vip", "percent_off", percent="30", priority=10, stackable=False, skus=["TEE-M"])
    sale = promo("sale", "percent_off", percent="10", priority=20)
    order = promo("order", "fixed_off", target="order", amounts={"EUR": "1.00"}, priority=30)
    totals = price([line("a", "TEE-M", 1, "100.00"), line("b", "CAP", 1, "10.00")],
                   [sale, vip, order])
    assert [e.total for e in totals.lines] == [eur("70.00"), eur("9.00")]
    assert totals.order_discounts[0].amount == eur("-1.00")  # another target: unaffected
    assert totals.total == eur("78.00")
    # on a line only the non-stackable one touched, nothing was excluded
    only_tees = price([line("a", "TEE-M", 1, "100.00")], [sale, vip])
    assert only_tees.not_applied[0].reason == "excluded by non-stackable promotion 'vip'"


def test_a_non_stackable_promotion_keeps_higher_priority_ones() -> None:
    early = promo("early", "percent_off", percent="10", priority=1)
    exclusive = promo("exclusive", "percent_off", percent="50", priority=5, stackable=False)
    late = promo("late", "percent_off", percent="50", priority=9)
    totals = price([line("a", "TEE-M", 1, "100.00")], [late, exclusive, early])
    assert totals.total == eur("45.00")
    assert [e.name for e in totals.explanations] == ["early", "exclusive"]


def test_non_stackable_order_and_shipping_promotions() -> None:
    big = promo("big", "percent_off", target="order", percent="20", priority=1,
                stackable=False)
    small = promo("small", "fixed_off", target="order", amounts={"EUR": "5.00"}, priority=2)
    ship = promo("ship", "free_shipping", stackable=False)
    ship_too = promo("ship-too", "free_shipping", priority=200)
    totals = price([line("a", "TEE-M", 1, "100.00")], [small, big, ship, ship_too],
                   shipping=eur("5.00"))
    assert totals.total == eur("80.00")
    reasons = {e.name: e.reason for e in totals.not_applied}
    assert reasons == {"small": "excluded by non-stackable promotion 'big'",
                       "ship-too": "excluded by non-stackable promotion 'ship'"}


def test_line_promotions_apply_before_order_promotions_whatever_the_priority() -> None:
    order = promo("order", "fixed_off", target="order", amounts={"EUR": "10.00"}, priority=1)
    lines_ = promo("half", "percent_off", percent="50", priority=50)
    totals = price([line("a", "TEE-M", 1, "10.00")], [order, lines_])
    assert totals.lines[0].total == eur("5.00")
    assert totals.order_discounts[0].amount == eur("-5.00")  # capped at what is left
    assert totals.total == eur("0.00")


def test_equal_priorities_apply_by_name_and_input_order_does_not_matter() -> None:
    a = promo("a", "percent_off", percent="10", stackable=False)
    b = promo("b", "percent_off", percent="50")
    one = price([line("x", "TEE-M", 1, "10.00")], [a, b])
    other = price([line("x", "TEE-M", 1, "10.00")], [b, a])
    assert one == other
    assert one.total == eur("9.00")


# -- when, where, how often -------------------------------------------------------------------


def test_date_window_is_inclusive_at_the_start_and_exclusive_at_the_end() -> None:
    window = {"starts_at": NOW, "ends_at": NOW + dt.timedelta(days=7)}
    sale = promo("sale", "percent_off", percent="10", **window)
    lines = [line("a", "TEE-M", 1, "10.00")]
    assert price(lines, [sale], now=NOW).total == eur("9.00")
    before = price(lines, [sale], now=NOW - dt.timedelta(seconds=1))
    assert before.total == eur("10.00")
    assert before.not_applied[0].reason.startswith("starts at 2026-03-02T09:30:00")
    after = price(lines, [sale], now=NOW + dt.timedelta(days=7))
    assert after.not_applied[0].reason.startswith("ended at 2026-03-09T09:30:00")


def test_channels_restrict_a_promotion_none_means_everywhere() -> None:
    stores = promo("stores", "percent_off", percent="10", channels=["pos-paris", "pos-lyon"])
    everywhere = promo("all", "percent_off", percent="10")
    lines = [line("a", "TEE-M", 1, "100.00")]
    web = price(lines, [stores, everywhere], channel="web")
    assert web.total == eur("90.00")
    assert web.not_applied[0].reason == "not valid on channel 'web'"
    assert price(lines, [stores, everywhere], channel="pos-paris").total == eur("81.00")


def test_codes_unlock_promotions_case_insensitively() -> None:
    coded = promo("coded", "percent_off", percent="10", automatic=False,
                  codes=["summer10", "SUMMER-VIP"])
    lines = [line("a", "TEE-M", 1, "100.00")]
    assert price(lines, [coded]).total == eur("100.00")  # no code: nothing, and no noise
    assert price(lines, [coded]).not_applied == []
    totals = price(lines, [coded], codes=[" Summer10 ", "NOPE", "bad code!"])
    assert totals.total == eur("90.00")
    assert totals.explanations[0].code == "SUMMER10"
    assert totals.applied_promotions == [("p-coded", "SUMMER10")]
    assert [(c.code, c.applied, c.reason) for c in totals.codes] == [
        ("SUMMER10", True, "applied"), ("NOPE", False, "unknown code"),
        ("bad code!", False, "is not a valid code")]
    both = price(lines, [coded], codes=["SUMMER10", "SUMMER-VIP"])
    assert both.total == eur("90.00")
    assert both.codes[1].reason == "the promotion is already applied with code SUMMER10"


def test_a_code_that_gives_nothing_says_why() -> None:
    spend = promo("spend", "spend_threshold", automatic=False, codes=["BIG"],
                  thresholds={"EUR": "100.00"}, amounts={"EUR": "10.00"})
    totals = price([line("a", "TEE-M", 1, "19.90")], [spend], codes=["big"])
    assert totals.codes[0].applied is False
    assert totals.codes[0].reason == "spend at least 100.00 EUR (80.10 EUR more)"


def test_exhausted_and_per_customer_promotions() -> None:
    used_up = promo("used", "percent_off", percent="10", usage_limit=5, times_used=5)
    per_customer = promo("once", "percent_off", percent="10", per_customer_limit=1)
    inactive = promo("off", "percent_off", percent="10", active=False)
    lines = [line("a", "TEE-M", 1, "100.00")]
    guest = price(lines, [used_up, per_customer, inactive])
    assert guest.total == eur("100.00")
    assert {e.name: e.reason for e in guest.not_applied} == {
        "used": "usage limit reached",
        "once": "limited per customer: the customer must be known",
        "off": "deactivated"}
    assert price(lines, [per_customer], customer_id="cus_1").total == eur("90.00")


# -- rounding ----------------------------------------------------------------------------------


def test_awkward_roundings_add_up_exactly() -> None:
    # 3 x 0.10 EUR with 33 % off: 0.099 rounds to 0.10
    assert price([line("a", "X", 3, "0.10")],
                 [promo("a", "percent_off", percent="33")]).total == eur("0.20")
    thirds = price([line("a", "X", 1, "0.01"), line("b", "Y", 1, "0.01"),
                    line("c", "Z", 1, "0.01")],
                   [promo("o", "percent_off", target="order", percent="33.34")])
    assert thirds.order_discounts[0].amount == eur("-0.01")
    assert sorted(e.order_discount_share for e in thirds.lines) == [
        eur("-0.01"), eur("0.00"), eur("0.00")]
    jpy = price([line("a", "X", 3, "333", "JPY"), line("b", "Y", 1, "1", "JPY")],
                [promo("o", "percent_off", target="order", percent="10")])
    assert jpy.total == Money("900", "JPY")
    kwd = price([line("a", "X", 7, "1.333", "KWD")], [promo("l", "percent_off", percent="15")])
    assert kwd.total == Money("7.931", "KWD")


def test_allocate_is_exact_and_bounded() -> None:
    assert allocate(100, [1, 1, 1]) == [34, 33, 33]
    assert allocate(3, [0, 5, 0]) == [0, 3, 0]
    assert allocate(0, [0]) == [0]


# -- input errors ------------------------------------------------------------------------------


def test_bad_inputs_name_the_field() -> None:
    with pytest.raises(InvalidInput) as caught:
        price_lines([line("a", "X", 1, "1.00"), line("b", "Y", 1, "1.00", "USD")], [],
                    currency="EUR", channel="web", now=NOW)
    assert caught.value.field == "lines[1].unit_price"
    with pytest.raises(InvalidInput) as caught:
        price_lines([line("a", "X", 1, "1.00"), line("a", "Y", 1, "1.00")], [],
                    currency="EUR", channel="web", now=NOW)
    assert caught.value.field == "lines[1].key"
    with pytest.raises(InvalidInput) as caught:
        price_lines([], [], currency="EUR", channel="web", now=NOW, shipping=eur("-1"))
    assert caught.value.field == "shipping"
    with pytest.raises(InvalidInput) as caught:
        PricingLine("a", "X", 0, eur("1.00"))
    assert caught.value.field == "quantity"


def test_with_adjustments_adds_signed_amounts_and_refuses_a_negative_total() -> None:
    totals = price([line("a", "X", 1, "10.00")], [])
    taxed = with_adjustments(totals, [Adjustment("VAT", eur("2.00"), "tax")])
    assert taxed.total == eur("12.00")
    assert_consistent(taxed)
    with pytest.raises(InvalidInput):
        with_adjustments(totals, [Adjustment("rebate", eur("-10.01"))])
    with pytest.raises(InvalidInput):
        with_adjustments(totals, [Adjustment("fee", Money("1", "USD"))])


def test_pricing_is_deterministic() -> None:
    lines = [line(str(i), f"SKU-{i}", i % 4 + 1, f"{i}.99") for i in range(20)]
    promotions = [promo("a", "percent_off", percent="12.5"),
                  promo("b", "buy_x_get_y", buy=2, get=1),
                  promo("c", "spend_threshold", thresholds={"EUR": "20"}, percent="5")]
    assert price(lines, promotions) == price(lines, list(reversed(promotions)))


# -- property: the parts always add up ---------------------------------------------------------

CURRENCIES = {"EUR": 2, "JPY": 0, "KWD": 3}


@st.composite
def carts(draw: st.DrawFn) -> tuple[str, list[PricingLine], list[Promotion], Money | None]:
    currency = draw(st.sampled_from(sorted(CURRENCIES)))
    scale = 10 ** CURRENCIES[currency]
    count = draw(st.integers(0, 6))
    lines = [
        PricingLine(f"l{i}", draw(st.sampled_from(["A", "B", "C", "D"])),
                    draw(st.integers(1, 5)),
                    Money.from_minor_units(draw(st.integers(0, 50 * scale)), currency),
                    draw(st.sampled_from([None, "tees", "caps"])))
        for i in range(count)
    ]
    percent = st.decimals(min_value=Decimal("0.01"), max_value=100, places=2)
    amount = st.integers(1, 60 * scale).map(lambda m: {currency: Decimal(m) / scale})
    common = {"priority": st.integers(0, 3), "stackable": st.booleans(),
              "skus": st.sampled_from([None, ["A"], ["B", "C"]])}
    kinds = [
        st.builds(Promotion, name=st.just("p"), kind=st.just("percent_off"), percent=percent,
                  target=st.sampled_from(["line", "order"]), **common),
        st.builds(Promotion, name=st.just("f"), kind=st.just("fixed_off"), amounts=amount,
                  target=st.sampled_from(["line", "order"]), **common),
        st.builds(Promotion, name=st.just("b"), kind=st.just("buy_x_get_y"),
                  buy=st.integers(1, 3), get=st.integers(1, 2),
                  percent=st.one_of(st.none(), percent), **common),
        st.builds(Promotion, name=st.just("s"), kind=st.just("spend_threshold"),
                  thresholds=amount, percent=percent, **common),
        st.builds(Promotion, name=st.just("z"), kind=st.just("free_shipping"),
                  thresholds=st.one_of(st.none(), amount), **common),
    ]
    promotions = draw(st.lists(st.one_of(kinds), max_size=6))
    promotions = [attrs.evolve(p, id=f"{p.name}{i}") for i, p in enumerate(promotions)]
    shipping = draw(st.one_of(st.none(), st.integers(0, 10 * scale).map(
        lambda m: Money.from_minor_units(m, currency))))
    return currency, lines, promotions, shipping


@settings(max_examples=200, deadline=None)
@given(carts())
def test_the_parts_always_add_up_to_the_total(
    cart: tuple[str, list[PricingLine], list[Promotion], Money | None],
) -> None:
    currency, lines, promotions, shipping = cart
    totals = price(lines, promotions, currency=currency, shipping=shipping)
    assert totals.total <= totals.subtotal + (shipping or Money.zero(currency))
    assert totals.discount_total.amount >= 0

"""Money: Decimal amounts quantised to the currency's minor unit, never floats."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from omnicore import InvalidInput, Money
from omnicore.money import currency_exponent, validate_currency


@pytest.mark.parametrize(
    ("currency", "exponent"), [("EUR", 2), ("USD", 2), ("JPY", 0), ("KWD", 3), ("BHD", 3)]
)
def test_exponent_comes_from_cldr(currency: str, exponent: int) -> None:
    assert currency_exponent(currency) == exponent


@pytest.mark.parametrize(
    ("raw", "currency", "expected"),
    [
        ("19.994", "EUR", "19.99"),
        ("19.995", "EUR", "20.00"),  # half-up, not banker's rounding
        ("0.125", "EUR", "0.13"),
        ("0.005", "EUR", "0.01"),
        ("-0.125", "EUR", "-0.13"),  # half away from zero for refunds too
        ("2.5", "JPY", "3"),  # banker's rounding would give 2
        ("1.4", "JPY", "1"),
        ("1500", "JPY", "1500"),
        ("1.2345", "KWD", "1.235"),
        ("1.2344", "KWD", "1.234"),
        ("7", "KWD", "7.000"),
    ],
)
def test_amounts_round_half_up_to_minor_unit(raw: str, currency: str, expected: str) -> None:
    money = Money(raw, currency)
    assert money.amount == Decimal(expected)
    assert str(money.amount) == expected  # the exponent itself is the currency's
    assert money.currency == currency


def test_int_and_decimal_amounts_accepted() -> None:
    assert Money(3, "EUR").amount == Decimal("3.00")
    assert Money(Decimal("3.456"), "EUR").amount == Decimal("3.46")


@pytest.mark.parametrize("amount", [19.99, 0.0, 1e3])
def test_float_refused(amount: float) -> None:
    with pytest.raises(InvalidInput) as info:
        Money(amount, "EUR")  # type: ignore[arg-type]
    assert info.value.field == "amount"
    assert "float" in info.value.message


@pytest.mark.parametrize("amount", [True, "abc", "NaN", "Infinity", None, [1]])
def test_non_numbers_refused(amount: object) -> None:
    with pytest.raises(InvalidInput) as info:
        Money(amount, "EUR")  # type: ignore[arg-type]
    assert info.value.field == "amount"


def test_float_factor_refused() -> None:
    with pytest.raises(InvalidInput) as info:
        Money("1.00", "EUR") * 1.5  # type: ignore[operator]
    assert info.value.field == "factor"


@pytest.mark.parametrize("currency", ["XYZ", "eur", "EURO", "", None, 978])
def test_unknown_currency_refused_with_field(currency: object) -> None:
    with pytest.raises(InvalidInput) as info:
        Money("1.00", currency)  # type: ignore[arg-type]
    assert info.value.field == "currency"
    assert info.value.code == "invalid_input"
    with pytest.raises(InvalidInput) as info:
        validate_currency(currency, "prices[2].currency")
    assert info.value.field == "prices[2].currency"


def test_arithmetic_in_one_currency() -> None:
    a, b = Money("10.10", "EUR"), Money("0.95", "EUR")
    assert a + b == Money("11.05", "EUR")
    assert a - b == Money("9.15", "EUR")
    assert -a == Money("-10.10", "EUR")
    assert Money("0.333", "EUR") * 3 == Money("0.99", "EUR")  # quantised before multiplying
    assert 3 * Money("1.10", "EUR") == Money("3.30", "EUR")
    assert Money("19.99", "EUR") * Decimal("0.5") == Money("10.00", "EUR")  # 9.995 half-up
    assert a > b and b < a and a >= a and b <= a
    assert not Money.zero("EUR") and Money("0.01", "EUR")
    assert Money.zero("JPY").amount == Decimal("0")


@pytest.mark.parametrize(
    "operation",
    [
        lambda a, b: a + b,
        lambda a, b: a - b,
        lambda a, b: a < b,
        lambda a, b: a <= b,
        lambda a, b: a > b,
        lambda a, b: a >= b,
    ],
)
def test_cross_currency_raises(operation: object) -> None:
    with pytest.raises(InvalidInput) as info:
        operation(Money("1.00", "EUR"), Money("1.00", "USD"))  # type: ignore[operator]
    assert info.value.field == "currency"


def test_different_currencies_are_not_equal() -> None:
    assert Money("1.00", "EUR") != Money("1.00", "USD")
    assert Money("1", "EUR") == Money("1.00", "EUR")
    assert hash(Money("1", "EUR")) == hash(Money("1.00", "EUR"))


def test_combining_with_non_money_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        Money("1.00", "EUR") + 1  # type: ignore[operator]


@pytest.mark.parametrize(
    ("money", "units"),
    [
        (Money("19.99", "EUR"), 1999),
        (Money("-0.05", "EUR"), -5),
        (Money("1500", "JPY"), 1500),
        (Money("1.235", "KWD"), 1235),
        (Money("0", "KWD"), 0),
    ],
)
def test_minor_units(money: Money, units: int) -> None:
    assert money.minor_units == units
    assert Money.from_minor_units(units, money.currency) == money


@given(
    units=st.integers(min_value=-(10**15), max_value=10**15),
    currency=st.sampled_from(["EUR", "USD", "JPY", "KWD", "BHD", "CLP"]),
)
def test_minor_units_round_trip(units: int, currency: str) -> None:
    money = Money.from_minor_units(units, currency)
    assert money.minor_units == units
    assert money.amount.as_tuple().exponent == -currency_exponent(currency)


@given(st.decimals(allow_nan=False, allow_infinity=False, places=6,
                   min_value=-(10**9), max_value=10**9))
def test_quantised_amount_is_within_half_a_minor_unit(value: Decimal) -> None:
    money = Money(value, "EUR")
    assert abs(money.amount - value) <= Decimal("0.005")
    assert Money(money.amount, "EUR") == money  # idempotent


def test_repr_str_and_json() -> None:
    money = Money("19.999", "EUR")
    assert repr(money) == "Money('20.00', 'EUR')"
    assert str(money) == "20.00 EUR"
    assert money.to_json() == {"amount": "20.00", "currency": "EUR"}

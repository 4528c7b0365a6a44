"""Money: a ``Decimal`` amount in an ISO 4217 currency, never a float.

Amounts are quantised to the currency's minor unit as published by the Unicode
CLDR (through babel): EUR has 2 decimals, JPY 0, KWD 3. Rounding is half-up,
the rule shoppers and tills expect. Arithmetic between two currencies raises
``InvalidInput``.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import cache
from typing import Any

import attrs

from omnicore.errors import InvalidInput

__all__ = ["Money", "currency_exponent", "validate_currency"]


@cache
def _known_currencies() -> frozenset[str]:
    from babel.numbers import list_currencies

    return frozenset(list_currencies())


@cache
def currency_exponent(currency: str) -> int:
    """Number of decimals of the currency's minor unit (EUR 2, JPY 0, KWD 3)."""
    from babel.numbers import get_currency_precision

    return int(get_currency_precision(validate_currency(currency)))


def validate_currency(currency: object, field: str = "currency") -> str:
    """Return ``currency`` if it is an ISO 4217 code, else raise ``InvalidInput``."""
    if not isinstance(currency, str) or currency not in _known_currencies():
        raise InvalidInput(f"{currency!r} is not an ISO 4217 currency code", field=field)
    return currency


def _to_decimal(value: object, field: str) -> Decimal:
    if isinstance(value, (bool, float)):
        raise InvalidInput("amounts must be Decimal, int or str, never float", field=field)
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int | str):
        try:
            result = Decimal(value)
        except InvalidOperation:
            raise InvalidInput(f"{value!r} is not a number", field=field) from None
    else:
        raise InvalidInput(f"{type(value).__name__} is not an amount", field=field)
    if not result.is_finite():
        raise InvalidInput("amount must be finite", field=field)
    return result


def _quantise(amount: Decimal, currency: str) -> Decimal:
    exponent = currency_exponent(currency)
    return amount.quantize(Decimal(1).scaleb(-exponent), rounding=ROUND_HALF_UP)


@attrs.frozen(order=False, init=False)
class Money:
    """An amount of one currency, quantised to its minor unit.

    >>> Money("19.999", "EUR")
    Money('20.00', 'EUR')
    """

    amount: Decimal
    currency: str

    def __init__(self, amount: Decimal | int | str, currency: str) -> None:
        validate_currency(currency)
        self.__attrs_init__(_quantise(_to_decimal(amount, "amount"), currency), currency)  # type: ignore[attr-defined]

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(0, currency)

    @property
    def minor_units(self) -> int:
        """The amount in the currency's minor unit (cents for EUR), as providers want it."""
        return int(self.amount.scaleb(currency_exponent(self.currency)))

    @classmethod
    def from_minor_units(cls, units: int, currency: str) -> Money:
        return cls(Decimal(units).scaleb(-currency_exponent(currency)), currency)

    def _same(self, other: object) -> Money:
        if not isinstance(other, Money):
            raise TypeError(f"cannot combine Money with {type(other).__name__}")
        if other.currency != self.currency:
            raise InvalidInput(
                f"cannot combine {self.currency} with {other.currency}", field="currency"
            )
        return other

    def __add__(self, other: Money) -> Money:
        return Money(self.amount + self._same(other).amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        return Money(self.amount - self._same(other).amount, self.currency)

    def __mul__(self, factor: int | Decimal) -> Money:
        return Money(self.amount * _to_decimal(factor, "factor"), self.currency)

    __rmul__ = __mul__

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def __lt__(self, other: Money) -> bool:
        return self.amount < self._same(other).amount

    def __le__(self, other: Money) -> bool:
        return self.amount <= self._same(other).amount

    def __gt__(self, other: Money) -> bool:
        return self.amount > self._same(other).amount

    def __ge__(self, other: Money) -> bool:
        return self.amount >= self._same(other).amount

    def __bool__(self) -> bool:
        return bool(self.amount)

    def __repr__(self) -> str:
        return f"Money({str(self.amount)!r}, {self.currency!r})"

    def __str__(self) -> str:
        return f"{self.amount} {self.currency}"

    def to_json(self) -> dict[str, Any]:
        return {"amount": str(self.amount), "currency": self.currency}

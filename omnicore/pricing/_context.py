"""Pricing: lines, prices and promotions in, ``Totals`` out — a pure function.

``price_lines`` does no I/O and reads no clock: the same lines, prices,
promotions, codes and ``now`` always give the same ``Totals``. Amounts are
``Money`` (computed in integer minor units inside), never floats, never
negative, and the parts add up to the total exactly::

    total == Σ line.total + Σ order_discounts + shipping + shipping_discount + Σ adjustments

Every ``Adjustment`` amount is **signed**: what it adds to the total (a
discount is negative, a tax positive). ``commerce.pricing.price`` loads prices
and promotions and lets plugins add adjustments (``calculate_adjustments``);
``validate`` asks plugins to veto a cart (``validate_cart``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from omnicore import validators
from omnicore.errors import InvalidInput
from omnicore.money import Money, validate_currency
from omnicore.pricing._rules import Promotion, normalise_code

if TYPE_CHECKING:
    from omnicore.commerce import Commerce

__all__ = [
    "Adjustment",
    "CodeStatus",
    "Explanation",
    "LineTotal",
    "PricingContext",
    "PricingLine",
    "Totals",
    "price_lines",
    "validate",
    "with_adjustments",
]


def _not_negative(_: object, attribute: attrs.Attribute[Any], value: Money) -> None:
    if value.amount < 0:
        raise InvalidInput("must not be negative", field=attribute.name)


@attrs.frozen
class PricingLine:
    """One line to price: ``key`` identifies it in the result (a cart line id)."""

    key: str = attrs.field(validator=validators.non_empty)
    sku: str = attrs.field(validator=validators.sku)
    quantity: int = attrs.field(validator=validators.positive)
    unit_price: Money = attrs.field(validator=_not_negative)
    product_family: str | None = None


@attrs.frozen
class Adjustment:
    """A change to the total: a promotion's discount (negative), a plugin's tax or fee.

    ``amount`` is signed: what it adds to the total. ``kind`` is ``"discount"``
    for promotions; plugins choose theirs (``"tax"``, ``"fee"`` …). ``source`` is
    set by the host to the name of the plugin that returned it.
    """

    label: str
    amount: Money
    kind: str = "adjustment"
    promotion_id: str | None = None
    code: str | None = None
    source: str | None = None


@attrs.frozen
class Explanation:
    """Which promotion did what: ``target`` is ``"line:<key>"``, ``"order"`` or ``"shipping"``.

    ``amount`` is signed like an adjustment (a discount is negative); it is zero
    in ``Totals.not_applied``, where ``reason`` says why the promotion gave nothing.
    """

    promotion_id: str | None
    name: str
    code: str | None
    target: str
    amount: Money
    reason: str


@attrs.frozen
class LineTotal:
    """A priced line. ``total = subtotal + Σ discounts`` (discounts are negative).

    ``order_discount_share`` is this line's part of the order discounts
    (negative or zero), for refunds and tax bases; it is *not* in ``total``.
    """

    key: str
    sku: str
    quantity: int
    unit_price: Money
    subtotal: Money
    discounts: list[Adjustment]
    total: Money
    order_discount_share: Money


@attrs.frozen
class CodeStatus:
    """What became of one discount code that was given."""

    code: str
    applied: bool
    promotion_id: str | None
    reason: str


@attrs.frozen
class Totals:
    """The priced cart. ``total`` is the exact sum of the parts (see the module doc)."""

    currency: str
    lines: list[LineTotal]
    subtotal: Money
    order_discounts: list[Adjustment]
    shipping: Money | None
    shipping_discount: Money
    adjustments: list[Adjustment]
    total: Money
    explanations: list[Explanation]
    not_applied: list[Explanation] = attrs.field(factory=list)
    codes: list[CodeStatus] = attrs.field(factory=list)

    @property
    def discount_total(self) -> Money:
        """What the promotions took off, as a positive amount ("you save")."""
        saved = sum((e.amount.minor_units for e in self.explanations), 0)
        return Money.from_minor_units(-saved, self.currency)

    @property
    def applied_promotions(self) -> list[tuple[str, str | None]]:
        """``(promotion_id, code)`` of each promotion that gave something: what to ``redeem``."""
        seen: dict[str, str | None] = {}
        for explanation in self.explanations:
            if explanation.promotion_id is not None:
                seen.setdefault(explanation.promotion_id, explanation.code)
        return list(seen.items())


@attrs.frozen
class PricingContext:
    """What a cart was priced for: passed to ``calculate_adjustments``."""

    channel: str
    currency: str
    lines: list[PricingLine]
    codes: list[str]
    customer_id: str | None
    shipping: Money | None
    now: dt.datetime


def price_lines(
    lines: Sequence[PricingLine],
    promotions: Iterable[Promotion],
    *,
    currency: str,
    codes: Iterable[str] = (),
    channel: str,
    customer_id: str | None = None,
    shipping: Money | None = None,
    now: dt.datetime,
) -> Totals:
    """Price ``lines`` in ``currency`` on ``channel`` at ``now`` with ``promotions``.

    Promotions that are automatic, or unlocked by one of ``codes``, apply when
    live at ``now``, sold on ``channel`` and not exhausted: line promotions
    first, then order promotions, then shipping; within each, by ``priority``
    (lower first), then name. A non-stackable promotion stops lower-priority
    promotions on each target it discounted. Raises ``InvalidInput`` naming
    ``lines[i].…`` or ``shipping`` for a bad input.
    """
    validate_currency(currency)
    seen: set[str] = set()
    for index, line in enumerate(lines):
        if line.unit_price.currency != currency:
            raise InvalidInput(f"must be in {currency}", field=f"lines[{index}].unit_price")
        if line.key in seen:
            raise InvalidInput(f"key {line.key!r} is used twice", field=f"lines[{index}].key")
        seen.add(line.key)
    if shipping is not None and (shipping.currency != currency or shipping.amount < 0):
        raise InvalidInput(f"must be an amount of at least 0 in {currency}", field="shipping")
    from omnicore.pricing._engine import Engine  # it builds the models of this module

    entered, malformed = _entered_codes(codes)
    engine = Engine(lines, currency=currency, channel=channel, customer_id=customer_id,
                    shipping=shipping, now=now, codes=entered)
    engine.run(promotions)
    result = engine.result()
    statuses = engine.code_statuses() + [
        CodeStatus(code, False, None, "is not a valid code") for code in malformed
    ]
    return attrs.evolve(result, codes=statuses)


def _entered_codes(codes: Iterable[str]) -> tuple[list[str], list[str]]:
    entered: list[str] = []
    malformed: list[str] = []
    for code in codes:
        try:
            normal = normalise_code(code)
        except InvalidInput:
            malformed.append(str(code))
            continue
        if normal not in entered:
            entered.append(normal)
    return entered, malformed


def with_adjustments(totals: Totals, adjustments: Sequence[Adjustment]) -> Totals:
    """``totals`` with ``adjustments`` appended and added to the total.

    Raises ``InvalidInput`` (field ``adjustments``) for an amount in another
    currency, or when the total would become negative.
    """
    if not adjustments:
        return totals
    added = 0
    for adjustment in adjustments:
        if not isinstance(adjustment, Adjustment):
            raise InvalidInput(f"{type(adjustment).__name__} is not an Adjustment",
                               field="adjustments")
        if adjustment.amount.currency != totals.currency:
            raise InvalidInput(f"must be in {totals.currency}", field="adjustments")
        added += adjustment.amount.minor_units
    total = totals.total.minor_units + added
    if total < 0:
        raise InvalidInput("would make the total negative", field="adjustments")
    return attrs.evolve(
        totals,
        adjustments=[*totals.adjustments, *adjustments],
        total=Money.from_minor_units(total, totals.currency),
    )


async def validate(commerce: Commerce, cart: Any) -> None:
    """Ask every plugin's ``validate_cart`` about ``cart``; raise if any objects.

    Raises ``InvalidInput`` whose ``problems`` hold every problem of every
    plugin, each message prefixed with ``plugin '<name>': ``. A plugin that
    returns something other than ``Problem`` objects raises ``PluginError``.
    """
    found = await commerce.plugins.validate_cart(commerce=commerce, cart=cart)
    if found:
        message = "; ".join(p.message for p in found)
        raise InvalidInput(message, field=found[0].field, problems=found)

"""The inside of ``price_lines``: applying promotions to lines, order and shipping.

Everything is computed in integer minor units (cents for EUR, yen for JPY), so
the parts add up exactly; ``Money`` is built once at the end. Percentages are
rounded half-up per line (or per order discount), and an order discount is
split over the eligible lines by the largest-remainder method, so the shares
add up to it exactly and no line gets more than it has left.

Order of work: line promotions (``percent_off`` / ``fixed_off`` on lines,
``buy_x_get_y``), then order promotions, then ``free_shipping``; within each
phase by ``priority`` (lower first), name, id. Each promotion applies to what
is left after the ones before it. A promotion that is not stackable *locks*
each target it discounted (a line, the order, shipping): lower-priority
promotions skip a locked target.
"""

from __future__ import annotations

import datetime as dt
import heapq
from collections.abc import Iterable, Sequence
from decimal import ROUND_HALF_UP, Decimal

from omnicore.money import Money, currency_exponent
from omnicore.pricing._context import (
    Adjustment,
    CodeStatus,
    Explanation,
    LineTotal,
    PricingLine,
    Totals,
)
from omnicore.pricing._rules import Promotion, PromotionKind, Target

__all__ = ["Engine"]

_PHASE = {Target.LINE: 0, Target.ORDER: 1, Target.SHIPPING: 2}
_HUNDRED = Decimal(100)


def percent_of(minor: int, percent: Decimal) -> int:
    """``percent`` % of ``minor`` units, rounded half-up to a whole unit."""
    return int((minor * percent / _HUNDRED).to_integral_value(rounding=ROUND_HALF_UP))


def allocate(amount: int, weights: Sequence[int]) -> list[int]:
    """Split ``amount`` in proportion to ``weights`` (largest remainder); Σ == amount.

    With ``0 <= amount <= Σ weights`` no share exceeds its weight.
    """
    total = sum(weights)
    if total <= 0:
        return [0] * len(weights)
    shares = [amount * w // total for w in weights]
    left = amount - sum(shares)
    if left:
        remainders = [amount * w % total for w in weights]
        # nlargest keeps the first of equal remainders: ties go to the earlier line
        for index in heapq.nlargest(left, range(len(weights)), key=remainders.__getitem__):
            shares[index] += 1
    return shares


def _exact_money(minor: int, currency: str, exponent: int) -> Money:
    """``Money.from_minor_units`` without re-validating: whole minor units are exact."""
    value = object.__new__(Money)
    value.__attrs_init__(Decimal(minor).scaleb(-exponent), currency)  # type: ignore[attr-defined]
    return value


def _pct(percent: Decimal) -> str:
    return format(percent.normalize(), "f")


class _Line:
    __slots__ = ("discounts", "line", "locked_by", "order_share", "remaining", "subtotal")

    def __init__(self, line: PricingLine) -> None:
        self.line = line
        self.subtotal = line.unit_price.minor_units * line.quantity
        self.remaining = self.subtotal  # after line discounts
        self.order_share = 0  # order discounts allocated to the line (positive units)
        self.discounts: list[Adjustment] = []
        self.locked_by: str | None = None


class Engine:
    """One pricing run; ``run`` the promotions, then read ``result``."""

    def __init__(
        self, lines: Sequence[PricingLine], *, currency: str, channel: str,
        customer_id: str | None, shipping: Money | None, now: dt.datetime, codes: list[str],
    ) -> None:
        self.currency = currency
        self._moneys: dict[int, Money] = {}
        self.exponent = currency_exponent(currency)
        self.scale = 10 ** self.exponent
        self.channel = channel
        self.customer_id = customer_id
        self.now = now
        self.codes = codes
        self.lines = [_Line(line) for line in lines]
        self.shipping = shipping
        self.shipping_left = shipping.minor_units if shipping is not None else 0
        self.shipping_locked_by: str | None = None
        self.order_locked_by: str | None = None
        self.order_discounts: list[Adjustment] = []
        self.explanations: list[Explanation] = []
        self.not_applied: list[Explanation] = []
        self.code_hits: dict[str, list[Promotion]] = {code: [] for code in codes}
        # id(promotion) → (applied, code, reason): what became of each promotion considered
        self.outcomes: dict[int, tuple[bool, str | None, str]] = {}

    # -- helpers ---------------------------------------------------------------------------

    def money(self, minor: int) -> Money:
        found = self._moneys.get(minor)
        if found is None:  # a cart repeats amounts: build each Money once
            found = self._moneys[minor] = _exact_money(minor, self.currency, self.exponent)
        return found

    def minor(self, amount: Decimal) -> int:
        return int(amount * self.scale)

    def _explain(self, p: Promotion, code: str | None, target: str, minor: int,
                 reason: str) -> None:
        self.explanations.append(
            Explanation(p.id, p.name, code, target, self.money(-minor), reason))
        self.outcomes[id(p)] = (True, code, "applied")

    def _skip(self, p: Promotion, code: str | None, reason: str) -> None:
        target = "lines" if p.target is Target.LINE else str(p.target)
        self.not_applied.append(Explanation(p.id, p.name, code, target, self.money(0), reason))
        self.outcomes[id(p)] = (False, code, reason)

    def _unavailable(self, p: Promotion) -> str | None:
        if not p.active:
            return "deactivated"
        if p.starts_at is not None and self.now < p.starts_at:
            return f"starts at {p.starts_at.isoformat()}"
        if p.ends_at is not None and self.now >= p.ends_at:
            return f"ended at {p.ends_at.isoformat()}"
        if not p.sold_on(self.channel):
            return f"not valid on channel {self.channel!r}"
        if p.exhausted():
            return "usage limit reached"
        if p.per_customer_limit is not None and self.customer_id is None:
            return "limited per customer: the customer must be known"
        if p.amounts is not None and self.currency not in p.amounts:
            return f"has no amount in {self.currency}"
        if p.thresholds is not None and self.currency not in p.thresholds:
            return f"has no threshold in {self.currency}"
        return None

    def _eligible(self, p: Promotion) -> list[_Line]:
        if not p.restricts_lines():
            return self.lines
        skus = set(p.skus or ())
        families = set(p.families or ())
        return [
            entry for entry in self.lines
            if entry.line.sku in skus or (entry.line.product_family in families
                                          and entry.line.product_family is not None)
        ]

    # -- the run ---------------------------------------------------------------------------

    def run(self, promotions: Iterable[Promotion]) -> None:
        queue: list[tuple[int, tuple[int, str, str], Promotion, str | None]] = []
        seen: set[str] = set()
        for p in promotions:
            if p.id is not None:
                if p.id in seen:
                    continue
                seen.add(p.id)
            code = None
            if self.codes and p.codes:
                own = set(p.codes)
                code = next((c for c in self.codes if c in own), None)
                for entered in self.codes:
                    if entered in own:
                        self.code_hits[entered].append(p)
            if not p.automatic and code is None:
                continue
            reason = self._unavailable(p)
            if reason is not None:
                self._skip(p, code, reason)
                continue
            assert p.target is not None
            queue.append((_PHASE[p.target], p.sort_key, p, code))
        queue.sort(key=lambda item: (item[0], item[1]))
        for phase, _, p, code in queue:
            if phase == 0:
                self._on_lines(p, code)
            elif phase == 1:
                self._on_order(p, code)
            else:
                self._on_shipping(p, code)

    def _on_lines(self, p: Promotion, code: str | None) -> None:
        eligible = self._eligible(p)
        if not eligible:
            return self._skip(p, code, "no eligible line")
        open_lines = [e for e in eligible if e.locked_by is None and e.remaining > 0]
        if not open_lines:
            locked = next((e.locked_by for e in eligible if e.locked_by), None)
            reason = (f"excluded by non-stackable promotion {locked!r}" if locked
                      else "nothing left to discount")
            return self._skip(p, code, reason)
        if p.kind is PromotionKind.BUY_X_GET_Y:
            found = self._buy_x_get_y(p, open_lines)
            if isinstance(found, str):
                return self._skip(p, code, found)
            discounts = found
        elif p.kind is PromotionKind.PERCENT_OFF:
            assert p.percent is not None
            reason = f"{_pct(p.percent)}% off"
            discounts = [(e, percent_of(e.remaining, p.percent), reason) for e in open_lines]
        else:
            per_unit = self.minor(p.amounts[self.currency])  # type: ignore[index]
            reason = f"{self.money(per_unit)} off per unit"
            discounts = [(e, per_unit * e.line.quantity, reason) for e in open_lines]
        applied = False
        for entry, minor, why in discounts:
            minor = min(minor, entry.remaining)
            if minor <= 0:
                continue
            applied = True
            entry.remaining -= minor
            entry.discounts.append(Adjustment(p.name, self.money(-minor), "discount", p.id, code))
            self._explain(p, code, f"line:{entry.line.key}", minor, why)
            if not p.stackable:
                entry.locked_by = p.name
        if not applied:
            self._skip(p, code, "nothing left to discount")
        return None

    def _buy_x_get_y(self, p: Promotion, lines: list[_Line]) -> list[tuple[_Line, int, str]] | str:
        assert p.buy is not None and p.get is not None
        percent = p.percent if p.percent is not None else _HUNDRED
        units = sum(e.line.quantity for e in lines)
        free = units // (p.buy + p.get) * p.get
        if free == 0:
            missing = p.buy + p.get - units
            return f"add {missing} more eligible unit(s) to buy {p.buy} and get {p.get}"
        offer = (f"buy {p.buy} get {p.get} free" if percent == _HUNDRED
                 else f"buy {p.buy} get {p.get} at {_pct(percent)}% off")
        # the cheapest units (after the discounts before this one) are the ones given
        cheapest = sorted(enumerate(lines),
                          key=lambda pair: (Decimal(pair[1].remaining) / pair[1].line.quantity,
                                            pair[0]))
        found = []
        for _, entry in cheapest:
            if free == 0:
                break
            count = min(free, entry.line.quantity)
            free -= count
            value = Decimal(entry.remaining * count) / entry.line.quantity
            minor = int((value * percent / _HUNDRED).to_integral_value(rounding=ROUND_HALF_UP))
            found.append((entry, minor, f"{offer}: {count} unit(s)"))
        return found

    def _on_order(self, p: Promotion, code: str | None) -> None:
        if self.order_locked_by is not None:
            return self._skip(p, code,
                              f"excluded by non-stackable promotion {self.order_locked_by!r}")
        eligible = self._eligible(p)
        if not eligible:
            return self._skip(p, code, "no eligible line")
        spend = sum(e.remaining for e in eligible)
        weights = [e.remaining - e.order_share for e in eligible]
        base = sum(weights)
        scope = "the eligible items" if p.restricts_lines() else "the order"
        if p.kind is PromotionKind.SPEND_THRESHOLD:
            threshold = self.minor(p.thresholds[self.currency])  # type: ignore[index]
            if spend < threshold:
                return self._skip(p, code, f"spend at least {self.money(threshold)} "
                                           f"({self.money(threshold - spend)} more)")
            prefix = f"spent {self.money(spend)} (at least {self.money(threshold)}): "
        else:
            prefix = ""
        if p.percent is not None:
            minor = percent_of(base, p.percent)
            reason = f"{prefix}{_pct(p.percent)}% off {scope}"
        else:
            amount = self.minor(p.amounts[self.currency])  # type: ignore[index]
            minor = min(amount, base)
            reason = f"{prefix}{self.money(amount)} off {scope}"
        minor = min(minor, base)
        if minor <= 0:
            return self._skip(p, code, "nothing left to discount")
        for entry, share in zip(eligible, allocate(minor, weights), strict=True):
            entry.order_share += share
        self.order_discounts.append(Adjustment(p.name, self.money(-minor), "discount", p.id, code))
        self._explain(p, code, "order", minor, reason)
        if not p.stackable:
            self.order_locked_by = p.name
        return None

    def _on_shipping(self, p: Promotion, code: str | None) -> None:
        if self.shipping is None or self.shipping.amount == 0:
            return self._skip(p, code, "no shipping to discount")
        if self.shipping_locked_by is not None:
            return self._skip(p, code,
                              f"excluded by non-stackable promotion {self.shipping_locked_by!r}")
        if self.shipping_left == 0:
            return self._skip(p, code, "shipping is already free")
        reason = "free shipping"
        if p.thresholds is not None:
            threshold = self.minor(p.thresholds[self.currency])
            spend = sum(e.remaining for e in self._eligible(p))
            if spend < threshold:
                return self._skip(p, code, f"spend at least {self.money(threshold)} "
                                           f"({self.money(threshold - spend)} more)")
            reason = f"free shipping from {self.money(threshold)}"
        minor, self.shipping_left = self.shipping_left, 0
        self._explain(p, code, "shipping", minor, reason)
        if not p.stackable:
            self.shipping_locked_by = p.name
        return None

    # -- the result ------------------------------------------------------------------------

    def result(self) -> Totals:
        lines = [
            LineTotal(
                key=e.line.key, sku=e.line.sku, quantity=e.line.quantity,
                unit_price=e.line.unit_price, subtotal=self.money(e.subtotal),
                discounts=e.discounts, total=self.money(e.remaining),
                order_discount_share=self.money(-e.order_share),
            )
            for e in self.lines
        ]
        order_off = sum(e.order_share for e in self.lines)
        shipping = self.shipping.minor_units if self.shipping is not None else 0
        shipping_off = shipping - self.shipping_left
        total = sum(e.remaining for e in self.lines) - order_off + shipping - shipping_off
        return Totals(
            currency=self.currency,
            lines=lines,
            subtotal=self.money(sum(e.subtotal for e in self.lines)),
            order_discounts=self.order_discounts,
            shipping=self.shipping,
            shipping_discount=self.money(-shipping_off),
            adjustments=[],
            total=self.money(total),
            explanations=self.explanations,
            not_applied=self.not_applied,
        )

    def code_statuses(self) -> list[CodeStatus]:
        statuses = []
        for code in self.codes:
            hits = self.code_hits[code]
            if not hits:
                statuses.append(CodeStatus(code, False, None, "unknown code"))
                continue
            outcomes = [(p, self.outcomes.get(id(p))) for p in hits]
            used = next((p for p, o in outcomes if o is not None and o[0] and o[1] == code), None)
            if used is not None:
                statuses.append(CodeStatus(code, True, used.id, "applied"))
                continue
            p, outcome = outcomes[0]
            if outcome is None:
                reason = "gave no discount"
            elif outcome[0]:
                reason = f"the promotion is already applied with code {outcome[1]}"
            else:
                reason = outcome[2]
            statuses.append(CodeStatus(code, False, p.id, reason))
        return statuses

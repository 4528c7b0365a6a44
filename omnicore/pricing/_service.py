"""``commerce.pricing``: price a cart from the database, then let plugins adjust it.

    totals = await commerce.pricing.price(
        channel="web", currency="EUR", lines=[("l1", "TEE-M", 2)], codes=["SUMMER10"],
        customer_id=None, shipping=Money("4.90", "EUR"))

Prices come from the channel's own list first, then the default list of the
currency; promotions from ``commerce.promotions`` (automatic ones live on the
channel now, plus those of the codes); the arithmetic from ``price_lines``;
taxes and fees from the plugins' ``calculate_adjustments``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs
from sqlalchemy import select

from omnicore.catalog import prices_for
from omnicore.errors import InvalidInput, NotFound, PluginError, Problem
from omnicore.money import Money, validate_currency
from omnicore.pricing._context import (
    CodeStatus,
    PricingContext,
    PricingLine,
    Totals,
    price_lines,
    with_adjustments,
)
from omnicore.pricing._promotions import applicable
from omnicore.pricing._rules import normalise_code
from omnicore.store.tables import channels, products, variants

if TYPE_CHECKING:
    from omnicore.commerce import Commerce

__all__ = ["PricingService"]

LineInput = tuple[str, str, int] | Mapping[str, Any] | Any


def _line_parts(index: int, line: LineInput) -> tuple[object, object, object]:
    if isinstance(line, Mapping):
        missing = [k for k in ("key", "sku", "quantity") if k not in line]
        if missing:
            raise InvalidInput("is required", field=f"lines[{index}].{missing[0]}")
        return line["key"], line["sku"], line["quantity"]
    if isinstance(line, tuple | list):
        if len(line) != 3:
            raise InvalidInput("expected (key, sku, quantity)", field=f"lines[{index}]")
        return line[0], line[1], line[2]
    try:
        return line.key, line.sku, line.quantity
    except AttributeError:
        raise InvalidInput("expected (key, sku, quantity)", field=f"lines[{index}]") from None


def _parse_lines(lines: Sequence[LineInput]) -> list[tuple[str, str, int]]:
    parsed = []
    for index, line in enumerate(lines):
        key, sku, quantity = _line_parts(index, line)
        if not isinstance(key, str) or not key:
            raise InvalidInput("must be a non-empty string", field=f"lines[{index}].key")
        if not isinstance(sku, str) or not sku:
            raise InvalidInput("must be a SKU", field=f"lines[{index}].sku")
        if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
            raise InvalidInput("must be a positive integer", field=f"lines[{index}].quantity")
        parsed.append((key, sku, quantity))
    return parsed


class PricingService:
    """``commerce.pricing``: prices, promotions and plugin adjustments of a cart."""

    def __init__(self, commerce: Commerce) -> None:
        self._commerce = commerce

    async def price(
        self,
        *,
        channel: str,
        currency: str,
        lines: Sequence[LineInput],
        codes: Iterable[str] = (),
        customer_id: str | None = None,
        shipping: Money | None = None,
    ) -> Totals:
        """Price ``lines`` (``(key, sku, quantity)`` each) on ``channel`` in ``currency``.

        Raises ``NotFound`` (``channel``) for an unknown channel, ``InvalidInput``
        naming ``lines[i].sku`` for every SKU without a price in the currency.
        Codes that cannot be used do not raise: ``Totals.codes`` says why each
        code applied or not. Plugins' ``calculate_adjustments`` run last; a bad
        adjustment raises ``PluginError`` naming the plugin.
        """
        validate_currency(currency)
        wanted = _parse_lines(lines)
        codes = list(codes)
        if shipping is not None and not isinstance(shipping, Money):
            raise InvalidInput("must be Money", field="shipping")
        skus = sorted({sku for _, sku, _ in wanted})
        async with self._commerce.uow.read() as tx:
            known = (await tx.conn.execute(
                select(channels.c.code).where(channels.c.code == channel))).first()
            if known is None:
                raise NotFound(f"no channel {channel!r}", field="channel")
            prices = await prices_for(tx, skus, currency=currency, channel=channel)
            missing = [
                Problem(f"lines[{i}].sku", f"{sku} has no price in {currency}")
                for i, (_, sku, _) in enumerate(wanted) if sku not in prices
            ]
            if missing:
                raise InvalidInput("; ".join(f"{p.field}: {p.message}" for p in missing),
                                   field=missing[0].field, problems=missing)
            families: dict[str, str | None] = {}
            if skus:
                families = {sku: family for sku, family in await tx.conn.execute(
                    select(variants.c.sku, products.c.family)
                    .join(products, products.c.id == variants.c.product_id)
                    .where(variants.c.sku.in_(skus)))}
            found, refused = await applicable(tx, channel=channel, codes=codes,
                                              customer_id=customer_id, now=tx.now)
            now = tx.now
        pricing_lines = [
            PricingLine(key, sku, quantity, prices[sku].amount, families.get(sku))
            for key, sku, quantity in wanted
        ]
        totals = price_lines(pricing_lines, found, currency=currency, codes=codes,
                             channel=channel, customer_id=customer_id, shipping=shipping, now=now)
        totals = _explain_refused(totals, refused)
        context = PricingContext(channel=channel, currency=currency, lines=pricing_lines,
                                 codes=[s.code for s in totals.codes], customer_id=customer_id,
                                 shipping=shipping, now=now)
        return await self._adjust(context, totals)

    async def _adjust(self, context: PricingContext, totals: Totals) -> Totals:
        answers = await self._commerce.plugins.calculate_adjustments(
            commerce=self._commerce, context=context, totals=totals)
        for answer in answers:
            try:
                totals = with_adjustments(totals, answer.value)
            except InvalidInput as exc:
                raise PluginError(exc.message, plugin=answer.plugin, field=exc.field) from None
        return totals


def _explain_refused(totals: Totals, refused: Mapping[str, Exception]) -> Totals:
    """Replace the engine's "unknown code" by the reason the code was refused."""
    if not refused:
        return totals
    reasons: dict[str, str] = {}
    for code, exc in refused.items():
        try:
            key = normalise_code(code)
        except InvalidInput:
            key = code
        reasons[key] = getattr(exc, "message", str(exc))
    statuses = [
        CodeStatus(s.code, False, s.promotion_id, reasons[s.code])
        if not s.applied and s.code in reasons else s
        for s in totals.codes
    ]
    return attrs.evolve(totals, codes=statuses)

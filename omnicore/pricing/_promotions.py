"""``commerce.promotions``: campaigns, discount codes, and their usage limits.

One promotion engine for every channel: a promotion applies on all channels
unless ``channels`` restricts it. The model lives in ``omnicore.pricing._rules``;
the pricing of a cart in ``omnicore.pricing``.

Errors about a discount code name the field ``discount_codes``:

- a malformed code: ``InvalidInput``;
- an unknown code: ``NotFound``;
- a promotion deactivated, not started yet or ended, or not valid on the
  channel, or limited per customer when no customer is given: ``InvalidInput``;
- a usage limit reached (the promotion's, the code's, the customer's):
  ``Conflict`` — the state, not the input, is in the way (a cancelled order
  could free a use).
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs
from sqlalchemy import insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from omnicore.errors import Conflict, InvalidInput, NotFound, OmnicoreError
from omnicore.pricing._rules import (
    Promotion,
    PromotionKind,
    Target,
    normalise_code,
    normalise_codes,
)
from omnicore.pricing._usage import (
    CODES_FIELD,
    Redemption,
    check_window,
    customer_uses,
    load_promotion,
    promotion_from_row,
    redeem,
    redemption_from_row,
)
from omnicore.serialization import structure, unstructure
from omnicore.store.tables import channels as channels_table
from omnicore.store.tables import promotion_codes, promotion_redemptions, promotions

if TYPE_CHECKING:
    from omnicore.store.uow import Tx, UnitOfWork

__all__ = [
    "CODES_FIELD",
    "Promotion",
    "PromotionKind",
    "PromotionService",
    "Redemption",
    "Target",
]

def _event_payload(promotion: Promotion) -> dict[str, Any]:
    payload: dict[str, Any] = unstructure(promotion)
    payload.pop("codes")  # codes are bearer vouchers: events carry none
    return payload


async def _codes_of(tx: Tx, ids: Sequence[str]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {i: [] for i in ids}
    for start in range(0, len(ids), 500):
        rows = await tx.conn.execute(
            select(promotion_codes.c.promotion_id, promotion_codes.c.code)
            .where(promotion_codes.c.promotion_id.in_(ids[start:start + 500]))
            .order_by(promotion_codes.c.code)
        )
        for promotion_id, code in rows:
            found[promotion_id].append(code)
    return found


def _code_error(promotion: Promotion, code: str, code_row: Any, *, channel: str | None,
                customer_id: str | None, used: int, now: dt.datetime) -> OmnicoreError | None:
    """Why ``code`` cannot be used now (``used``: the customer's redemptions), or None."""
    try:
        check_window(promotion, f"code {code}", now)
    except InvalidInput as exc:
        return exc
    if channel is not None and not promotion.sold_on(channel):
        return InvalidInput(f"code {code} is not valid on channel {channel!r}", field=CODES_FIELD)
    if promotion.exhausted():
        return Conflict(f"code {code}: the promotion has reached its usage limit",
                        field=CODES_FIELD)
    if code_row.usage_limit is not None and code_row.times_used >= code_row.usage_limit:
        return Conflict(f"code {code} has reached its usage limit", field=CODES_FIELD)
    if promotion.per_customer_limit is not None:
        if customer_id is None:
            return InvalidInput(f"code {code} is limited per customer: sign in to use it",
                                field=CODES_FIELD)
        if used >= promotion.per_customer_limit:
            return Conflict(f"code {code} has already been used by this customer "
                            f"({used} of {promotion.per_customer_limit})", field=CODES_FIELD)
    return None


async def _with_codes(tx: Tx, codes: Sequence[str]) -> dict[str, tuple[Any, Promotion]]:
    """code → (its promotion_codes row, its promotion), for the codes that exist."""
    if not codes:
        return {}
    rows = await tx.conn.execute(
        select(promotion_codes.c.code.label("the_code"),
               promotion_codes.c.usage_limit.label("code_usage_limit"),
               promotion_codes.c.times_used.label("code_times_used"), promotions)
        .join(promotions, promotions.c.id == promotion_codes.c.promotion_id)
        .where(promotion_codes.c.code.in_(list(codes))))
    return {
        row.the_code: (
            _CodeRow(row.code_usage_limit, row.code_times_used),
            promotion_from_row(row, [row.the_code]),
        )
        for row in rows
    }


@attrs.frozen
class _CodeRow:
    usage_limit: int | None
    times_used: int


async def check_code(
    tx: Tx, code: str, *, channel: str | None, customer_id: str | None, now: dt.datetime
) -> Promotion:
    """The promotion ``code`` unlocks, if it may be used now; else a typed error."""
    found, refused = await _resolve_codes(tx, [code], channel=channel, customer_id=customer_id,
                                          now=now)
    if refused:
        raise refused[code]
    return found[0]


async def _resolve_codes(
    tx: Tx, codes: Iterable[str], *, channel: str | None, customer_id: str | None,
    now: dt.datetime,
) -> tuple[list[Promotion], dict[str, OmnicoreError]]:
    refused: dict[str, OmnicoreError] = {}
    normal: dict[str, str] = {}
    for code in codes:
        try:
            normal[code] = normalise_code(code, CODES_FIELD)
        except InvalidInput as exc:
            refused[code] = exc
    known = await _with_codes(tx, sorted(set(normal.values())))
    limited = [p.id for _, p in known.values() if p.per_customer_limit is not None and p.id]
    uses = await customer_uses(tx, customer_id, limited) if customer_id and limited else {}
    found: list[Promotion] = []
    for code, upper in normal.items():
        if upper not in known:
            refused[code] = NotFound(f"unknown discount code {upper}", field=CODES_FIELD)
            continue
        code_row, promotion = known[upper]
        error = _code_error(promotion, upper, code_row, channel=channel, customer_id=customer_id,
                            used=uses.get(promotion.id or "", 0), now=now)
        if error is not None:
            refused[code] = error
        else:
            found.append(promotion)
    return found, refused


async def applicable(
    tx: Tx, *, channel: str, codes: Iterable[str], customer_id: str | None, now: dt.datetime
) -> tuple[list[Promotion], dict[str, OmnicoreError]]:
    """Automatic promotions usable now + those of ``codes``; and why other codes are not."""
    rows = (await tx.conn.execute(
        select(promotions).where(
            promotions.c.automatic.is_(True), promotions.c.active.is_(True),
            or_(promotions.c.starts_at.is_(None), promotions.c.starts_at <= now),
            or_(promotions.c.ends_at.is_(None), promotions.c.ends_at > now),
            or_(promotions.c.usage_limit.is_(None),
                promotions.c.times_used < promotions.c.usage_limit),
        )
    )).all()
    found = {p.id: p for p in (promotion_from_row(r, []) for r in rows) if p.sold_on(channel)}
    limited = [i for i, p in found.items() if p.per_customer_limit is not None and i]
    if limited:
        uses = await customer_uses(tx, customer_id, limited) if customer_id else {}
        for promotion_id in limited:
            limit = found[promotion_id].per_customer_limit or 0
            if customer_id is None or uses.get(promotion_id, 0) >= limit:
                del found[promotion_id]
    unlocked, refused = await _resolve_codes(tx, codes, channel=channel,
                                             customer_id=customer_id, now=now)
    for promotion in unlocked:
        known = found.get(promotion.id)
        codes_so_far = known.codes if known is not None else []
        found[promotion.id] = attrs.evolve(promotion, codes=[*codes_so_far, *promotion.codes])
    return sorted(found.values(), key=lambda p: p.sort_key), refused


class PromotionService:
    """``commerce.promotions``: create promotions and codes, check codes, redeem."""

    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow

    async def create(self, promotion: Promotion | Mapping[str, Any]) -> Promotion:
        """Create a promotion (and its ``codes``); emits ``promotion.created``.

        A ``channels`` entry that is not a channel raises ``NotFound`` naming
        ``channels[i]``; a code already in use raises ``Conflict`` naming ``codes[i]``.
        """
        if not isinstance(promotion, Promotion):
            promotion = structure(dict(promotion), Promotion)
        async with self._uow() as tx:
            for index, code in enumerate(promotion.channels or []):
                exists = (await tx.conn.execute(
                    select(channels_table.c.code).where(channels_table.c.code == code))).first()
                if exists is None:
                    raise NotFound(f"no channel {code!r}", field=f"channels[{index}]")
            promotion_id = promotion.id or f"promo_{secrets.token_hex(8)}"
            if promotion.id and (await tx.conn.execute(
                    select(promotions.c.id).where(promotions.c.id == promotion.id))).first():
                raise Conflict(f"promotion {promotion.id!r} exists", field="id")
            saved = attrs.evolve(promotion, id=promotion_id, times_used=0, created_at=tx.now)
            await tx.conn.execute(insert(promotions).values(
                id=promotion_id, name=saved.name, kind=saved.kind.value, rule=saved.rule(),
                channels=saved.channels, automatic=saved.automatic, starts_at=saved.starts_at,
                ends_at=saved.ends_at, priority=saved.priority, usage_limit=saved.usage_limit,
                per_customer_limit=saved.per_customer_limit, times_used=0, active=saved.active,
                created_at=tx.now,
            ))
            await _insert_codes(tx, promotion_id, saved.codes, usage_limit=None)
            tx.emit("promotion.created", _event_payload(saved))
        return saved

    async def add_codes(self, promotion_id: str, codes: Iterable[str], *,
                        usage_limit: int | None = None) -> list[str]:
        """Add discount codes to a promotion (upper-cased; unique across promotions).

        ``usage_limit`` caps the uses of each code (1: single-use vouchers), on
        top of the promotion's own limits. Returns the codes as stored; emits
        ``promotion.codes_added``. All or none: a code in use raises ``Conflict``
        naming ``codes[i]``.
        """
        if usage_limit is not None and (isinstance(usage_limit, bool)
                                        or not isinstance(usage_limit, int) or usage_limit < 1):
            raise InvalidInput("must be a positive integer", field="usage_limit")
        normal = normalise_codes(list(codes))
        if not normal:
            raise InvalidInput("give at least one code", field="codes")
        async with self._uow() as tx:
            await load_promotion(tx, promotion_id)
            await _insert_codes(tx, promotion_id, normal, usage_limit=usage_limit)
            tx.emit("promotion.codes_added", {"promotion_id": promotion_id,
                                              "count": len(normal), "usage_limit": usage_limit})
        return normal

    async def get(self, promotion_id: str) -> Promotion:
        """One promotion with all its codes."""
        async with self._uow.read() as tx:
            promotion = await load_promotion(tx, promotion_id)
            codes = await _codes_of(tx, [promotion_id])
        return attrs.evolve(promotion, codes=codes[promotion_id])

    async def deactivate(self, promotion_id: str) -> Promotion:
        """Stop a promotion now, on every channel; emits ``promotion.deactivated``."""
        async with self._uow() as tx:
            promotion = await load_promotion(tx, promotion_id)
            await tx.conn.execute(
                update(promotions).where(promotions.c.id == promotion_id).values(active=False))
            promotion = attrs.evolve(promotion, active=False)
            tx.emit("promotion.deactivated", _event_payload(promotion))
        return promotion

    async def applicable(self, *, channel: str, codes: Iterable[str] = (),
                         customer_id: str | None = None,
                         now: dt.datetime | None = None) -> list[Promotion]:
        """Promotions that may apply to a cart: automatic ones live on ``channel`` at
        ``now`` and within their limits (per-customer ones only for a known customer
        who has uses left), plus those unlocked by ``codes``. Codes that cannot be
        used are left out silently (``check_code`` says why)."""
        async with self._uow.read() as tx:
            found, _ = await applicable(tx, channel=channel, codes=codes,
                                        customer_id=customer_id, now=now or tx.now)
        return found

    async def check_code(self, code: str, *, channel: str, customer_id: str | None = None,
                         now: dt.datetime | None = None) -> Promotion:
        """The promotion ``code`` unlocks, if it may be used now on ``channel``.

        Raises (``field="discount_codes"``) ``NotFound`` for an unknown code,
        ``InvalidInput`` for a code deactivated, not started, ended, not valid on
        the channel or limited per customer without a customer, ``Conflict`` when a
        usage limit (total, per code, per customer) is reached.
        """
        async with self._uow.read() as tx:
            return await check_code(tx, code, channel=channel, customer_id=customer_id,
                                    now=now or tx.now)

    async def redeem(self, promotion_ids_and_codes: Iterable[tuple[str, str | None]], *,
                     order_ref: str, customer_id: str | None = None) -> list[Redemption]:
        """Count one use of each promotion for the order ``order_ref``: all or none.

        Pass ``Totals.applied_promotions``. Usage counters move by conditional
        UPDATEs under a lock on each promotion's row, so no limit is ever
        exceeded, whatever the number of concurrent checkouts and processes.
        Idempotent per ``(promotion, order_ref)``: a retried checkout gets the
        first redemptions back and counts nothing twice. Raises ``Conflict``
        (``discount_codes``) when a limit is reached; emits ``promotion.redeemed``.
        """
        if not isinstance(order_ref, str) or not order_ref.strip() or len(order_ref) > 100:
            raise InvalidInput("must be 1 to 100 characters", field="order_ref")
        items: dict[str, str | None] = {}
        for promotion_id, code in promotion_ids_and_codes:
            normal = normalise_code(code, CODES_FIELD) if code is not None else None
            if promotion_id in items and items[promotion_id] != normal:
                raise InvalidInput(f"promotion {promotion_id!r} is given twice",
                                   field=CODES_FIELD)
            items[promotion_id] = normal
        for attempt in range(3):
            try:
                async with self._uow() as tx:
                    return await redeem(tx, items, order_ref, customer_id)
            except IntegrityError:  # the same order redeemed concurrently: look again
                if attempt == 2:
                    raise Conflict("the order is being redeemed concurrently",
                                   field="order_ref") from None
        raise AssertionError("unreachable")

    async def redemptions(self, order_ref: str) -> list[Redemption]:
        """The promotions redeemed by one order."""
        async with self._uow.read() as tx:
            rows = await tx.conn.execute(
                select(promotion_redemptions)
                .where(promotion_redemptions.c.order_ref == order_ref)
                .order_by(promotion_redemptions.c.id))
            return [redemption_from_row(r) for r in rows]

    async def list(self, *, active_at: dt.datetime | None = None,
                   channel: str | None = None) -> list[Promotion]:
        """Every promotion (with its codes) in the order they apply; ``active_at``
        keeps those live at that instant, ``channel`` those valid on it."""
        query = select(promotions)
        if active_at is not None:
            query = query.where(
                promotions.c.active.is_(True),
                or_(promotions.c.starts_at.is_(None), promotions.c.starts_at <= active_at),
                or_(promotions.c.ends_at.is_(None), promotions.c.ends_at > active_at))
        async with self._uow.read() as tx:
            found = [promotion_from_row(r, []) for r in await tx.conn.execute(query)]
            if channel is not None:
                found = [p for p in found if p.sold_on(channel)]
            codes = await _codes_of(tx, [p.id for p in found if p.id])
        return sorted((attrs.evolve(p, codes=codes[p.id or ""]) for p in found),
                      key=lambda p: p.sort_key)


async def _insert_codes(tx: Tx, promotion_id: str, codes: Sequence[str], *,
                        usage_limit: int | None) -> None:
    if not codes:
        return
    taken: set[str] = set()
    for start in range(0, len(codes), 500):
        taken.update((await tx.conn.execute(
            select(promotion_codes.c.code)
            .where(promotion_codes.c.code.in_(list(codes[start:start + 500])))
        )).scalars())
    for index, code in enumerate(codes):
        if code in taken:
            raise Conflict(f"code {code} is already in use", field=f"codes[{index}]")
    await tx.conn.execute(insert(promotion_codes), [
        {"code": code, "promotion_id": promotion_id, "usage_limit": usage_limit, "times_used": 0}
        for code in codes
    ])

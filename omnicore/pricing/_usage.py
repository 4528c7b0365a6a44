"""Counting the uses of promotions: ``redeem``, under any number of concurrent checkouts.

Each promotion redeemed is locked (``SELECT … FOR UPDATE`` on PostgreSQL; the
write lock of ``BEGIN IMMEDIATE`` on SQLite), in promotion-id order so two
checkouts never deadlock. Under the lock, counters move with conditional
UPDATEs (``times_used = times_used + 1 WHERE times_used < usage_limit``) and the
customer's redemptions are counted: every redemption of a promotion holds its
lock until commit, so no limit — total, per code, per customer — is exceeded.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs
from sqlalchemy import and_, func, insert, or_, select, update

from omnicore.errors import Conflict, InvalidInput, NotFound
from omnicore.pricing._rules import Promotion
from omnicore.store.tables import promotion_codes, promotion_redemptions, promotions

if TYPE_CHECKING:
    from omnicore.store.uow import Tx

__all__ = [
    "CODES_FIELD",
    "Redemption",
    "check_window",
    "customer_uses",
    "load_promotion",
    "promotion_from_row",
    "redeem",
    "redemption_from_row",
]

CODES_FIELD = "discount_codes"


@attrs.frozen
class Redemption:
    """One use of a promotion by an order (``order_ref`` is unique per promotion)."""

    promotion_id: str
    code: str | None
    customer_id: str | None
    order_ref: str
    redeemed_at: dt.datetime


def promotion_from_row(row: Any, codes: list[str]) -> Promotion:
    rule = dict(row.rule)
    return Promotion(
        id=row.id, name=row.name, kind=row.kind, target=rule.get("target"),
        percent=rule.get("percent"), amounts=rule.get("amounts"),
        thresholds=rule.get("thresholds"), buy=rule.get("buy"), get=rule.get("get"),
        skus=rule.get("skus"), families=rule.get("families"),
        channels=list(row.channels) if row.channels is not None else None,
        automatic=row.automatic, codes=codes, starts_at=row.starts_at, ends_at=row.ends_at,
        priority=row.priority, stackable=rule.get("stackable", True),
        usage_limit=row.usage_limit, per_customer_limit=row.per_customer_limit,
        active=row.active, times_used=row.times_used, created_at=row.created_at,
    )


async def load_promotion(tx: Tx, promotion_id: str, *, field: str = "promotion_id",
                         for_update: bool = False) -> Promotion:
    query = select(promotions).where(promotions.c.id == promotion_id)
    row = (await tx.conn.execute(query.with_for_update() if for_update else query)).first()
    if row is None:
        raise NotFound(f"no promotion {promotion_id!r}", field=field)
    return promotion_from_row(row, [])


def redemption_from_row(row: Any) -> Redemption:
    return Redemption(row.promotion_id, row.code, row.customer_id, row.order_ref,
                      row.redeemed_at)


def check_window(promotion: Promotion, label: str, now: dt.datetime) -> None:
    if not promotion.active:
        raise InvalidInput(f"{label} is no longer valid", field=CODES_FIELD)
    if promotion.starts_at is not None and now < promotion.starts_at:
        raise InvalidInput(f"{label} is valid from {promotion.starts_at.isoformat()}",
                           field=CODES_FIELD)
    if promotion.ends_at is not None and now >= promotion.ends_at:
        raise InvalidInput(f"{label} expired at {promotion.ends_at.isoformat()}",
                           field=CODES_FIELD)


async def customer_uses(tx: Tx, customer_id: str, ids: Sequence[str]) -> dict[str, int]:
    if not ids:
        return {}
    rows = await tx.conn.execute(
        select(promotion_redemptions.c.promotion_id, func.count())
        .where(promotion_redemptions.c.customer_id == customer_id,
               promotion_redemptions.c.promotion_id.in_(list(ids)))
        .group_by(promotion_redemptions.c.promotion_id)
    )
    return {promotion_id: int(count) for promotion_id, count in rows}


async def redeem(tx: Tx, items: Mapping[str, str | None], order_ref: str,
                 customer_id: str | None) -> list[Redemption]:
    done: dict[str, Redemption] = {}
    for promotion_id in sorted(items):  # one lock order for every process: no deadlock
        code = items[promotion_id]
        # the row lock serialises the redemptions of this promotion until commit
        promotion = await load_promotion(tx, promotion_id, field=CODES_FIELD, for_update=True)
        existing = (await tx.conn.execute(select(promotion_redemptions).where(
            promotion_redemptions.c.promotion_id == promotion_id,
            promotion_redemptions.c.order_ref == order_ref))).first()
        if existing is not None:
            done[promotion_id] = redemption_from_row(existing)
            continue
        check_window(promotion, f"code {code}" if code else f"promotion {promotion.name!r}",
                 tx.now)
        counted = await tx.conn.execute(
            update(promotions)
            .where(promotions.c.id == promotion_id,
                   or_(promotions.c.usage_limit.is_(None),
                       promotions.c.times_used < promotions.c.usage_limit))
            .values(times_used=promotions.c.times_used + 1))
        if not counted.rowcount:  # type: ignore[attr-defined]
            raise Conflict(f"promotion {promotion.name!r} has reached its usage limit",
                           field=CODES_FIELD)
        if code is not None:
            await _count_code(tx, promotion_id, code)
        if promotion.per_customer_limit is not None:
            if customer_id is None:
                raise InvalidInput(f"promotion {promotion.name!r} is limited per customer: "
                                   "the customer must be known", field=CODES_FIELD)
            used = (await customer_uses(tx, customer_id, [promotion_id])).get(promotion_id, 0)
            if used >= promotion.per_customer_limit:
                raise Conflict(f"promotion {promotion.name!r} has already been used by this "
                               f"customer ({used} of {promotion.per_customer_limit})",
                               field=CODES_FIELD)
        await tx.conn.execute(insert(promotion_redemptions).values(
            promotion_id=promotion_id, code=code, customer_id=customer_id, order_ref=order_ref,
            redeemed_at=tx.now))
        done[promotion_id] = Redemption(promotion_id, code, customer_id, order_ref, tx.now)
        tx.emit("promotion.redeemed", {
            "promotion_id": promotion_id, "code": code, "customer_id": customer_id,
            "order_ref": order_ref, "times_used": promotion.times_used + 1,
        })
    return [done[promotion_id] for promotion_id in items]


async def _count_code(tx: Tx, promotion_id: str, code: str) -> None:
    counted = await tx.conn.execute(
        update(promotion_codes)
        .where(promotion_codes.c.code == code, promotion_codes.c.promotion_id == promotion_id,
               or_(promotion_codes.c.usage_limit.is_(None),
                   promotion_codes.c.times_used < promotion_codes.c.usage_limit))
        .values(times_used=promotion_codes.c.times_used + 1))
    if counted.rowcount:  # type: ignore[attr-defined]
        return
    known = (await tx.conn.execute(select(promotion_codes.c.code).where(and_(
        promotion_codes.c.code == code, promotion_codes.c.promotion_id == promotion_id)))).first()
    if known is None:
        raise NotFound(f"code {code} does not belong to this promotion", field=CODES_FIELD)
    raise Conflict(f"code {code} has reached its usage limit", field=CODES_FIELD)

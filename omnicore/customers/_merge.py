"""Merging two profiles of one person into one, in one transaction.

Rules (docs/customers.md#merging-duplicates):

* identities, addresses, activity, carts, orders (from every channel) and
  promotion redemptions move to the survivor; an order keeps the e-mail and phone
  it was placed with (its contact for tracking);
* favourites are united (the earlier ``added_at`` is kept);
* consents: both histories are kept; per contact channel the most recently
  recorded decision is the current one (on the same instant, the later-recorded);
* profile fields: the survivor's non-empty values win, the merged customer's fill
  the gaps; ``attributes`` are united key by key, the survivor's keys winning;
* the survivor keeps a default address if it had one;
* the merged row keeps its own profile for the record, gets status ``merged`` and
  ``merged_into``; its id resolves to the survivor from then on;
* ``merge_steps`` of later domains (loyalty …) run in the same transaction;
* an audit row (actor, summary without personal data) and ``customer.merged``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, insert, select, update

from omnicore.customers._activity import consent_history, current_consents
from omnicore.customers._models import CustomerMerge, CustomerStatus
from omnicore.errors import Conflict, InvalidInput, NotFound
from omnicore.store.order_tables import orders
from omnicore.store.tables import (
    carts,
    customer_activity,
    customer_addresses,
    customer_consents,
    customer_favourites,
    customer_identities,
    customer_merges,
    customers,
    promotion_redemptions,
)

if TYPE_CHECKING:
    from omnicore.store.uow import Tx

__all__ = ["MergeStep", "load_merges", "merge_customers"]

#: ``async def step(tx, survivor_id, merged_id) -> dict``: moves a later domain's rows.
MergeStep = Callable[["Tx", str, str], Awaitable[dict[str, Any]]]

#: Profile fields the merged customer may fill when the survivor's is empty.
FILLABLE = ("first_name", "last_name", "language", "preferred_store")


def _empty(value: object) -> bool:
    return value is None or value == ""


async def _lock_pair(tx: Tx, survivor_id: str, merged_id: str) -> tuple[Any, Any]:
    # both rows FOR UPDATE, in id order, so two crossing merges cannot deadlock
    rows = {
        row.id: row
        for row in await tx.conn.execute(
            select(customers).where(customers.c.id.in_([survivor_id, merged_id]))
            .order_by(customers.c.id).with_for_update()
        )
    }
    for field, customer_id in (("survivor_id", survivor_id), ("merged_id", merged_id)):
        row = rows.get(customer_id)
        if row is None:
            raise NotFound(f"no customer {customer_id!r}", field=field)
        if row.status == CustomerStatus.MERGED:
            raise Conflict(f"{customer_id} was already merged into {row.merged_into}",
                           field=field)
        if row.status == CustomerStatus.ERASED:
            raise Conflict(f"{customer_id} was erased", field=field)
    return rows[survivor_id], rows[merged_id]


async def _move(tx: Tx, table: Any, survivor_id: str, merged_id: str) -> int:
    result = await tx.conn.execute(
        update(table).where(table.c.customer_id == merged_id).values(customer_id=survivor_id)
    )
    return int(result.rowcount)


async def _merge_consents(tx: Tx, survivor_id: str, merged_id: str) -> dict[str, Any]:
    before = current_consents(await consent_history(tx, survivor_id))
    moved = await _move(tx, customer_consents, survivor_id, merged_id)
    after = current_consents(await consent_history(tx, survivor_id))
    winners = {
        channel.value: "survivor" if before.get(channel) == decision else "merged"
        for channel, decision in sorted(after.items())
    }
    return {"moved": moved, "current_from": winners}


async def _merge_addresses(tx: Tx, survivor_id: str, merged_id: str) -> int:
    survivor_default = (await tx.conn.execute(
        select(customer_addresses.c.id).where(customer_addresses.c.customer_id == survivor_id,
                                              customer_addresses.c.is_default.is_(True))
    )).first()
    if survivor_default is not None:
        await tx.conn.execute(update(customer_addresses)
                              .where(customer_addresses.c.customer_id == merged_id)
                              .values(is_default=False))
    return await _move(tx, customer_addresses, survivor_id, merged_id)


async def _merge_favourites(tx: Tx, survivor_id: str, merged_id: str) -> dict[str, int]:
    def of(customer_id: str) -> Any:
        return select(customer_favourites.c.sku, customer_favourites.c.added_at).where(
            customer_favourites.c.customer_id == customer_id)

    kept = {r.sku: r.added_at for r in await tx.conn.execute(of(survivor_id))}
    theirs = {r.sku: r.added_at for r in await tx.conn.execute(of(merged_id))}
    new = [{"customer_id": survivor_id, "sku": sku, "added_at": at}
           for sku, at in sorted(theirs.items()) if sku not in kept]
    if new:
        await tx.conn.execute(insert(customer_favourites), new)
    for sku, at in theirs.items():
        if sku in kept and at < kept[sku]:
            await tx.conn.execute(update(customer_favourites).where(
                customer_favourites.c.customer_id == survivor_id,
                customer_favourites.c.sku == sku,
            ).values(added_at=at))
    await tx.conn.execute(
        delete(customer_favourites).where(customer_favourites.c.customer_id == merged_id)
    )
    return {"moved": len(new), "already_favourite": len(theirs) - len(new)}


async def _merge_profile(tx: Tx, survivor: Any, merged: Any) -> dict[str, Any]:
    filled = {f: getattr(merged, f) for f in FILLABLE
              if _empty(getattr(survivor, f)) and not _empty(getattr(merged, f))}
    theirs = dict(merged.attributes or {})
    mine = dict(survivor.attributes or {})
    added = [k for k in theirs if k not in mine]
    values: dict[str, Any] = dict(filled)
    if added:
        values["attributes"] = {**theirs, **mine}
    await tx.conn.execute(update(customers).where(customers.c.id == survivor.id)
                          .values(**values, updated_at=tx.now))
    # attribute keys are the retailer's free-form data: the audit counts them, never names them
    return {"filled": sorted(filled), "attributes_added": len(added)}


async def merge_customers(
    tx: Tx, survivor_id: str, merged_id: str, *, actor: object, steps: Sequence[MergeStep]
) -> CustomerMerge:
    """Merge ``merged_id`` into ``survivor_id`` inside ``tx``; return the audit record."""
    if not isinstance(actor, str) or not actor.strip() or len(actor) > 100:
        raise InvalidInput("must name who merges (staff id, job name)", field="actor")
    if survivor_id == merged_id:
        raise InvalidInput("a customer cannot be merged into itself", field="merged_id")
    survivor, merged = await _lock_pair(tx, survivor_id, merged_id)
    kinds = sorted({
        f"{r.kind}:{r.source}" if r.source else r.kind
        for r in await tx.conn.execute(
            select(customer_identities.c.kind, customer_identities.c.source)
            .where(customer_identities.c.customer_id == merged_id)
        )
    })
    summary: dict[str, Any] = {
        "identities": {"moved": await _move(tx, customer_identities, survivor_id, merged_id),
                       "kinds": kinds},
        "consents": await _merge_consents(tx, survivor_id, merged_id),
        "addresses": {"moved": await _merge_addresses(tx, survivor_id, merged_id)},
        "activity": {"moved": await _move(tx, customer_activity, survivor_id, merged_id)},
        "favourites": await _merge_favourites(tx, survivor_id, merged_id),
        "carts": {"moved": await _move(tx, carts, survivor_id, merged_id)},
        "orders": {"moved": await _move(tx, orders, survivor_id, merged_id)},
        "promotion_redemptions": {
            "moved": await _move(tx, promotion_redemptions, survivor_id, merged_id)
        },
        "profile": await _merge_profile(tx, survivor, merged),
    }
    step_results: dict[str, Any] = {}
    for step in steps:
        name = getattr(step, "__name__", None) or repr(step)
        while name in step_results:
            name += "'"
        step_results[name] = await step(tx, survivor_id, merged_id)
    summary["steps"] = step_results
    await tx.conn.execute(update(customers).where(customers.c.id == merged_id).values(
        status=CustomerStatus.MERGED.value, merged_into=survivor_id, updated_at=tx.now,
    ))
    await tx.conn.execute(insert(customer_merges).values(
        survivor_id=survivor_id, merged_id=merged_id, actor=actor.strip(), summary=summary,
        merged_at=tx.now,
    ))
    tx.emit("customer.merged", {"survivor_id": survivor_id, "merged_id": merged_id,
                                "actor": actor.strip(), "summary": summary})
    return CustomerMerge(survivor_id, merged_id, actor.strip(), summary, tx.now)


async def load_merges(tx: Tx, customer_ids: Sequence[str]) -> list[CustomerMerge]:
    """The audit records of merges into any of ``customer_ids``, oldest first."""
    rows = await tx.conn.execute(
        select(customer_merges).where(customer_merges.c.survivor_id.in_(list(customer_ids)))
        .order_by(customer_merges.c.merged_at, customer_merges.c.id)
    )
    return [CustomerMerge(r.survivor_id, r.merged_id, r.actor, dict(r.summary), r.merged_at)
            for r in rows]

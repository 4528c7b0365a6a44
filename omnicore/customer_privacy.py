"""Privacy requests: export everything held about a customer, or erase it.

Both act on the customer *and on every profile merged into it*: after a merge
they are one person. ``erase`` keeps no personal data and no consent history;
what remains is the row with status ``erased`` (so the id stays unusable and
order records of later domains keep a key), an erasure note (who, when, how
many rows of each kind were removed), and the merge audit (ids and counts).
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select, update

from omnicore.customer_activity import (
    consent_history,
    current_consents,
    load_activity,
    load_addresses,
    load_favourites,
)
from omnicore.customer_identity import (
    customer_from_row,
    customer_tree,
    load_identities,
    resolve,
)
from omnicore.customer_merge import load_merges
from omnicore.customer_models import CustomerStatus, Erasure
from omnicore.errors import InvalidInput
from omnicore.serialization import unstructure
from omnicore.store.tables import (
    cart_lines,
    carts,
    customer_activity,
    customer_addresses,
    customer_consents,
    customer_favourites,
    customer_identities,
    customers,
    outbox_events,
)

if TYPE_CHECKING:
    from omnicore.store.uow import Tx

__all__ = ["EraseStep", "ExportSection", "erase_customer", "export_customer"]

#: ``async def step(tx, customer_id) -> dict``: a later domain removes its personal data.
EraseStep = Callable[["Tx", str], Awaitable[dict[str, Any]]]
#: ``async def section(tx, customer_id) -> JSON data``: a later domain's part of an export.
ExportSection = Callable[["Tx", str], Awaitable[Any]]

#: Outbox events whose payload holds a profile or an identity; redacted on erasure.
PERSONAL_TOPICS = ("customer.created", "customer.updated", "customer.identity_added")


def _plain(row: Any, *, without: Sequence[str] = ()) -> dict[str, Any]:
    return {
        key: value.isoformat() if isinstance(value, dt.datetime) else value
        for key, value in row._mapping.items()
        if key not in without
    }


async def _carts(tx: Tx, customer_id: str) -> list[dict[str, Any]]:
    found = [
        _plain(r, without=("customer_id", "handoff_code", "handoff_expires_at"))
        for r in await tx.conn.execute(
            select(carts).where(carts.c.customer_id == customer_id).order_by(carts.c.created_at)
        )
    ]
    lines: Sequence[Any] = (await tx.conn.execute(
        select(cart_lines).where(cart_lines.c.cart_id.in_([c["id"] for c in found]))
        .order_by(cart_lines.c.cart_id, cart_lines.c.position)
    )).all() if found else []
    by_cart: dict[str, list[dict[str, Any]]] = {c["id"]: [] for c in found}
    for line in lines:
        by_cart[line.cart_id].append(_plain(line, without=("cart_id", "hold_id")))
    return [{**cart, "lines": by_cart[cart["id"]]} for cart in found]


async def export_customer(
    tx: Tx, customer_id: str, sections: Mapping[str, ExportSection]
) -> dict[str, Any]:
    """Everything held about the customer as JSON-ready data (dates as ISO 8601 text)."""
    row = await resolve(tx, customer_id)
    tree = await customer_tree(tx, row.id)
    history = await consent_history(tx, row.id)
    others: Sequence[Any] = (await tx.conn.execute(
        select(customers).where(customers.c.id.in_(tree[1:])).order_by(customers.c.created_at)
    )).all() if len(tree) > 1 else []
    data: dict[str, Any] = {
        "exported_at": tx.now.isoformat(),
        "customer": unstructure(customer_from_row(row, await load_identities(tx, row.id))),
        "consents": {
            "current": {channel.value: unstructure(decision)
                        for channel, decision in current_consents(history).items()},
            "history": unstructure(history),
        },
        "addresses": unstructure(await load_addresses(tx, row.id)),
        "activity": unstructure(await load_activity(tx, row.id)),
        "favourites": unstructure(await load_favourites(tx, row.id)),
        "carts": await _carts(tx, row.id),
        # the profiles merged into this one keep their own fields for the record
        "merged_profiles": [_plain(r, without=("status",)) for r in others],
        "merges": unstructure(await load_merges(tx, tree)),
    }
    for name, section in sections.items():
        if name in data:
            raise ValueError(f"export section {name!r} clashes with a built-in part")
        data[name] = await section(tx, row.id)
    return data


async def _redact_events(tx: Tx, ids: Sequence[str]) -> int:
    """Replace the payloads of outbox events that carry these customers' personal data."""
    redacted = 0
    for customer_id in ids:
        rows = await tx.conn.execute(
            select(outbox_events.c.id, outbox_events.c.payload).where(
                outbox_events.c.topic.in_(PERSONAL_TOPICS),
                outbox_events.c.payload.contains(customer_id, autoescape=True),
            )
        )
        for event_id, payload in rows.all():
            data = json.loads(payload)
            owner = data.get("customer_id") or data.get("customer", {}).get("id")
            if owner != customer_id:
                continue
            await tx.conn.execute(update(outbox_events).where(outbox_events.c.id == event_id)
                                  .values(payload=json.dumps({"customer_id": customer_id,
                                                              "redacted": "erased"})))
            redacted += 1
    return redacted


async def erase_customer(
    tx: Tx, customer_id: str, *, actor: object, steps: Sequence[EraseStep]
) -> Erasure:
    """Erase the customer (resolved through merges) and the profiles merged into it."""
    if not isinstance(actor, str) or not actor.strip() or len(actor) > 100:
        raise InvalidInput("must name who erases (staff id, privacy request id)", field="actor")
    row = await resolve(tx, customer_id, lock=True)
    tree = await customer_tree(tx, row.id)
    await tx.conn.execute(select(customers.c.id).where(customers.c.id.in_(tree))
                          .with_for_update())
    decisions = Counter(
        (r.contact_channel, "granted" if r.granted else "withdrawn")
        for r in await tx.conn.execute(
            select(customer_consents.c.contact_channel, customer_consents.c.granted)
            .where(customer_consents.c.customer_id.in_(tree))
        )
    )
    removed: dict[str, int] = {}
    for name, table in (("identities", customer_identities), ("addresses", customer_addresses),
                        ("consents", customer_consents), ("activity", customer_activity),
                        ("favourites", customer_favourites)):
        result = await tx.conn.execute(delete(table).where(table.c.customer_id.in_(tree)))
        removed[name] = int(result.rowcount)
    detached = await tx.conn.execute(
        update(carts).where(carts.c.customer_id.in_(tree)).values(customer_id=None)
    )
    removed["carts_detached"] = int(detached.rowcount)
    removed["events_redacted"] = await _redact_events(tx, tree)
    results = {getattr(step, "__name__", None) or repr(step): await step(tx, row.id)
               for step in steps}
    consent_counts: dict[str, dict[str, int]] = {}
    for (channel, decision), count in sorted(decisions.items()):
        consent_counts.setdefault(channel, {})[decision] = count
    note = {"erasure": {"at": tx.now.isoformat(), "actor": actor.strip(), "removed": removed,
                        "consent_decisions": consent_counts}}
    for erased_id in tree:
        await tx.conn.execute(update(customers).where(customers.c.id == erased_id).values(
            status=CustomerStatus.ERASED.value, first_name=None, last_name=None, language=None,
            preferred_store=None, attributes=note if erased_id == row.id else {},
            updated_at=tx.now,
        ))
    tx.emit("customer.erased", {"customer_id": row.id, "customer_ids": tree,
                                "actor": actor.strip(), "removed": removed})
    return Erasure(row.id, tree, removed, results, tx.now)


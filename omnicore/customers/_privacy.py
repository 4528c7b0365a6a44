"""Privacy requests: export everything held about a customer, or erase it.

Both act on the customer *and on every profile merged into it*: after a merge
they are one person. ``erase`` keeps no personal data and no consent history;
what remains is the row with status ``erased`` (so the id stays unusable and
order records keep a key), an erasure note (who, when, how many rows of each
kind were removed), and the merge audit (ids and counts).

Orders are kept — the accounts need them — without their personal data: the
orders of the customer, and the guest orders placed with one of its e-mails or
phones, lose their e-mail and phone, their delivery addresses, recipients,
phones, instructions and positions; the checkout requests behind them lose
their contact; the ``order.*`` events in the outbox lose ``email`` and
``phone``. ``orders.customer_id`` stays: it names an erased row that says nothing
about the person, and "how many orders did that customer place" stays answerable.
Detached carts lose their delivery groups (addresses) as well.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, or_, select, update

from omnicore.customers._activity import (
    consent_history,
    current_consents,
    load_activity,
    load_addresses,
    load_favourites,
)
from omnicore.customers._identity import customer_from_row, customer_tree, load_identities, resolve
from omnicore.customers._merge import load_merges
from omnicore.customers._models import CustomerStatus, Erasure
from omnicore.errors import InvalidInput
from omnicore.serialization import unstructure
from omnicore.store.order_tables import checkouts, delivery_groups, order_lines, orders, payments
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
#: Built-in export parts a registered section of the same name replaces.
REPLACEABLE = frozenset({"orders"})
#: What a delivery group's ``details`` may say about the person; cleared on erasure.
GROUP_PERSONAL = ("recipient", "phone", "instructions", "geo")


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


async def _orders(tx: Tx, tree: Sequence[str]) -> list[dict[str, Any]]:
    """The orders of every channel, with their lines, delivery groups and payments."""
    found = [_plain(r) for r in await tx.conn.execute(
        select(orders).where(orders.c.customer_id.in_(list(tree)))
        .order_by(orders.c.placed_at, orders.c.id))]
    ids = [o["id"] for o in found]
    parts: dict[str, dict[str, list[dict[str, Any]]]] = {
        i: {"lines": [], "delivery_groups": [], "payments": []} for i in ids}
    if ids:
        for name, table, query in (
            ("lines", order_lines, select(order_lines).order_by(order_lines.c.position)),
            ("delivery_groups", delivery_groups,
             select(delivery_groups).order_by(delivery_groups.c.key)),
            ("payments", payments,
             select(payments.c.order_id, payments.c.gateway, payments.c.currency,
                    payments.c.amount_minor, payments.c.captured_minor,
                    payments.c.refunded_minor, payments.c.status, payments.c.created_at)
             .order_by(payments.c.created_at)),
        ):
            for row in await tx.conn.execute(query.where(table.c.order_id.in_(ids))):
                parts[row.order_id][name].append(_plain(row, without=("order_id",)))
    return [{**order, **parts[order["id"]]} for order in found]


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
        "orders": await _orders(tx, tree),
        # the profiles merged into this one keep their own fields for the record
        "merged_profiles": [_plain(r, without=("status",)) for r in others],
        "merges": unstructure(await load_merges(tx, tree)),
    }
    for name, section in sections.items():
        if name in data and name not in REPLACEABLE:
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


async def _anonymise_orders(tx: Tx, tree: Sequence[str]) -> tuple[list[str], list[str]]:
    """Remove the personal data of the customer's orders and of the guest orders placed
    with its e-mails or phones; returns their ids and the contacts they had."""
    contacts = {(kind, value) for kind, value in await tx.conn.execute(
        select(customer_identities.c.kind, customer_identities.c.value).where(
            customer_identities.c.customer_id.in_(list(tree)),
            customer_identities.c.kind.in_(["email", "phone"])))}
    emails = sorted(v for k, v in contacts if k == "email")
    phones = sorted(v for k, v in contacts if k == "phone")
    rows = (await tx.conn.execute(
        select(orders.c.id, orders.c.email, orders.c.phone, orders.c.cart_id).where(or_(
            orders.c.customer_id.in_(list(tree)), orders.c.email.in_(emails),
            orders.c.phone.in_(phones))).with_for_update())).all()
    ids = [r.id for r in rows]
    if not ids:
        return [], []
    known = {v for r in rows for v in (r.email, r.phone) if v} | set(emails) | set(phones)
    await tx.conn.execute(update(orders).where(orders.c.id.in_(ids))
                          .values(email=None, phone=None, updated_at=tx.now))
    groups = (await tx.conn.execute(
        select(delivery_groups.c.order_id, delivery_groups.c.key, delivery_groups.c.details)
        .where(delivery_groups.c.order_id.in_(ids)))).all()
    for group in groups:
        details = {**dict(group.details), **dict.fromkeys(GROUP_PERSONAL)}
        await tx.conn.execute(update(delivery_groups).where(
            delivery_groups.c.order_id == group.order_id, delivery_groups.c.key == group.key,
        ).values(address=None, details=details))
    cart_ids = [r.cart_id for r in rows if r.cart_id]
    if cart_ids:  # a guest's checked-out cart still holds the delivery address
        await tx.conn.execute(update(carts).where(carts.c.id.in_(cart_ids)).values(delivery=None))
    for key, request in (await tx.conn.execute(
            select(checkouts.c.key, checkouts.c.request)
            .where(checkouts.c.order_id.in_(ids)))).all():
        await tx.conn.execute(update(checkouts).where(checkouts.c.key == key).values(
            request={**dict(request), "email": None, "phone": None}))
    return ids, sorted(known)


async def _redact_order_events(tx: Tx, order_ids: Sequence[str],
                               needles: Sequence[str]) -> int:
    """Clear ``email`` and ``phone`` in the outbox's ``order.*`` events of these orders."""
    if not order_ids or not needles:
        return 0
    wanted = set(order_ids)
    rows = await tx.conn.execute(
        select(outbox_events.c.id, outbox_events.c.payload).where(
            outbox_events.c.topic.like("order.%"),
            or_(*[outbox_events.c.payload.contains(n, autoescape=True) for n in needles])))
    redacted = 0
    for event_id, payload in rows.all():
        data = json.loads(payload)
        if data.get("order_id") not in wanted or not (data.get("email") or data.get("phone")):
            continue
        data.update(email=None, phone=None)
        await tx.conn.execute(update(outbox_events).where(outbox_events.c.id == event_id)
                              .values(payload=json.dumps(data, separators=(",", ":"))))
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
    order_ids, contacts = await _anonymise_orders(tx, tree)
    removed: dict[str, int] = {}
    for name, table in (("identities", customer_identities), ("addresses", customer_addresses),
                        ("consents", customer_consents), ("activity", customer_activity),
                        ("favourites", customer_favourites)):
        result = await tx.conn.execute(delete(table).where(table.c.customer_id.in_(tree)))
        removed[name] = int(result.rowcount)
    detached = await tx.conn.execute(
        update(carts).where(carts.c.customer_id.in_(tree)).values(customer_id=None,
                                                                  delivery=None)
    )
    removed["carts_detached"] = int(detached.rowcount)
    removed["orders_anonymised"] = len(order_ids)
    removed["events_redacted"] = (await _redact_events(tx, tree)
                                  + await _redact_order_events(tx, order_ids,
                                                               [*tree, *contacts]))
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


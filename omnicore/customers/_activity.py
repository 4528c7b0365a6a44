"""What a customer does and decides: consents, activity, favourites, the address book.

These are the rows of one customer that ``merge`` moves, ``view`` summarises,
``export`` returns and ``erase`` deletes. The functions here run inside a
transaction the service opened; they validate and raise typed errors before
anything is written.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, insert, select, update

from omnicore.customers._models import (
    Activity,
    ActivityKind,
    ConsentDecision,
    ContactChannel,
    Favourite,
    SavedAddress,
)
from omnicore.errors import InvalidInput, NotFound
from omnicore.network import Address
from omnicore.serialization import structure, unstructure
from omnicore.store.tables import (
    channels,
    customer_activity,
    customer_addresses,
    customer_consents,
    customer_favourites,
    locations,
    products,
    variants,
)

if TYPE_CHECKING:
    from omnicore.store.uow import Tx

__all__ = [
    "activity_from_row",
    "activity_kind",
    "add_activity",
    "add_favourite",
    "consent_history",
    "contact_channel",
    "current_consents",
    "delete_address",
    "load_activity",
    "load_addresses",
    "load_favourites",
    "record_consent",
    "remove_favourite",
    "require_channel",
    "require_location",
    "require_sku",
    "save_address",
]

#: Kinds that are about one SKU and need it.
_NEEDS_SKU = {ActivityKind.PRODUCT_VIEWED, ActivityKind.FAVOURITE_ADDED,
              ActivityKind.FAVOURITE_REMOVED}
TEXT_MAX = 200
QUERY_MAX = 500


async def require_channel(tx: Tx, code: object, *, field: str = "channel") -> str:
    if not isinstance(code, str) or not (await tx.conn.execute(
        select(channels.c.code).where(channels.c.code == code)
    )).first():
        raise NotFound(f"no channel {code!r}", field=field)
    return code


async def require_location(tx: Tx, code: object, *, field: str = "location") -> str:
    if not isinstance(code, str) or not (await tx.conn.execute(
        select(locations.c.code).where(locations.c.code == code)
    )).first():
        raise NotFound(f"no location {code!r}", field=field)
    return code


async def require_sku(tx: Tx, sku: object, *, field: str = "sku") -> str:
    if not isinstance(sku, str) or not (await tx.conn.execute(
        select(variants.c.sku).where(variants.c.sku == sku)
    )).first():
        raise NotFound(f"no variant {sku!r}", field=field)
    return sku


# -- consents -----------------------------------------------------------------------------


def contact_channel(value: object) -> ContactChannel:
    try:
        return ContactChannel(str(value))
    except ValueError:
        known = ", ".join(c.value for c in ContactChannel)
        raise InvalidInput(f"{value!r} is not a contact channel ({known})",
                           field="contact_channel") from None


def _decision(row: Any) -> ConsentDecision:
    return ConsentDecision(ContactChannel(row.contact_channel), row.granted, row.source,
                           row.recorded_at)


async def consent_history(tx: Tx, customer_id: str) -> list[ConsentDecision]:
    """Every decision of the customer, oldest first (same instant: in recording order)."""
    rows = await tx.conn.execute(
        select(customer_consents)
        .where(customer_consents.c.customer_id == customer_id)
        .order_by(customer_consents.c.recorded_at, customer_consents.c.id)
    )
    return [_decision(r) for r in rows]


def current_consents(history: list[ConsentDecision]) -> dict[ContactChannel, ConsentDecision]:
    """The last decision per contact channel of a history in recording order."""
    current: dict[ContactChannel, ConsentDecision] = {}
    for decision in history:
        current[decision.contact_channel] = decision
    return current


async def record_consent(
    tx: Tx, customer_id: str, channel: ContactChannel, granted: object, source: object
) -> ConsentDecision:
    if not isinstance(granted, bool):
        raise InvalidInput("must be true or false", field="granted")
    if not isinstance(source, str) or not source.strip() or len(source) > 100:
        raise InvalidInput("must name where the decision was taken (web-signup, pos, staff:…)",
                           field="source")
    await tx.conn.execute(insert(customer_consents).values(
        customer_id=customer_id, contact_channel=channel.value, granted=granted,
        source=source.strip(), recorded_at=tx.now,
    ))
    return ConsentDecision(channel, granted, source.strip(), tx.now)


# -- activity -----------------------------------------------------------------------------


def activity_kind(value: object) -> ActivityKind:
    try:
        return ActivityKind(str(value))
    except ValueError:
        known = ", ".join(k.value for k in ActivityKind)
        raise InvalidInput(f"{value!r} is not an activity kind ({known})", field="kind") from None


def _text(value: object, field: str, limit: int = TEXT_MAX) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise InvalidInput(f"must be a non-empty string of at most {limit} characters",
                           field=field)
    return value.strip()


def _data(value: object) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise InvalidInput("must be a mapping with string keys", field="data")
    try:
        json.dumps(dict(value))
    except (TypeError, ValueError):
        raise InvalidInput("must hold JSON values only", field="data") from None
    return dict(value)


async def add_activity(
    tx: Tx, customer_id: str, kind: object, *, channel: object, sku: object = None,
    category: object = None, query: object = None, location: object = None, data: object = None,
) -> Activity:
    """Validate and append one activity event (nothing is written if anything is wrong)."""
    parsed = activity_kind(kind)
    payload = _data(data)
    text_category = _text(category, "category")
    text_query = _text(query, "query", QUERY_MAX)
    if parsed in _NEEDS_SKU and sku is None:
        raise InvalidInput(f"a {parsed.value} event needs a SKU", field="sku")
    if parsed is ActivityKind.SEARCH and text_query is None:
        raise InvalidInput("a search event needs the query", field="query")
    if parsed is ActivityKind.STORE_VISIT and location is None:
        raise InvalidInput("a store_visit event needs the location", field="location")
    channel_code = await require_channel(tx, channel)
    sku_code = None if sku is None else await require_sku(tx, sku)
    location_code = None if location is None else await require_location(tx, location)
    if text_query is not None:
        payload["query"] = text_query
    result = await tx.conn.execute(insert(customer_activity).values(
        customer_id=customer_id, kind=parsed.value, channel_code=channel_code, sku=sku_code,
        category=text_category, location_code=location_code, data=payload, occurred_at=tx.now,
    ))
    (activity_id,) = result.inserted_primary_key or (0,)
    return Activity(int(activity_id), parsed, channel_code, tx.now, sku_code, text_category,
                    location_code, text_query, {k: v for k, v in payload.items() if k != "query"})


def activity_from_row(row: Any) -> Activity:
    data = dict(row.data or {})
    query = data.pop("query", None)
    return Activity(row.id, ActivityKind(row.kind), row.channel_code, row.occurred_at, row.sku,
                    row.category, row.location_code, query, data)


async def load_activity(
    tx: Tx, customer_id: str, *, kind: ActivityKind | None = None, limit: int | None = None
) -> list[Activity]:
    """The customer's activity, newest first."""
    query = (
        select(customer_activity)
        .where(customer_activity.c.customer_id == customer_id)
        .order_by(customer_activity.c.occurred_at.desc(), customer_activity.c.id.desc())
    )
    if kind is not None:
        query = query.where(customer_activity.c.kind == kind.value)
    if limit is not None:
        query = query.limit(limit)
    return [activity_from_row(r) for r in await tx.conn.execute(query)]


# -- favourites and addresses -------------------------------------------------------------


async def load_favourites(tx: Tx, customer_id: str) -> list[Favourite]:
    """The customer's favourites, newest first, with their product titles."""
    rows = await tx.conn.execute(
        select(customer_favourites.c.sku, customer_favourites.c.added_at, products.c.title)
        .select_from(
            customer_favourites
            .outerjoin(variants, variants.c.sku == customer_favourites.c.sku)
            .outerjoin(products, products.c.id == variants.c.product_id)
        )
        .where(customer_favourites.c.customer_id == customer_id)
        .order_by(customer_favourites.c.added_at.desc(), customer_favourites.c.sku)
    )
    return [Favourite(r.sku, r.added_at, r.title) for r in rows]


async def load_addresses(tx: Tx, customer_id: str) -> list[SavedAddress]:
    """The address book: the default address first, then in the order they were added."""
    rows = await tx.conn.execute(
        select(customer_addresses)
        .where(customer_addresses.c.customer_id == customer_id)
        .order_by(customer_addresses.c.is_default.desc(), customer_addresses.c.id)
    )
    return [SavedAddress(r.id, structure(r.address, Address), r.label, r.is_default)
            for r in rows]


async def save_address(
    tx: Tx, customer_id: str, address: Address | Mapping[str, Any], *, label: object,
    default: object,
) -> SavedAddress:
    """Add an address; the first one, or one added with ``default``, becomes the default."""
    if not isinstance(address, Address):
        if not isinstance(address, Mapping):
            raise InvalidInput("expected an address", field="address")
        address = structure(dict(address), Address, field="address")
    text_label = _text(label, "label", 100)
    if not isinstance(default, bool):
        raise InvalidInput("must be true or false", field="default")
    has_default = (await tx.conn.execute(
        select(customer_addresses.c.id).where(
            customer_addresses.c.customer_id == customer_id,
            customer_addresses.c.is_default.is_(True),
        )
    )).first() is not None
    if default and has_default:
        await tx.conn.execute(
            update(customer_addresses)
            .where(customer_addresses.c.customer_id == customer_id)
            .values(is_default=False)
        )
    is_default = default or not has_default
    result = await tx.conn.execute(insert(customer_addresses).values(
        customer_id=customer_id, label=text_label, address=unstructure(address),
        is_default=is_default,
    ))
    (address_id,) = result.inserted_primary_key or (0,)
    return SavedAddress(int(address_id), address, text_label, is_default)


async def delete_address(tx: Tx, customer_id: str, address_id: object) -> None:
    """Delete an address; if it was the default, the oldest remaining one becomes it."""
    mine = customer_addresses.c.customer_id == customer_id
    gone = (await tx.conn.execute(
        delete(customer_addresses).where(mine, customer_addresses.c.id == address_id)
        .returning(customer_addresses.c.is_default)
    )).first() if isinstance(address_id, int) and not isinstance(address_id, bool) else None
    if gone is None:
        raise NotFound(f"the customer has no address {address_id!r}", field="address_id")
    if gone.is_default:
        first = (await tx.conn.execute(
            select(customer_addresses.c.id).where(mine).order_by(customer_addresses.c.id)
        )).scalar()
        if first is not None:
            await tx.conn.execute(update(customer_addresses)
                                  .where(customer_addresses.c.id == first).values(is_default=True))


async def add_favourite(tx: Tx, customer_id: str, sku: object, *, channel: object) -> Favourite:
    """Add a favourite once; record ``favourite_added`` only when it is new."""
    await require_channel(tx, channel)
    code = await require_sku(tx, sku)
    exists = (await tx.conn.execute(select(customer_favourites.c.sku).where(
        customer_favourites.c.customer_id == customer_id, customer_favourites.c.sku == code,
    ))).first()
    if not exists:
        await tx.conn.execute(insert(customer_favourites).values(
            customer_id=customer_id, sku=code, added_at=tx.now))
        await add_activity(tx, customer_id, ActivityKind.FAVOURITE_ADDED, channel=channel,
                           sku=code)
    return next(f for f in await load_favourites(tx, customer_id) if f.sku == code)


async def remove_favourite(tx: Tx, customer_id: str, sku: object, *, channel: object) -> bool:
    """Remove a favourite and record ``favourite_removed``; False if it was not one."""
    await require_channel(tx, channel)
    code = await require_sku(tx, sku)
    removed = (await tx.conn.execute(delete(customer_favourites).where(
        customer_favourites.c.customer_id == customer_id, customer_favourites.c.sku == code,
    ))).rowcount
    if removed:
        await add_activity(tx, customer_id, ActivityKind.FAVOURITE_REMOVED, channel=channel,
                           sku=code)
    return bool(removed)

"""The 360° view of one customer, as the associate's tablet shows it (clienteling).

Built in one read transaction with a fixed number of queries, whatever the
amount of activity or orders: aggregates (recently viewed, top categories, cart
line counts, the number of orders) are computed by the database, not by loading
every event; the orders of every channel are listed from their own rows (one
query, newest first, at most ``RECENT_ORDERS``), never loaded order by order.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

import attrs
from sqlalchemy import bindparam, func, select

from omnicore.customers._activity import (
    consent_history,
    current_consents,
    load_addresses,
    load_favourites,
)
from omnicore.customers._identity import customer_from_row, load_identities, resolve
from omnicore.customers._models import (
    ActivityKind,
    ConsentDecision,
    ContactChannel,
    Customer,
    Favourite,
    SavedAddress,
)
from omnicore.money import Money
from omnicore.orders import OrderStatus
from omnicore.store.order_tables import orders
from omnicore.store.tables import cart_lines, carts, customer_activity, products, variants

if TYPE_CHECKING:
    from omnicore.store.uow import Tx

__all__ = [
    "CartSummary",
    "CategoryCount",
    "CustomerView",
    "OrderSummary",
    "ViewSection",
    "ViewedProduct",
    "build_view",
]

#: ``async def section(tx, customer_id) -> value`` contributed by a later domain.
ViewSection = Callable[["Tx", str], Awaitable[Any]]

RECENTLY_VIEWED = 20
TOP_CATEGORIES = 5
RECENT_ORDERS = 50


@attrs.frozen
class CartSummary:
    """An open cart of the customer, on whichever channel it was started."""

    id: str
    channel: str
    currency: str
    line_count: int
    quantity: int
    updated_at: dt.datetime


@attrs.frozen
class ViewedProduct:
    """A SKU the customer looked at: when last, how often, and what it is."""

    sku: str
    last_viewed_at: dt.datetime
    views: int
    product_title: str | None
    variant_title: str | None


@attrs.frozen
class OrderSummary:
    """One order of the customer, from any channel: a web checkout (``source`` ``""``)
    or an order imported from a marketplace or a POS (``source`` ``amazon``, ``square``)."""

    id: str
    number: str
    channel: str
    status: OrderStatus
    total: Money
    placed_at: dt.datetime
    source: str
    external_id: str | None


@attrs.frozen
class CategoryCount:
    """A category and how many activity events touched it."""

    category: str
    events: int


@attrs.frozen
class CustomerView:
    """Everything an associate needs about one customer, on one screen."""

    customer: Customer
    consents: dict[ContactChannel, ConsentDecision]
    addresses: list[SavedAddress]
    open_carts: list[CartSummary]
    favourites: list[Favourite]
    recently_viewed: list[ViewedProduct]
    top_categories: list[CategoryCount]
    #: the newest ``RECENT_ORDERS`` orders of every channel (``OrderSummary``), newest
    #: first; a registered ``view_sections["orders"]`` replaces them
    orders: list[Any] = attrs.field(factory=list)
    #: how many orders the customer has in all (``orders`` lists the newest only)
    order_count: int = 0
    #: filled by ``view_sections["loyalty"]``
    loyalty: list[Any] = attrs.field(factory=list)
    #: the results of any other registered section, by name
    extra: dict[str, Any] = attrs.field(factory=dict)


async def _open_carts(tx: Tx, customer_id: str) -> list[CartSummary]:
    rows = await tx.conn.execute(
        select(carts.c.id, carts.c.channel_code, carts.c.currency, carts.c.updated_at,
               func.count(cart_lines.c.id).label("lines"),
               func.coalesce(func.sum(cart_lines.c.quantity), 0).label("quantity"))
        .select_from(carts.outerjoin(cart_lines, cart_lines.c.cart_id == carts.c.id))
        .where(carts.c.customer_id == customer_id, carts.c.status == "open")
        .group_by(carts.c.id, carts.c.channel_code, carts.c.currency, carts.c.updated_at)
        .order_by(carts.c.updated_at.desc(), carts.c.id)
    )
    return [CartSummary(r.id, r.channel_code, r.currency, int(r.lines), int(r.quantity),
                        r.updated_at) for r in rows]


# Built once: the statement's cache key is memoized, so each view skips building it.
_RECENT_ORDERS = (
    select(orders.c.id, orders.c.number, orders.c.channel_code, orders.c.status,
           orders.c.currency, orders.c.total_minor, orders.c.placed_at, orders.c.source,
           orders.c.external_id, func.count().over().label("order_count"))
    .where(orders.c.customer_id == bindparam("customer_id", type_=orders.c.customer_id.type))
    .order_by(orders.c.placed_at.desc(), orders.c.id.desc())
    .limit(RECENT_ORDERS)
)


async def _orders(tx: Tx, customer_id: str) -> tuple[list[OrderSummary], int]:
    """The newest orders and, in the same query, how many there are in all."""
    rows = (await tx.conn.execute(_RECENT_ORDERS, {"customer_id": customer_id})).all()
    found = [OrderSummary(r.id, r.number, r.channel_code, OrderStatus(r.status),
                          Money.from_minor_units(r.total_minor, r.currency), r.placed_at,
                          r.source, r.external_id) for r in rows]
    return found, int(rows[0].order_count) if rows else 0


def _with_catalog(table: Any) -> Any:
    return (table.outerjoin(variants, variants.c.sku == customer_activity.c.sku)
            .outerjoin(products, products.c.id == variants.c.product_id))


async def _recently_viewed(tx: Tx, customer_id: str) -> list[ViewedProduct]:
    last = func.max(customer_activity.c.occurred_at)
    rows = await tx.conn.execute(
        select(customer_activity.c.sku, last.label("last"), func.count().label("views"),
               products.c.title.label("product_title"), variants.c.title.label("variant_title"))
        .select_from(_with_catalog(customer_activity))
        .where(customer_activity.c.customer_id == customer_id,
               customer_activity.c.kind == ActivityKind.PRODUCT_VIEWED.value,
               customer_activity.c.sku.is_not(None))
        .group_by(customer_activity.c.sku, products.c.title, variants.c.title)
        .order_by(last.desc(), customer_activity.c.sku)
        .limit(RECENTLY_VIEWED)
    )
    return [ViewedProduct(r.sku, _aware(r.last), int(r.views), r.product_title, r.variant_title)
            for r in rows]


def _aware(value: Any) -> dt.datetime:
    # MAX() loses the column type: SQLite returns text, PostgreSQL a naive timestamp
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    assert isinstance(value, dt.datetime)
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


async def _top_categories(tx: Tx, customer_id: str) -> list[CategoryCount]:
    # an event's own category, else the family of the product its SKU belongs to
    category = func.coalesce(customer_activity.c.category, products.c.family)
    count = func.count()
    rows = await tx.conn.execute(
        select(category.label("category"), count.label("events"))
        .select_from(_with_catalog(customer_activity))
        .where(customer_activity.c.customer_id == customer_id, category.is_not(None))
        .group_by(category)
        .order_by(count.desc(), category)
        .limit(TOP_CATEGORIES)
    )
    return [CategoryCount(r.category, int(r.events)) for r in rows]


async def build_view(
    tx: Tx, customer_id: str, sections: Mapping[str, ViewSection]
) -> CustomerView:
    """The view of ``customer_id`` (resolved through merges) inside ``tx``."""
    row = await resolve(tx, customer_id)
    results = {name: await section(tx, row.id) for name, section in sections.items()}
    recent, count = await _orders(tx, row.id)
    return CustomerView(
        customer=customer_from_row(row, await load_identities(tx, row.id)),
        consents=current_consents(await consent_history(tx, row.id)),
        addresses=await load_addresses(tx, row.id),
        open_carts=await _open_carts(tx, row.id),
        favourites=await load_favourites(tx, row.id),
        recently_viewed=await _recently_viewed(tx, row.id),
        top_categories=await _top_categories(tx, row.id),
        orders=results.pop("orders", recent),
        order_count=count,
        loyalty=results.pop("loyalty", []),
        extra=results,
    )

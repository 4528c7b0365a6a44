"""The catalog: products, their variants (one SKU each) and price lists.

A product groups variants (size, colour …); the SKU is the unit that is
stocked, priced and sold. Prices form one list per currency (the retailer's
default) that a channel may override SKU by SKU.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs
from sqlalchemy import or_, select

from omnicore import validators
from omnicore.catalog._revision import bump_revision, read_revision
from omnicore.errors import Conflict, InvalidInput, NotFound
from omnicore.money import Money
from omnicore.serialization import structure, unstructure
from omnicore.store.tables import prices, products, variants
from omnicore.store.upsert import upsert

if TYPE_CHECKING:
    from omnicore.store.uow import Tx, UnitOfWork

__all__ = ["CatalogService", "Page", "Price", "Product", "Variant"]


@attrs.frozen
class Variant:
    """A sellable unit: one SKU, optionally a GTIN barcode."""

    sku: str = attrs.field(validator=validators.sku)
    title: str = attrs.field(default="", validator=validators.max_length(500))
    attributes: dict[str, str] = attrs.field(factory=dict)
    barcode: str | None = attrs.field(default=None, validator=validators.gtin)


def _unique_skus(_: object, attribute: attrs.Attribute[Any], value: list[Variant]) -> None:
    if not value:
        raise InvalidInput("a product needs at least one variant", field=attribute.name)
    seen: set[str] = set()
    barcodes: set[str] = set()
    for index, variant in enumerate(value):
        if variant.sku in seen:
            raise InvalidInput(
                f"SKU {variant.sku!r} is listed twice", field=f"variants[{index}].sku"
            )
        seen.add(variant.sku)
        if variant.barcode is not None:  # else the unique index fails with an IntegrityError
            if variant.barcode in barcodes:
                raise InvalidInput(
                    f"barcode {variant.barcode} is listed twice", field=f"variants[{index}].barcode"
                )
            barcodes.add(variant.barcode)


@attrs.frozen
class Product:
    """A product and its variants; ``handle`` is its unique, URL-friendly key."""

    handle: str = attrs.field(validator=[validators.handle, validators.max_length(200)])
    title: str = attrs.field(validator=[validators.non_empty, validators.max_length(500)])
    variants: list[Variant] = attrs.field(validator=_unique_skus)
    description: str = ""
    family: str | None = attrs.field(default=None, validator=validators.max_length(100))
    attributes: dict[str, str] = attrs.field(factory=dict)
    images: list[str] = attrs.field(factory=list)
    id: str | None = None


def _not_negative_money(_: object, attribute: attrs.Attribute[Any], value: Money | None) -> None:
    if value is not None and value.amount < 0:
        raise InvalidInput("must not be negative", field=attribute.name)


@attrs.frozen
class Price:
    """The price of a SKU in a currency; ``channel`` None is the default list."""

    sku: str = attrs.field(validator=validators.sku)
    amount: Money = attrs.field(validator=_not_negative_money)
    channel: str | None = None
    compare_at: Money | None = attrs.field(default=None, validator=_not_negative_money)


@attrs.frozen
class Page:
    """One page of a cursor-paginated list."""

    items: list[Product]
    end_cursor: str | None
    has_next_page: bool


def _encode_cursor(handle: str) -> str:
    return base64.urlsafe_b64encode(handle.encode()).decode()


def _decode_cursor(cursor: str) -> str:
    try:
        return base64.urlsafe_b64decode(cursor.encode()).decode()
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput("is not a cursor of this list", field="after") from None


def _product_row(product: Product, product_id: str, now: Any) -> dict[str, Any]:
    return {
        "id": product_id,
        "handle": product.handle,
        "title": product.title,
        "description": product.description,
        "family": product.family,
        "attributes": product.attributes,
        "images": product.images,
        "created_at": now,
        "updated_at": now,
    }


class CatalogService:
    """``commerce.catalog``: products, variants and prices."""

    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow

    async def save_product(self, product: Product | Mapping[str, Any]) -> Product:
        """Create or update a product by ``handle`` (``product.created`` / ``product.updated``).

        Variants are upserted by SKU; variants not listed are kept. A SKU that
        belongs to another product raises ``Conflict`` naming ``variants[i].sku``.
        """
        return (await self.save_products([product]))[0]

    async def save_products(self, items: Iterable[Product | Mapping[str, Any]]) -> list[Product]:
        """Save many products in one transaction: all of them or none."""
        parsed = [
            item if isinstance(item, Product) else structure(dict(item), Product) for item in items
        ]
        async with self._uow() as tx:
            saved = [await _save_one(tx, product) for product in parsed]
            await bump_revision(tx)
            return saved

    async def set_prices(self, items: Sequence[Price | Mapping[str, Any]]) -> None:
        """Set prices (all or none); every SKU and channel must exist."""
        parsed = [p if isinstance(p, Price) else structure(dict(p), Price) for p in items]
        async with self._uow() as tx:
            await set_prices(tx, parsed)
            await bump_revision(tx)

    async def revision(self) -> int:
        """The catalog's revision: it moves with every save of products or prices."""
        async with self._uow.read() as tx:
            return await read_revision(tx)

    async def product(self, *, handle: str | None = None, sku: str | None = None) -> Product:
        """One product by handle or by the SKU of one of its variants."""
        async with self._uow.read() as tx:
            if handle is not None:
                row = (
                    await tx.conn.execute(select(products).where(products.c.handle == handle))
                ).first()
                if row is None:
                    raise NotFound(f"no product {handle!r}", field="handle")
            elif sku is not None:
                row = (
                    await tx.conn.execute(
                        select(products)
                        .join(variants, variants.c.product_id == products.c.id)
                        .where(variants.c.sku == sku)
                    )
                ).first()
                if row is None:
                    raise NotFound(f"no variant {sku!r}", field="sku")
            else:
                raise InvalidInput("give a handle or a SKU", field="handle")
            return (await _load(tx, [row]))[0]

    async def products(
        self, *, query: str | None = None, first: int = 20, after: str | None = None
    ) -> Page:
        """Products ordered by handle, ``first`` per page, after an opaque cursor."""
        if not 1 <= first <= 250:
            raise InvalidInput("must be between 1 and 250", field="first")
        statement = select(products).order_by(products.c.handle).limit(first + 1)
        if after:
            statement = statement.where(products.c.handle > _decode_cursor(after))
        if query:
            # % and _ typed by a shopper are searched for literally, not as wildcards
            escaped = query.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            like = f"%{escaped}%"
            statement = statement.where(
                or_(
                    products.c.title.ilike(like, escape="\\"),
                    products.c.handle.ilike(like, escape="\\"),
                )
            )
        async with self._uow.read() as tx:
            rows = (await tx.conn.execute(statement)).all()
            items = await _load(tx, rows[:first])
        end = _encode_cursor(items[-1].handle) if items else None
        return Page(items, end, len(rows) > first)

    async def prices_for(
        self, skus: Sequence[str], *, currency: str, channel: str | None = None
    ) -> dict[str, Price]:
        """The price of each SKU for a channel: its own list first, else the default."""
        async with self._uow.read() as tx:
            return await prices_for(tx, skus, currency=currency, channel=channel)

    async def skus_exist(self, skus: Iterable[str]) -> set[str]:
        """Which of ``skus`` are known variants."""
        wanted = list(set(skus))
        async with self._uow.read() as tx:
            return await existing_skus(tx, wanted)


async def existing_skus(tx: Tx, skus: Sequence[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(skus), 500):
        chunk = skus[start : start + 500]
        result = await tx.conn.execute(select(variants.c.sku).where(variants.c.sku.in_(chunk)))
        found.update(result.scalars())
    return found


async def _save_one(tx: Tx, product: Product) -> Product:
    existing = (
        await tx.conn.execute(select(products.c.id).where(products.c.handle == product.handle))
    ).scalar()
    product_id = existing or f"prod_{secrets.token_hex(8)}"
    skus = [v.sku for v in product.variants]
    owners = (
        await tx.conn.execute(
            select(variants.c.sku, variants.c.product_id).where(variants.c.sku.in_(skus))
        )
    ).all()
    for sku, owner in owners:
        if owner != product_id:
            index = skus.index(sku)
            raise Conflict(
                f"SKU {sku!r} belongs to another product", field=f"variants[{index}].sku"
            )
    barcodes = [v.barcode for v in product.variants if v.barcode]
    if barcodes:
        clashes = (
            await tx.conn.execute(
                select(variants.c.sku, variants.c.barcode).where(variants.c.barcode.in_(barcodes))
            )
        ).all()
        for other_sku, barcode in clashes:
            if other_sku not in skus:
                index = next(i for i, v in enumerate(product.variants) if v.barcode == barcode)
                raise Conflict(
                    f"barcode {barcode} is used by {other_sku}", field=f"variants[{index}].barcode"
                )
    row = _product_row(product, product_id, tx.now)
    await upsert(
        tx.conn,
        products,
        [row],
        ["handle"],
        update=[c for c in row if c not in ("id", "handle", "created_at")],
    )
    await upsert(
        tx.conn,
        variants,
        [
            {
                "sku": v.sku,
                "product_id": product_id,
                "title": v.title,
                "attributes": v.attributes,
                "barcode": v.barcode,
                "position": i,
            }
            for i, v in enumerate(product.variants)
        ],
        ["sku"],
    )
    saved = attrs.evolve(product, id=product_id)
    tx.emit("product.updated" if existing else "product.created", unstructure(saved))
    return saved


async def set_prices(tx: Tx, items: Sequence[Price]) -> None:
    if not items:
        return
    from omnicore.network import get_channel

    known = await existing_skus(tx, list({p.sku for p in items}))
    for index, price in enumerate(items):
        if price.sku not in known:
            raise NotFound(f"no variant {price.sku!r}", field=f"[{index}].sku")
        if price.compare_at and price.compare_at.currency != price.amount.currency:
            raise InvalidInput("must be in the price's currency", field=f"[{index}].compare_at")
    first_use: dict[str, int] = {}
    for index, price in enumerate(items):
        if price.channel:
            first_use.setdefault(price.channel, index)
    for channel_code, first_index in first_use.items():
        channel = await get_channel(tx, channel_code, field=f"[{first_index}].channel")
        for index, price in enumerate(items):
            if price.channel == channel.code and price.amount.currency != channel.currency:
                raise InvalidInput(
                    f"channel {channel.code} sells in {channel.currency}", field=f"[{index}].amount"
                )
    await upsert(
        tx.conn,
        prices,
        [
            {
                "sku": p.sku,
                "currency": p.amount.currency,
                "channel_code": p.channel or "",
                "amount_minor": p.amount.minor_units,
                "compare_at_minor": p.compare_at.minor_units if p.compare_at else None,
            }
            for p in items
        ],
        ["sku", "currency", "channel_code"],
    )
    tx.emit("prices.updated", {"prices": [unstructure(p) for p in items]})


async def prices_for(
    tx: Tx, skus: Sequence[str], *, currency: str, channel: str | None
) -> dict[str, Price]:
    lists = ["", channel] if channel else [""]
    found: dict[str, Price] = {}
    for start in range(0, len(skus), 500):
        chunk = list(skus[start : start + 500])
        rows = await tx.conn.execute(
            select(prices).where(
                prices.c.sku.in_(chunk),
                prices.c.currency == currency,
                prices.c.channel_code.in_(lists),
            )
        )
        for row in rows:
            if row.sku in found and not row.channel_code:
                continue  # the channel's own price wins over the default list
            found[row.sku] = Price(
                sku=row.sku,
                amount=Money.from_minor_units(row.amount_minor, currency),
                channel=row.channel_code or None,
                compare_at=(
                    Money.from_minor_units(row.compare_at_minor, currency)
                    if row.compare_at_minor is not None
                    else None
                ),
            )
    return found


async def _load(tx: Tx, rows: Sequence[Any]) -> list[Product]:
    if not rows:
        return []
    ids = [r.id for r in rows]
    variant_rows = (
        await tx.conn.execute(
            select(variants).where(variants.c.product_id.in_(ids)).order_by(variants.c.position)
        )
    ).all()
    by_product: dict[str, list[Variant]] = {i: [] for i in ids}
    for v in variant_rows:
        by_product[v.product_id].append(Variant(v.sku, v.title, dict(v.attributes), v.barcode))
    return [
        Product(
            handle=r.handle,
            title=r.title,
            variants=by_product[r.id],
            description=r.description,
            family=r.family,
            attributes=dict(r.attributes),
            images=list(r.images),
            id=r.id,
        )
        for r in rows
    ]

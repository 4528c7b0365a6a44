"""Storefront catalog: ``products``, ``product`` with variants, channel prices and stock."""

from __future__ import annotations

import asyncio
from typing import Any

import graphene

from omnicore.catalog import Product
from omnicore.gateway import loaders
from omnicore.gateway.context import RequestContext
from omnicore.gateway.lookahead import selects
from omnicore.gateway.storefront.stock import AvailabilityType
from omnicore.stock import ChannelAvailability


class MoneyType(graphene.ObjectType):
    class Meta:
        name = "Money"

    amount = graphene.String(required=True, description="Decimal amount as a string")
    currency = graphene.String(required=True, description="ISO 4217 code")


class VariantType(graphene.ObjectType):
    class Meta:
        name = "Variant"

    sku = graphene.String(required=True)
    title = graphene.String(required=True)
    barcode = graphene.String()
    price = graphene.Field(MoneyType, description="The price for the caller's channel")
    availability = graphene.Field(AvailabilityType, required=True,
                                  description="What the caller's channel may sell of it")

    @staticmethod
    def resolve_price(parent: Any, info: graphene.ResolveInfo) -> Any:
        price = loaders.peek(info.context, "price", parent.sku)  # prefetched by the product
        if price is loaders.MISSING:
            return _price_json(loaders.price(info.context, parent.sku))  # batched per request
        return price.amount.to_json() if price else None

    @staticmethod
    def resolve_availability(parent: Any, info: graphene.ResolveInfo) -> Any:
        found = loaders.peek(info.context, "availability", parent.sku)
        if found is loaders.MISSING:
            return loaders.availability(info.context, parent.sku)  # batched per request
        return found


async def _price_json(pending: Any) -> Any:
    price = await pending
    return price.amount.to_json() if price else None


async def _prefetch(info: graphene.ResolveInfo, products: list[Product], *path: str) -> None:
    """Load the variants' prices and availability the query selects, in one round."""
    stock = selects(info, *path, "variants", "availability") or selects(
        info, *path, "availability")
    prices = selects(info, *path, "variants", "price")
    if stock or prices:
        context: RequestContext = info.context
        skus = [variant.sku for product in products for variant in product.variants]
        await loaders.prefetch_variants(context, skus, prices=prices, stock=stock)


class ProductType(graphene.ObjectType):
    class Meta:
        name = "Product"

    id = graphene.ID(required=True)
    handle = graphene.String(required=True)
    title = graphene.String(required=True)
    description = graphene.String(required=True)
    images = graphene.List(graphene.NonNull(graphene.String), required=True)
    variants = graphene.List(graphene.NonNull(VariantType), required=True)
    availability = graphene.List(graphene.NonNull(AvailabilityType), required=True,
                                 description="Per variant, what the caller's channel may sell")

    @staticmethod
    def resolve_availability(parent: Product, info: graphene.ResolveInfo) -> Any:
        found = [loaders.peek(info.context, "availability", v.sku) for v in parent.variants]
        if loaders.MISSING in found:
            return _all_availability(info, parent)
        return found


async def _all_availability(info: graphene.ResolveInfo, parent: Product
                            ) -> list[ChannelAvailability]:
    return list(await asyncio.gather(  # the variants' own loads: one batch, one cache
        *(loaders.availability(info.context, variant.sku) for variant in parent.variants)))


class ProductConnection(graphene.ObjectType):
    nodes = graphene.List(graphene.NonNull(ProductType), required=True)
    end_cursor = graphene.String()
    has_next_page = graphene.Boolean(required=True)


class CatalogQuery(graphene.ObjectType):
    products = graphene.Field(
        ProductConnection,
        required=True,
        query=graphene.String(),
        first=graphene.Int(default_value=20),
        after=graphene.String(),
        description="Products ordered by handle, cursor-paginated",
    )
    product = graphene.Field(
        ProductType,
        sku=graphene.String(),
        handle=graphene.String(),
        description="One product by handle or by one of its SKUs",
    )

    @staticmethod
    async def resolve_products(
        _: Any,
        info: graphene.ResolveInfo,
        first: int,
        query: str | None = None,
        after: str | None = None,
    ) -> dict[str, Any]:
        page = await info.context.commerce.catalog.products(query=query, first=first, after=after)
        await _prefetch(info, page.items, "nodes")
        return {
            "nodes": page.items,
            "end_cursor": page.end_cursor,
            "has_next_page": page.has_next_page,
        }

    @staticmethod
    async def resolve_product(
        _: Any, info: graphene.ResolveInfo, sku: str | None = None, handle: str | None = None
    ) -> Product:
        context: RequestContext = info.context
        if context.catalog_cache is not None:
            product = await context.catalog_cache.product(context, handle=handle, sku=sku)
        else:
            product = await context.commerce.catalog.product(handle=handle, sku=sku)
        await _prefetch(info, [product])
        return product

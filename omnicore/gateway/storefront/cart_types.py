"""The storefront's cart types and inputs (``Cart``, ``CartLine``, ``DeliveryGroup`` …).

``omnicore.gateway.storefront.carts`` serves them; a line's ``cost`` and the cart's ``cost`` come
from one pricing of the cart per request and version (``cart_totals``).
"""

from __future__ import annotations

import asyncio
from typing import Any

import graphene

from omnicore.carts import Cart
from omnicore.errors import NotFound
from omnicore.gateway import loaders
from omnicore.gateway.context import RequestContext
from omnicore.gateway.storefront.catalog import MoneyType, ProductType
from omnicore.gateway.storefront.locations import GeoPointType
from omnicore.gateway.storefront.orders import AddressType
from omnicore.gateway.storefront.stock import GeoPointInput
from omnicore.pricing import Totals

__all__ = [
    "AddressInput",
    "AttributeInput",
    "CartLineInput",
    "CartLineType",
    "CartLineUpdateInput",
    "CartType",
    "DeliveryGroupInput",
    "DeliveryGroupType",
    "cart_totals",
]


async def cart_totals(context: RequestContext, cart: Cart) -> Totals:
    """The cart as shown priced now, once per request and cart version (the ``cart``
    object itself: not read again, so the totals are those of this very version)."""
    cache: dict[tuple[str, int], asyncio.Task[Totals]] = context.loaders.setdefault(
        "cart_totals", {})
    key = (cart.id, cart.version)
    if key not in cache:
        cache[key] = asyncio.ensure_future(context.commerce.carts.totals_of(cart))
    return await cache[key]


# -- types ------------------------------------------------------------------------------------


class CartAttributeType(graphene.ObjectType):
    class Meta:
        name = "CartAttribute"

    key = graphene.String(required=True)
    value = graphene.String(required=True)


class CartLineCostType(graphene.ObjectType):
    class Meta:
        name = "CartLineCost"

    unit_price = graphene.Field(MoneyType, required=True)
    subtotal = graphene.Field(MoneyType, required=True)
    total = graphene.Field(MoneyType, required=True, description="After line discounts")


class CartLineType(graphene.ObjectType):
    class Meta:
        name = "CartLine"

    id = graphene.ID(required=True)
    sku = graphene.String(required=True)
    quantity = graphene.Int(required=True)
    fulfilment = graphene.String(required=True, description="ship or pickup")
    location = graphene.String(description="The pickup store, or the store it ships from")
    held = graphene.Boolean(required=True, description="Its units are reserved right now")
    hold_expires_at = graphene.DateTime()
    available = graphene.Boolean(required=True, description="Held, or could be held now")
    available_quantity = graphene.Int(required=True)
    product = graphene.Field(ProductType)
    cost = graphene.Field(CartLineCostType)

    @staticmethod
    def resolve_fulfilment(parent: Any, _: graphene.ResolveInfo) -> str:
        return str(parent.fulfilment.value)

    @staticmethod
    async def resolve_product(parent: Any, info: graphene.ResolveInfo) -> Any:
        context: RequestContext = info.context

        async def load(skus: list[str]) -> dict[str, Any]:
            found: dict[str, Any] = {}
            for sku in skus:
                try:
                    found[sku] = await context.commerce.catalog.product(sku=sku)
                except NotFound:
                    found[sku] = None
            return found

        return await loaders.loader(context, "carts.product_by_sku", load).load(parent.sku)

    @staticmethod
    async def resolve_cost(parent: Any, info: graphene.ResolveInfo) -> Any:
        context: RequestContext = info.context
        cart = context.loaders.get("cart_of_line", {}).get(parent.id)
        if cart is None:
            return None
        totals = await cart_totals(context, cart)
        return next((line for line in totals.lines if line.key == parent.id), None)


class CartCodeType(graphene.ObjectType):
    class Meta:
        name = "CartDiscountCode"

    code = graphene.String(required=True)
    applied = graphene.Boolean(required=True)
    reason = graphene.String(required=True)


class CartCostType(graphene.ObjectType):
    """The cart priced now (prices, promotions, codes, taxes), before shipping."""

    class Meta:
        name = "CartCost"

    subtotal = graphene.Field(MoneyType, required=True)
    discount_total = graphene.Field(MoneyType, required=True,
                                    description="What promotions take off (positive)")
    total = graphene.Field(MoneyType, required=True)
    codes = graphene.List(graphene.NonNull(CartCodeType), required=True)


class DeliveryGroupType(graphene.ObjectType):
    class Meta:
        name = "DeliveryGroup"

    key = graphene.String(required=True)
    kind = graphene.String(required=True, description="ship, pickup or relay")
    method = graphene.String(required=True)
    address = graphene.Field(AddressType)
    geo = graphene.Field(GeoPointType)
    location = graphene.String()
    line_ids = graphene.List(graphene.NonNull(graphene.ID))
    recipient = graphene.String()
    phone = graphene.String()
    instructions = graphene.String()

    @staticmethod
    def resolve_kind(parent: Any, _: graphene.ResolveInfo) -> str:
        return str(parent.kind.value)


class CartType(graphene.ObjectType):
    class Meta:
        name = "Cart"

    id = graphene.ID(required=True)
    version = graphene.Int(required=True, description="Send it back with every change")
    status = graphene.String(required=True, description="open, merged or completed")
    channel = graphene.String(required=True)
    currency = graphene.String(required=True)
    customer_id = graphene.ID(description="The customer who owns it (then only their token "
                                          "reaches it)")
    lines = graphene.List(graphene.NonNull(CartLineType), required=True)
    quantity = graphene.Int(required=True)
    note = graphene.String()
    attributes = graphene.List(graphene.NonNull(CartAttributeType), required=True)
    discount_codes = graphene.List(graphene.NonNull(graphene.String), required=True)
    delivery = graphene.List(graphene.NonNull(DeliveryGroupType), required=True)
    cost = graphene.Field(CartCostType, required=True)
    handoff_allowed = graphene.Boolean(required=True)
    handoff_expires_at = graphene.DateTime()
    created_at = graphene.DateTime(required=True)
    updated_at = graphene.DateTime(required=True)

    @staticmethod
    def resolve_status(parent: Cart, _: graphene.ResolveInfo) -> str:
        return parent.status.value

    @staticmethod
    def resolve_attributes(parent: Cart, _: graphene.ResolveInfo) -> list[dict[str, str]]:
        return [{"key": k, "value": v} for k, v in sorted(parent.attributes.items())]

    @staticmethod
    def resolve_lines(parent: Cart, info: graphene.ResolveInfo) -> list[Any]:
        # a line's ``cost`` comes from its cart's totals: remember whose line it is
        info.context.loaders.setdefault("cart_of_line", {}).update(
            {line.id: parent for line in parent.lines})
        return parent.lines

    @staticmethod
    async def resolve_cost(parent: Cart, info: graphene.ResolveInfo) -> Totals:
        return await cart_totals(info.context, parent)


# -- inputs -----------------------------------------------------------------------------------


class CartLineInput(graphene.InputObjectType):
    sku = graphene.String(required=True)
    quantity = graphene.Int(required=True)
    fulfilment = graphene.String(description="ship (default) or pickup")
    location = graphene.String(description="The pickup store (or the store to ship from)")


class CartLineUpdateInput(graphene.InputObjectType):
    line_id = graphene.ID(required=True)
    quantity = graphene.Int(required=True)


class AttributeInput(graphene.InputObjectType):
    key = graphene.String(required=True)
    value = graphene.String(required=True)


class AddressInput(graphene.InputObjectType):
    line1 = graphene.String(required=True)
    line2 = graphene.String()
    city = graphene.String(required=True)
    postal_code = graphene.String(required=True)
    region = graphene.String()
    country = graphene.String(required=True, description="ISO 3166-1 alpha-2")


class DeliveryGroupInput(graphene.InputObjectType):
    key = graphene.String(required=True)
    kind = graphene.String(required=True, description="ship, pickup or relay")
    method = graphene.String(required=True, description="standard, express, relay, …")
    address = graphene.Field(AddressInput, description="For ship")
    geo = graphene.Field(GeoPointInput)
    location = graphene.String(description="The store (pickup) or relay point (relay)")
    line_ids = graphene.List(graphene.NonNull(graphene.ID),
                             description="Its lines; none: every line no other group lists")
    recipient = graphene.String()
    phone = graphene.String()
    instructions = graphene.String()

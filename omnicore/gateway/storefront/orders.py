"""Orders as both GraphQL APIs show them, and the storefront's ``orderTracking``.

``OrderType`` and its parts (``PaymentType``, ``FulfilmentType`` …) resolve from
``omnicore.orders.Order`` alone: no channel, no customer check, no
request state. Whoever returns an order decides who may see it — the storefront
(``orderTracking``, ``me.orders``, ``checkoutComplete``) and the admin API alike.
They leave out what only staff should read (payment references, the actor of a
status change, sourcing details, the customer id): an admin type adds them by
subclassing, e.g. ``class AdminOrderType(OrderType)`` with its own ``Meta.name``.

Money fields take ``Money`` objects as they are (``amount`` is a decimal string).
"""

from __future__ import annotations

from typing import Any

import graphene

from omnicore.gateway.context import RequestContext
from omnicore.gateway.storefront.catalog import MoneyType
from omnicore.orders import Order

__all__ = [
    "AddressType",
    "FulfilmentLineType",
    "FulfilmentType",
    "OrderDeliveryGroupType",
    "OrderLineType",
    "OrderStatusChangeType",
    "OrderType",
    "OrdersQuery",
    "PaymentType",
]


class AddressType(graphene.ObjectType):
    """A postal address (``country``: ISO 3166-1 alpha-2). Resolves from an ``Address``
    or from its mapping (``postal_code`` …)."""

    class Meta:
        name = "Address"

    line1 = graphene.String(required=True)
    line2 = graphene.String()
    city = graphene.String(required=True)
    postal_code = graphene.String(required=True)
    region = graphene.String()
    country = graphene.String(required=True)


class OrderLineType(graphene.ObjectType):
    class Meta:
        name = "OrderLine"

    id = graphene.ID(required=True)
    sku = graphene.String(required=True)
    title = graphene.String(required=True)
    quantity = graphene.Int(required=True)
    unit_price = graphene.Field(MoneyType, required=True)
    discount = graphene.Field(MoneyType, required=True, description="Negative or zero")
    total = graphene.Field(MoneyType, required=True)
    group = graphene.String(required=True, description="The key of its delivery group")
    quantity_returned = graphene.Int(required=True)


class OrderDeliveryGroupType(graphene.ObjectType):
    class Meta:
        name = "OrderDeliveryGroup"

    key = graphene.String(required=True)
    kind = graphene.String(required=True, description="ship, pickup or relay")
    method = graphene.String(required=True)
    price = graphene.Field(MoneyType, required=True)
    address = graphene.Field(AddressType)
    location = graphene.String(description="The pickup store or relay point (a code)")


class PaymentType(graphene.ObjectType):
    class Meta:
        name = "Payment"

    id = graphene.ID(required=True)
    gateway = graphene.String(required=True)
    status = graphene.String(required=True, description="authorized, captured, refunded …")
    amount = graphene.Field(MoneyType, required=True)
    authorized = graphene.Field(MoneyType, required=True)
    captured = graphene.Field(MoneyType, required=True)
    refunded = graphene.Field(MoneyType, required=True)
    created_at = graphene.DateTime()

    @staticmethod
    def resolve_status(parent: Any, _: graphene.ResolveInfo) -> str:
        return str(parent.status.value)


class FulfilmentLineType(graphene.ObjectType):
    class Meta:
        name = "FulfilmentLine"

    order_line_id = graphene.ID(required=True)
    sku = graphene.String(required=True)
    quantity = graphene.Int(required=True)


class FulfilmentType(graphene.ObjectType):
    """The part of an order one location fulfils for one delivery group."""

    class Meta:
        name = "Fulfilment"

    id = graphene.ID(required=True)
    group = graphene.String(required=True)
    location = graphene.String(required=True, description="Where the goods leave from")
    kind = graphene.String(required=True, description="ship, pickup or relay")
    status = graphene.String(required=True, description="open, picking, shipped …")
    lines = graphene.List(graphene.NonNull(FulfilmentLineType), required=True)
    carrier = graphene.String()
    tracking_number = graphene.String()
    pickup_location = graphene.String()
    eta = graphene.DateTime()
    pickup_expires_at = graphene.DateTime()

    @staticmethod
    def resolve_status(parent: Any, _: graphene.ResolveInfo) -> str:
        return str(parent.status.value)


class OrderStatusChangeType(graphene.ObjectType):
    class Meta:
        name = "OrderStatusChange"

    from_status = graphene.String()
    to_status = graphene.String(required=True)
    note = graphene.String()
    at = graphene.DateTime(required=True)


class OrderType(graphene.ObjectType):
    """An order from any channel, with its lines, delivery, payments and fulfilments."""

    class Meta:
        name = "Order"

    id = graphene.ID(required=True)
    number = graphene.String(required=True)
    status = graphene.String(required=True, description="placed, authorized, paid, shipped …")
    channel = graphene.String(required=True)
    origin_channel = graphene.String()
    source = graphene.String(required=True, description="checkout, or the importing system")
    currency = graphene.String(required=True)
    email = graphene.String()
    phone = graphene.String()
    subtotal = graphene.Field(MoneyType, required=True)
    discount = graphene.Field(MoneyType, required=True)
    shipping = graphene.Field(MoneyType, required=True)
    adjustments = graphene.Field(MoneyType, required=True)
    total = graphene.Field(MoneyType, required=True)
    paid = graphene.Field(MoneyType, required=True, description="Captured so far")
    refunded = graphene.Field(MoneyType, required=True)
    lines = graphene.List(graphene.NonNull(OrderLineType), required=True)
    delivery_groups = graphene.List(graphene.NonNull(OrderDeliveryGroupType), required=True)
    payments = graphene.List(graphene.NonNull(PaymentType), required=True)
    fulfilments = graphene.List(graphene.NonNull(FulfilmentType), required=True)
    history = graphene.List(graphene.NonNull(OrderStatusChangeType), required=True,
                            description="Every change of status, oldest first")
    placed_at = graphene.DateTime(required=True)
    updated_at = graphene.DateTime(required=True)

    @staticmethod
    def resolve_status(parent: Order, _: graphene.ResolveInfo) -> str:
        return parent.status.value

    @staticmethod
    def resolve_delivery_groups(parent: Order, _: graphene.ResolveInfo) -> list[Any]:
        return parent.groups


class OrdersQuery(graphene.ObjectType):
    order_tracking = graphene.Field(
        OrderType,
        number=graphene.String(required=True),
        email=graphene.String(),
        phone=graphene.String(),
        description="An order by its number and the e-mail or phone it was placed with "
                    "(no account needed). A wrong contact answers like an unknown number.",
    )

    @staticmethod
    async def resolve_order_tracking(
        _: Any, info: graphene.ResolveInfo, number: str, email: str | None = None,
        phone: str | None = None,
    ) -> Order:
        context: RequestContext = info.context
        return await context.commerce.orders.track(number, email=email, phone=phone)

"""Admin API: orders from every channel — filter, read (``VIEW_ORDERS``), cancel, refund,
take goods back (``MANAGE_ORDERS``). Fulfilment work lives in ``admin_fulfilment``.

Location scope: a key limited to locations lists only the orders that touch them (a
fulfilment, a pickup, a delivery group or a return there); it may still open any
order by id or number — a customer returning a web order at the counter brings the
receipt — but takes returns only at its own locations, and cancels or refunds only
orders all of whose locations are its own.
"""

from __future__ import annotations

from typing import Any

import graphene

from omnicore.auth import Permission, StaffPrincipal
from omnicore.errors import Forbidden, InvalidInput
from omnicore.gateway.admin.common import (
    JSON,
    actor,
    aware,
    commerce_of,
    plain,
    require,
    user_errors_field,
)
from omnicore.gateway.errors import mutation_result
from omnicore.gateway.storefront.catalog import MoneyType
from omnicore.gateway.storefront.orders import (
    FulfilmentType,
    OrderStatusChangeType,
    OrderType,
    PaymentType,
)
from omnicore.money import Money
from omnicore.orders import Order, OrderStatus, ReturnRecord

__all__ = ["AdminFulfilmentType", "AdminOrderType", "AdminOrdersMutation", "AdminOrdersQuery",
           "order_locations", "require_order"]

MAX_PAGE = 100
#: core pages read at most to fill one page of a scoped key's list
MAX_SCANS = 10


def order_locations(order: Order) -> set[str]:
    """Every location an order touches: fulfilments, pickups, delivery groups, returns."""
    found = {f.location for f in order.fulfilments}
    found |= {f.pickup_location for f in order.fulfilments if f.pickup_location}
    found |= {g.location for g in order.groups if g.location}
    found |= {r.location for r in order.returns}
    return found


def require_order(staff: StaffPrincipal, permission: Permission, order: Order) -> None:
    """``permission``, and for a scoped key every location of the order (order-wide acts)."""
    staff.require(permission)
    if staff.locations is None:
        return
    touched = order_locations(order)
    if not touched or not touched <= staff.locations:
        raise Forbidden(f"order {order.number} involves locations this staff key may not act "
                        "on", field="location")


# -- types ----------------------------------------------------------------------------------------


class AdminPaymentType(PaymentType):
    class Meta:
        name = "AdminPayment"

    reference = graphene.String(description="The gateway's reference")
    refundable = graphene.Field(MoneyType, required=True,
                                description="Captured and not refunded")


class AdminOrderStatusChangeType(OrderStatusChangeType):
    class Meta:
        name = "AdminOrderStatusChange"

    actor = graphene.String(description="Who changed it: staff:<key id>, a plugin, system")


class AdminFulfilmentType(FulfilmentType):
    class Meta:
        name = "AdminFulfilment"

    order_id = graphene.ID(required=True)
    transfer_ids = graphene.List(graphene.NonNull(graphene.String), required=True)


class ReturnLineType(graphene.ObjectType):
    class Meta:
        name = "OrderReturnLine"

    line_id = graphene.ID(required=True)
    sku = graphene.String(required=True)
    title = graphene.String()
    quantity = graphene.Int(required=True)
    refund = graphene.Field(MoneyType, required=True)


class OrderReturnType(graphene.ObjectType):
    class Meta:
        name = "OrderReturn"

    id = graphene.ID(required=True)
    order_id = graphene.ID(required=True)
    location = graphene.String(required=True, description="Where the goods came back")
    method = graphene.String(required=True, description="store or mail")
    lines = graphene.List(graphene.NonNull(ReturnLineType), required=True)
    refund = graphene.Field(MoneyType, required=True)
    reason = graphene.String()
    created_at = graphene.DateTime(required=True)

    @staticmethod
    def resolve_lines(parent: ReturnRecord, _: graphene.ResolveInfo) -> list[dict[str, Any]]:
        currency = parent.refund.currency
        return [{**line, "refund": Money.from_minor_units(int(line.get("refund_minor", 0)),
                                                          currency)}
                for line in parent.lines]


class AdminOrderType(OrderType):
    """An order with what only staff read: customer, cart, payment references, actors."""

    class Meta:
        name = "AdminOrder"

    customer_id = graphene.ID()
    cart_id = graphene.ID()
    external_id = graphene.String(description="Its id in the importing system")
    capture_policy = graphene.String(required=True)
    payments = graphene.List(graphene.NonNull(AdminPaymentType), required=True)
    fulfilments = graphene.List(graphene.NonNull(AdminFulfilmentType), required=True)
    history = graphene.List(graphene.NonNull(AdminOrderStatusChangeType), required=True)
    returns = graphene.List(graphene.NonNull(OrderReturnType), required=True)
    details = JSON(required=True, description="Pricing and sourcing explanations, attributes")

    @staticmethod
    def resolve_capture_policy(parent: Order, _: graphene.ResolveInfo) -> str:
        return parent.capture_policy.value


class AdminOrderConnection(graphene.ObjectType):
    nodes = graphene.List(graphene.NonNull(AdminOrderType), required=True)
    end_cursor = graphene.String(description="Pass as after for the next page")
    has_next_page = graphene.Boolean(required=True)


class ReturnLineInput(graphene.InputObjectType):
    line_id = graphene.ID(required=True)
    quantity = graphene.Int(required=True)


# -- queries --------------------------------------------------------------------------------------


class AdminOrdersQuery(graphene.ObjectType):
    orders = graphene.Field(
        AdminOrderConnection, required=True, channel=graphene.String(),
        status=graphene.List(graphene.NonNull(graphene.String)), customer_id=graphene.ID(),
        source=graphene.String(), location=graphene.String(),
        placed_after=graphene.DateTime(), placed_before=graphene.DateTime(),
        first=graphene.Int(default_value=50), after=graphene.String(),
        description="Orders newest first, filtered; location: those touching it (VIEW_ORDERS; "
                    "a scoped key lists the orders of its locations)")
    order = graphene.Field(AdminOrderType, id=graphene.ID(), number=graphene.String(),
                           description="One order by id or number (VIEW_ORDERS)")

    @staticmethod
    async def resolve_orders(_: Any, info: graphene.ResolveInfo, first: int,
                             location: str | None = None, after: str | None = None,
                             **filters: Any) -> dict[str, Any]:
        staff = require(info, Permission.VIEW_ORDERS, location=location)
        if not 1 <= first <= MAX_PAGE:
            raise InvalidInput(f"must be between 1 and {MAX_PAGE}", field="first")
        for name in ("placed_after", "placed_before"):
            aware(filters.get(name), name)
        for index, status in enumerate(filters.get("status") or []):
            if status not in {s.value for s in OrderStatus}:
                raise InvalidInput(f"{status!r} is not an order status", field=f"status[{index}]")

        def visible(order: Order) -> bool:
            touched = order_locations(order)
            if location is not None and location not in touched:
                return False
            return staff.locations is None or bool(touched & staff.locations)

        orders = commerce_of(info).orders
        batch = first + 1
        found: list[Order] = []
        cursor, left_over = after, False
        for _scan in range(MAX_SCANS):  # a scoped key may skip many orders: bounded
            page = await orders.list(**filters, limit=batch, after=cursor)
            for order in page:
                if len(found) == first:
                    left_over = True
                    break
                cursor = order.id
                if visible(order):
                    found.append(order)
            if left_over or len(page) < batch:
                break
        return {"nodes": found, "end_cursor": cursor,
                "has_next_page": left_over or len(page) == batch}

    @staticmethod
    async def resolve_order(_: Any, info: graphene.ResolveInfo, id: str | None = None,
                            number: str | None = None) -> Order:
        require(info, Permission.VIEW_ORDERS)
        orders = commerce_of(info).orders
        if id is not None:
            found: Order = await orders.get(id)
        elif number is not None:
            found = await orders.by_number(number)
        else:
            raise InvalidInput("give the id or the number of the order", field="id")
        return found


# -- mutations ------------------------------------------------------------------------------------


class OrderPayload(graphene.ObjectType):
    order = graphene.Field(AdminOrderType)
    user_errors = user_errors_field()


class OrderCancel(graphene.Mutation):
    """Cancel an order whose goods have not left: allocations released, payments voided or
    refunded (MANAGE_ORDERS; a scoped key, for every location of the order)."""

    class Arguments:
        id = graphene.ID(required=True)
        reason = graphene.String()

    Output = OrderPayload

    @staticmethod
    async def mutate(_: Any, info: graphene.ResolveInfo, id: str,
                     reason: str | None = None) -> dict[str, Any]:
        async def work() -> dict[str, Any]:
            staff = require(info, Permission.MANAGE_ORDERS)
            orders = commerce_of(info).orders
            require_order(staff, Permission.MANAGE_ORDERS, await orders.get(id))
            return {"order": await orders.cancel(id, actor=actor(staff), reason=reason)}

        return await mutation_result(work)


class OrderRefund(graphene.Mutation):
    """Give money back on one payment of an order — ``amount`` in the payment's currency,
    default all captured and not refunded (MANAGE_ORDERS; a scoped key, for every location
    of the order). Goods coming back are a ``returnCreate``, which refunds them itself."""

    class Meta:
        name = "OrderRefundPayload"

    class Arguments:
        payment_id = graphene.ID(required=True)
        amount = graphene.String(description='A decimal amount: "10.00"')

    payment = graphene.Field(AdminPaymentType)
    order = graphene.Field(AdminOrderType)
    user_errors = user_errors_field()

    @staticmethod
    async def mutate(_: Any, info: graphene.ResolveInfo, payment_id: str,
                     amount: str | None = None) -> dict[str, Any]:
        async def work() -> dict[str, Any]:
            staff = require(info, Permission.MANAGE_ORDERS)
            commerce = commerce_of(info)
            payment = await commerce.payments.get(payment_id)
            if payment.order_id is None:
                raise InvalidInput("the payment belongs to no order", field="payment_id")
            require_order(staff, Permission.MANAGE_ORDERS,
                          await commerce.orders.get(payment.order_id))
            refunded = await commerce.payments.refund(payment_id, amount, actor=actor(staff))
            return {"payment": refunded, "order": await commerce.orders.get(payment.order_id)}

        return await mutation_result(work)


class ReturnCreate(graphene.Mutation):
    """Take goods back at a store that accepts returns (``method`` store) or at a warehouse
    (``mail``); the units rejoin its stock and, by default, their value is refunded
    (MANAGE_ORDERS, for the receiving location)."""

    class Meta:
        name = "ReturnCreatePayload"

    class Arguments:
        order_id = graphene.ID(required=True)
        lines = graphene.List(graphene.NonNull(ReturnLineInput), required=True)
        location = graphene.String(required=True)
        method = graphene.String(default_value="store", description="store or mail")
        reason = graphene.String()
        refund = graphene.Boolean(default_value=True,
                                  description="Refund the lines' value (false: an exchange)")
        refund_amount = graphene.String(description="Refund this amount instead")

    order_return = graphene.Field(OrderReturnType, name="return")
    order = graphene.Field(AdminOrderType)
    user_errors = user_errors_field()

    @staticmethod
    async def mutate(_: Any, info: graphene.ResolveInfo, order_id: str, lines: list[Any],
                     location: str, method: str, refund: bool, reason: str | None = None,
                     refund_amount: str | None = None) -> dict[str, Any]:
        async def work() -> dict[str, Any]:
            staff = require(info, Permission.MANAGE_ORDERS, location=location)
            commerce = commerce_of(info)
            if refund_amount is not None and not refund:
                raise InvalidInput("give refundAmount or refund: false, not both",
                                   field="refund_amount")
            record = await commerce.returns.create(
                order_id, plain(lines), location=location, method=method, reason=reason,
                refund=refund if refund_amount is None else refund_amount, actor=actor(staff))
            return {"order_return": record, "order": await commerce.orders.get(order_id)}

        return await mutation_result(work)


class AdminOrdersMutation(graphene.ObjectType):
    order_cancel = OrderCancel.Field(required=True)
    order_refund = OrderRefund.Field(required=True)
    return_create = ReturnCreate.Field(required=True)

"""Admin API: the fulfilment work of stores and warehouses — a location's queue
(``VIEW_ORDERS``), picking, packing, shipping, click & collect (``MANAGE_ORDERS``).

Each step is for the location doing it: picking, packing, shipping and delivery for
the location the goods leave from; the arrival of a transfer, "ready for pickup" and
a new pickup code for the pickup store; collection (the pickup code verified) for
the store the customer stands in. A key limited to other locations is refused and
nothing changes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import graphene

from omnicore.auth import Permission, StaffPrincipal
from omnicore.fulfilment import PickupNotice
from omnicore.gateway.admin.common import actor, commerce_of, require, user_errors_field
from omnicore.gateway.admin.orders import AdminFulfilmentType
from omnicore.gateway.errors import mutation_result
from omnicore.orders import Fulfilment

__all__ = ["AdminFulfilmentMutation", "AdminFulfilmentQuery"]


def _origin(fulfilment: Fulfilment) -> str:
    return fulfilment.location


def _pickup_store(fulfilment: Fulfilment) -> str:
    return fulfilment.pickup_location or fulfilment.location


async def _authorised(info: graphene.ResolveInfo, fulfilment_id: str,
                      where: Callable[[Fulfilment], str]) -> StaffPrincipal:
    """MANAGE_ORDERS for the location of the fulfilment that does this step."""
    staff = require(info, Permission.MANAGE_ORDERS)
    fulfilment = await commerce_of(info).fulfilment.get(fulfilment_id)
    staff.require(Permission.MANAGE_ORDERS, location=where(fulfilment))
    return staff


class FulfilmentPayload(graphene.ObjectType):
    fulfilment = graphene.Field(AdminFulfilmentType)
    user_errors = user_errors_field()


class PickupCodePayload(graphene.ObjectType):
    fulfilment = graphene.Field(AdminFulfilmentType)
    order_number = graphene.String()
    pickup_code = graphene.String(description="Shown this once (omnicore keeps its hash): "
                                              "give it to the customer")
    pickup_location = graphene.String()
    expires_at = graphene.DateTime()
    user_errors = user_errors_field()


def _step(name: str, where: Callable[[Fulfilment], str], doc: str) -> graphene.Field:
    """A mutation field running ``commerce.fulfilment.<name>(id, actor=…)``."""

    async def resolve(_: Any, info: graphene.ResolveInfo, id: str) -> dict[str, Any]:
        async def work() -> dict[str, Any]:
            staff = await _authorised(info, id, where)
            step = getattr(commerce_of(info).fulfilment, name)
            return {"fulfilment": await step(id, actor=actor(staff))}

        return await mutation_result(work)

    return graphene.Field(FulfilmentPayload, required=True, id=graphene.ID(required=True),
                          resolver=resolve, description=doc)


def _notice(notice: PickupNotice) -> dict[str, Any]:
    return {"fulfilment": notice.fulfilment, "order_number": notice.order_number,
            "pickup_code": notice.code, "pickup_location": notice.location,
            "expires_at": notice.expires_at}


def _pickup_code(name: str, doc: str) -> graphene.Field:
    async def resolve(_: Any, info: graphene.ResolveInfo, id: str) -> dict[str, Any]:
        async def work() -> dict[str, Any]:
            staff = await _authorised(info, id, _pickup_store)
            step = getattr(commerce_of(info).fulfilment, name)
            return _notice(await step(id, actor=actor(staff)))

        return await mutation_result(work)

    return graphene.Field(PickupCodePayload, required=True, id=graphene.ID(required=True),
                          resolver=resolve, description=doc)


class AdminFulfilmentQuery(graphene.ObjectType):
    fulfilments = graphene.List(
        graphene.NonNull(AdminFulfilmentType), required=True,
        location=graphene.String(required=True),
        status=graphene.List(graphene.NonNull(graphene.String)),
        limit=graphene.Int(default_value=100),
        description="A location's work queue, oldest first: what it fulfils or hands over; "
                    "by default everything not finished (VIEW_ORDERS, for the location)")

    @staticmethod
    async def resolve_fulfilments(_: Any, info: graphene.ResolveInfo, location: str,
                                  limit: int, status: list[str] | None = None
                                  ) -> list[Fulfilment]:
        require(info, Permission.VIEW_ORDERS, location=location)
        found: list[Fulfilment] = await commerce_of(info).fulfilment.for_location(
            location, status=status, limit=limit)
        return found


class AdminFulfilmentMutation(graphene.ObjectType):
    fulfilment_start_picking = _step(
        "start_picking", _origin, "An associate starts picking: picking (MANAGE_ORDERS, for the "
                                  "location the goods leave from)")
    fulfilment_pack = _step(
        "pack", _origin, "The goods are packed: packed (MANAGE_ORDERS, for the location the "
                         "goods leave from)")
    fulfilment_deliver = _step(
        "deliver", _origin, "The carrier delivered the parcel: delivered (MANAGE_ORDERS, for "
                            "the location the goods left from)")
    fulfilment_transfer_arrived = _step(
        "transfer_arrived", _pickup_store,
        "The goods of a transferred pickup reached the store (MANAGE_ORDERS, for the pickup "
        "store)")
    fulfilment_ready_for_pickup = _pickup_code(
        "ready_for_pickup", "The goods wait at the store: a pickup code is made and returned "
                            "this once (MANAGE_ORDERS, for the pickup store)")
    fulfilment_reissue_pickup_code = _pickup_code(
        "reissue_pickup_code", "A new pickup code for a customer who lost theirs; the old one "
                               "stops working (MANAGE_ORDERS, for the pickup store)")
    fulfilment_ship = graphene.Field(
        FulfilmentPayload, required=True, id=graphene.ID(required=True),
        carrier=graphene.String(required=True), tracking_number=graphene.String(required=True),
        description="The parcel left with the carrier; what is due is captured (MANAGE_ORDERS, "
                    "for the location the goods leave from)")
    fulfilment_collect = graphene.Field(
        FulfilmentPayload, required=True, reference=graphene.String(required=True),
        code=graphene.String(required=True), location=graphene.String(required=True),
        description="The customer collects with their pickup code, verified here: collected; "
                    "reference is the fulfilment id or the order number (MANAGE_ORDERS, for "
                    "the store the customer is in)")

    @staticmethod
    async def resolve_fulfilment_ship(_: Any, info: graphene.ResolveInfo, id: str, carrier: str,
                                      tracking_number: str) -> dict[str, Any]:
        async def work() -> dict[str, Any]:
            staff = await _authorised(info, id, _origin)
            return {"fulfilment": await commerce_of(info).fulfilment.ship(
                id, carrier=carrier, tracking_number=tracking_number, actor=actor(staff))}

        return await mutation_result(work)

    @staticmethod
    async def resolve_fulfilment_collect(_: Any, info: graphene.ResolveInfo, reference: str,
                                         code: str, location: str) -> dict[str, Any]:
        async def work() -> dict[str, Any]:
            staff = require(info, Permission.MANAGE_ORDERS, location=location)
            return {"fulfilment": await commerce_of(info).fulfilment.collect(
                reference, code=code, location=location, actor=actor(staff))}

        return await mutation_result(work)

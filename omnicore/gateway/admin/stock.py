"""Admin API: unified stock (``MANAGE_STOCK``) — levels, the ledger, receipts,
adjustments, counts, safety stock and transfers between locations.

Every operation names its location(s), and a key scoped to locations may read and
move stock only there: an associate of store A cannot adjust store B, nor send
B's units anywhere. Movements are recorded with the source ``staff:<key id>``;
an ``externalId`` makes a receipt, an adjustment or a count idempotent (the same
key and id again changes nothing: a retried request is safe).
"""

from __future__ import annotations

from typing import Any

import graphene

from omnicore.auth import Permission
from omnicore.errors import NotFound
from omnicore.gateway.admin.common import actor, commerce_of, require, user_errors_field
from omnicore.gateway.errors import mutation_result
from omnicore.stock import Movement, StockLevel, Transfer

__all__ = ["AdminStockMutation", "AdminStockQuery"]

LEDGER_MAX = 1000


class StockLevelType(graphene.ObjectType):
    class Meta:
        name = "StockLevel"

    sku = graphene.String(required=True)
    location = graphene.String(required=True)
    on_hand = graphene.Int(required=True)
    safety_stock = graphene.Int(required=True)
    reserved = graphene.Int(required=True, description="Units held by carts and orders")
    available = graphene.Int(required=True, description="on hand - safety stock - reserved")


class StockMovementType(graphene.ObjectType):
    class Meta:
        name = "StockMovement"

    id = graphene.ID(required=True)
    sku = graphene.String(required=True)
    location = graphene.String(required=True)
    delta = graphene.Int(required=True)
    kind = graphene.String(required=True, description="receipt, sale, adjustment, count, "
                                                      "transfer_out, transfer_in or return")
    source = graphene.String(required=True, description="Who moved it: a channel, a plugin, "
                                                        "staff:<key id>")
    external_id = graphene.String()
    note = graphene.String()
    created_at = graphene.DateTime(required=True)

    @staticmethod
    def resolve_kind(parent: Movement, _: graphene.ResolveInfo) -> str:
        return parent.kind.value


class StockTransferType(graphene.ObjectType):
    class Meta:
        name = "StockTransfer"

    id = graphene.ID(required=True)
    sku = graphene.String(required=True)
    from_location = graphene.String(required=True)
    to_location = graphene.String(required=True)
    quantity = graphene.Int(required=True)
    status = graphene.String(required=True, description="in_transit or received")
    created_at = graphene.DateTime(required=True)
    received_at = graphene.DateTime()


class AdminStockQuery(graphene.ObjectType):
    stock_levels = graphene.List(
        graphene.NonNull(StockLevelType), required=True, sku=graphene.String(required=True),
        locations=graphene.List(graphene.NonNull(graphene.String)),
        description="A SKU's level at each location (default: every location the key may "
                    "see) (MANAGE_STOCK)")
    stock_ledger = graphene.List(
        graphene.NonNull(StockMovementType), required=True, sku=graphene.String(required=True),
        location=graphene.String(required=True), limit=graphene.Int(default_value=100),
        description="The movements of one level, oldest first (MANAGE_STOCK, for the location)")
    stock_transfers = graphene.List(
        graphene.NonNull(StockTransferType), required=True, sku=graphene.String(required=True),
        description="A SKU's transfers in transit, from or to the key's locations "
                    "(MANAGE_STOCK)")

    @staticmethod
    async def resolve_stock_levels(_: Any, info: graphene.ResolveInfo, sku: str,
                                   locations: list[str] | None = None) -> list[StockLevel]:
        staff = require(info, Permission.MANAGE_STOCK)
        commerce = commerce_of(info)
        if locations is None:
            locations = [loc.code for loc in await commerce.locations.list()
                         if staff.may_see(loc.code)]
        for code in locations:
            staff.require(Permission.MANAGE_STOCK, location=code)
        if not await commerce.catalog.skus_exist([sku]):
            raise NotFound(f"no variant {sku!r}", field="sku")
        return [await commerce.stock.level(sku, code) for code in locations]

    @staticmethod
    async def resolve_stock_ledger(_: Any, info: graphene.ResolveInfo, sku: str, location: str,
                                   limit: int) -> list[Movement]:
        require(info, Permission.MANAGE_STOCK, location=location)
        found: list[Movement] = await commerce_of(info).stock.ledger(
            sku, location, limit=max(1, min(limit, LEDGER_MAX)))
        return found

    @staticmethod
    async def resolve_stock_transfers(_: Any, info: graphene.ResolveInfo,
                                      sku: str) -> list[Transfer]:
        staff = require(info, Permission.MANAGE_STOCK)
        return [t for t in await commerce_of(info).stock.in_transit(sku)
                if staff.may_see(t.from_location) or staff.may_see(t.to_location)]


class _LedgerArguments:
    sku = graphene.String(required=True)
    location = graphene.String(required=True)
    external_id = graphene.String(description="Idempotency: the same id again changes nothing")
    note = graphene.String()


class StockReceive(graphene.Mutation):
    """Goods arrive: on hand grows by ``quantity`` (MANAGE_STOCK, for the location)."""

    class Meta:
        name = "StockReceivePayload"

    class Arguments(_LedgerArguments):
        quantity = graphene.Int(required=True)

    level = graphene.Field(StockLevelType)
    user_errors = user_errors_field()

    @staticmethod
    async def mutate(_: Any, info: graphene.ResolveInfo, sku: str, location: str,
                     quantity: int, external_id: str | None = None,
                     note: str | None = None) -> dict[str, Any]:
        async def work() -> dict[str, Any]:
            staff = require(info, Permission.MANAGE_STOCK, location=location)
            level = await commerce_of(info).stock.receive(
                sku, location, quantity, source=actor(staff), external_id=external_id,
                note=note)
            return {"level": level}

        return await mutation_result(work)


class StockAdjust(graphene.Mutation):
    """Correct on hand by ``delta`` (damaged, found …); holds beyond it are revoked
    (MANAGE_STOCK, for the location)."""

    class Meta:
        name = "StockAdjustPayload"

    class Arguments(_LedgerArguments):
        delta = graphene.Int(required=True)

    level = graphene.Field(StockLevelType)
    user_errors = user_errors_field()

    @staticmethod
    async def mutate(_: Any, info: graphene.ResolveInfo, sku: str, location: str, delta: int,
                     external_id: str | None = None, note: str | None = None) -> dict[str, Any]:
        async def work() -> dict[str, Any]:
            staff = require(info, Permission.MANAGE_STOCK, location=location)
            level = await commerce_of(info).stock.adjust(
                sku, location, delta, source=actor(staff), external_id=external_id, note=note)
            return {"level": level}

        return await mutation_result(work)


class StockCount(graphene.Mutation):
    """A physical count: on hand becomes ``quantity`` (MANAGE_STOCK, for the location)."""

    class Meta:
        name = "StockCountPayload"

    class Arguments(_LedgerArguments):
        quantity = graphene.Int(required=True)

    level = graphene.Field(StockLevelType)
    user_errors = user_errors_field()

    @staticmethod
    async def mutate(_: Any, info: graphene.ResolveInfo, sku: str, location: str,
                     quantity: int, external_id: str | None = None,
                     note: str | None = None) -> dict[str, Any]:
        async def work() -> dict[str, Any]:
            staff = require(info, Permission.MANAGE_STOCK, location=location)
            level = await commerce_of(info).stock.count(
                sku, location, quantity, source=actor(staff), external_id=external_id,
                note=note)
            return {"level": level}

        return await mutation_result(work)


class StockSetSafetyStock(graphene.Mutation):
    """Units kept back from every channel at this level (MANAGE_STOCK, for the location)."""

    class Meta:
        name = "StockSetSafetyStockPayload"

    class Arguments:
        sku = graphene.String(required=True)
        location = graphene.String(required=True)
        quantity = graphene.Int(required=True)

    level = graphene.Field(StockLevelType)
    user_errors = user_errors_field()

    @staticmethod
    async def mutate(_: Any, info: graphene.ResolveInfo, sku: str, location: str,
                     quantity: int) -> dict[str, Any]:
        async def work() -> dict[str, Any]:
            require(info, Permission.MANAGE_STOCK, location=location)
            return {"level": await commerce_of(info).stock.set_safety_stock(sku, location,
                                                                            quantity)}

        return await mutation_result(work)


class StockTransferSend(graphene.Mutation):
    """Send free units to another location; they are in transit until received
    (MANAGE_STOCK, for the sending location)."""

    class Meta:
        name = "StockTransferPayload"

    class Arguments:
        sku = graphene.String(required=True)
        from_location = graphene.String(required=True)
        to_location = graphene.String(required=True)
        quantity = graphene.Int(required=True)
        note = graphene.String()

    transfer = graphene.Field(StockTransferType)
    user_errors = user_errors_field()

    @staticmethod
    async def mutate(_: Any, info: graphene.ResolveInfo, sku: str, from_location: str,
                     to_location: str, quantity: int, note: str | None = None
                     ) -> dict[str, Any]:
        async def work() -> dict[str, Any]:
            staff = require(info, Permission.MANAGE_STOCK, location=from_location)
            transfer = await commerce_of(info).stock.transfer(
                sku, from_location, to_location, quantity, source=actor(staff), note=note)
            return {"transfer": transfer}

        return await mutation_result(work)


class StockTransferReceive(graphene.Mutation):
    """A transfer arrives: its units join on hand at the destination (MANAGE_STOCK, for the
    receiving location)."""

    class Meta:
        name = "StockTransferReceivePayload"

    class Arguments:
        sku = graphene.String(required=True)
        transfer_id = graphene.ID(required=True)

    transfer = graphene.Field(StockTransferType)
    user_errors = user_errors_field()

    @staticmethod
    async def mutate(_: Any, info: graphene.ResolveInfo, sku: str,
                     transfer_id: str) -> dict[str, Any]:
        async def work() -> dict[str, Any]:
            staff = require(info, Permission.MANAGE_STOCK)
            commerce = commerce_of(info)
            pending = [t for t in await commerce.stock.in_transit(sku) if t.id == transfer_id]
            if not pending:
                raise NotFound(f"no transfer {transfer_id!r} of {sku} in transit",
                               field="transfer_id")
            staff.require(Permission.MANAGE_STOCK, location=pending[0].to_location)
            return {"transfer": await commerce.stock.receive_transfer(transfer_id,
                                                                      source=actor(staff))}

        return await mutation_result(work)


class AdminStockMutation(graphene.ObjectType):
    stock_receive = StockReceive.Field(required=True)
    stock_adjust = StockAdjust.Field(required=True)
    stock_count = StockCount.Field(required=True)
    stock_set_safety_stock = StockSetSafetyStock.Field(required=True)
    stock_transfer = StockTransferSend.Field(required=True)
    stock_transfer_receive = StockTransferReceive.Field(required=True)

"""Admin API: promotions and discount codes (``MANAGE_PROMOTIONS``).

One promotion engine for every channel: a promotion applies everywhere unless
``channels`` restricts it (docs/pricing-and-promotions.md has the kinds and rules).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import graphene

from omnicore.auth import Permission
from omnicore.gateway.admin.common import (
    JSON,
    aware,
    commerce_of,
    fields_under,
    plain,
    require,
    user_errors_field,
)
from omnicore.gateway.errors import mutation_result
from omnicore.pricing import Promotion

__all__ = ["AdminPromotionsMutation", "AdminPromotionsQuery"]


def _decimals(value: dict[str, Any] | None) -> dict[str, str] | None:
    return None if value is None else {key: str(amount) for key, amount in value.items()}


class PromotionType(graphene.ObjectType):
    class Meta:
        name = "Promotion"

    id = graphene.ID(required=True)
    name = graphene.String(required=True)
    kind = graphene.String(required=True, description="percent_off, fixed_off, buy_x_get_y, "
                                                      "spend_threshold or free_shipping")
    target = graphene.String(description="line, order or shipping")
    percent = graphene.String()
    amounts = JSON(description='Per currency: {"EUR": "5.00"}')
    thresholds = JSON(description='Per currency: {"EUR": "50.00"}')
    buy = graphene.Int()
    get = graphene.Int()
    skus = graphene.List(graphene.NonNull(graphene.String))
    families = graphene.List(graphene.NonNull(graphene.String))
    channels = graphene.List(graphene.NonNull(graphene.String),
                             description="null: every channel")
    automatic = graphene.Boolean(required=True)
    codes = graphene.List(graphene.NonNull(graphene.String), required=True)
    starts_at = graphene.DateTime()
    ends_at = graphene.DateTime()
    priority = graphene.Int(required=True)
    stackable = graphene.Boolean(required=True)
    usage_limit = graphene.Int()
    per_customer_limit = graphene.Int()
    active = graphene.Boolean(required=True)
    times_used = graphene.Int(required=True)
    created_at = graphene.DateTime()

    @staticmethod
    def resolve_kind(parent: Promotion, _: graphene.ResolveInfo) -> str:
        return parent.kind.value

    @staticmethod
    def resolve_target(parent: Promotion, _: graphene.ResolveInfo) -> str | None:
        return parent.target.value if parent.target else None

    @staticmethod
    def resolve_percent(parent: Promotion, _: graphene.ResolveInfo) -> str | None:
        return None if parent.percent is None else str(parent.percent)

    @staticmethod
    def resolve_amounts(parent: Promotion, _: graphene.ResolveInfo) -> Any:
        return _decimals(parent.amounts)

    @staticmethod
    def resolve_thresholds(parent: Promotion, _: graphene.ResolveInfo) -> Any:
        return _decimals(parent.thresholds)


class PromotionInput(graphene.InputObjectType):
    name = graphene.String(required=True)
    kind = graphene.String(required=True)
    target = graphene.String()
    percent = graphene.String(description='A decimal string: "15"')
    amounts = JSON(description='Per currency: {"EUR": "5.00"}')
    thresholds = JSON(description='Per currency: {"EUR": "50.00"}')
    buy = graphene.Int()
    # an input is a dict: an attribute "get" would hide dict.get
    get_units = graphene.Int(name="get")
    skus = graphene.List(graphene.NonNull(graphene.String))
    families = graphene.List(graphene.NonNull(graphene.String))
    channels = graphene.List(graphene.NonNull(graphene.String))
    automatic = graphene.Boolean()
    codes = graphene.List(graphene.NonNull(graphene.String))
    starts_at = graphene.DateTime()
    ends_at = graphene.DateTime()
    priority = graphene.Int()
    stackable = graphene.Boolean()
    usage_limit = graphene.Int()
    per_customer_limit = graphene.Int()
    active = graphene.Boolean()


class AdminPromotionsQuery(graphene.ObjectType):
    promotions = graphene.List(
        graphene.NonNull(PromotionType), required=True, active_at=graphene.DateTime(),
        channel=graphene.String(),
        description="Promotions in the order they apply; activeAt keeps those live then, "
                    "channel those valid on it (MANAGE_PROMOTIONS)")
    promotion = graphene.Field(PromotionType, id=graphene.ID(required=True),
                               description="One promotion with its codes (MANAGE_PROMOTIONS)")

    @staticmethod
    async def resolve_promotions(_: Any, info: graphene.ResolveInfo,
                                 active_at: dt.datetime | None = None,
                                 channel: str | None = None) -> list[Promotion]:
        require(info, Permission.MANAGE_PROMOTIONS)
        found: list[Promotion] = await commerce_of(info).promotions.list(
            active_at=aware(active_at, "active_at"), channel=channel)
        return found

    @staticmethod
    async def resolve_promotion(_: Any, info: graphene.ResolveInfo, id: str) -> Promotion:
        require(info, Permission.MANAGE_PROMOTIONS)
        found: Promotion = await commerce_of(info).promotions.get(id)
        return found


class PromotionCreate(graphene.Mutation):
    """Create a promotion and its codes (MANAGE_PROMOTIONS)."""

    class Meta:
        name = "PromotionCreatePayload"

    class Arguments:
        input = PromotionInput(required=True)

    promotion = graphene.Field(PromotionType)
    user_errors = user_errors_field()

    @staticmethod
    async def mutate(_: Any, info: graphene.ResolveInfo, input: Any) -> dict[str, Any]:
        async def work() -> dict[str, Any]:
            require(info, Permission.MANAGE_PROMOTIONS)
            data = plain(input)
            if "get_units" in data:
                data["get"] = data.pop("get_units")
            with fields_under("input"):
                return {"promotion": await commerce_of(info).promotions.create(data)}

        return await mutation_result(work)


class PromotionAddCodes(graphene.Mutation):
    """Add discount codes to a promotion; ``usageLimit`` 1 makes single-use vouchers
    (MANAGE_PROMOTIONS)."""

    class Meta:
        name = "PromotionAddCodesPayload"

    class Arguments:
        id = graphene.ID(required=True)
        codes = graphene.List(graphene.NonNull(graphene.String), required=True)
        usage_limit = graphene.Int()

    codes = graphene.List(graphene.NonNull(graphene.String), description="As stored")
    user_errors = user_errors_field()

    @staticmethod
    async def mutate(_: Any, info: graphene.ResolveInfo, id: str, codes: list[str],
                     usage_limit: int | None = None) -> dict[str, Any]:
        async def work() -> dict[str, Any]:
            require(info, Permission.MANAGE_PROMOTIONS)
            added = await commerce_of(info).promotions.add_codes(id, codes,
                                                                 usage_limit=usage_limit)
            return {"codes": added}

        return await mutation_result(work)


class PromotionDeactivate(graphene.Mutation):
    """Stop a promotion now, on every channel (MANAGE_PROMOTIONS)."""

    class Meta:
        name = "PromotionDeactivatePayload"

    class Arguments:
        id = graphene.ID(required=True)

    promotion = graphene.Field(PromotionType)
    user_errors = user_errors_field()

    @staticmethod
    async def mutate(_: Any, info: graphene.ResolveInfo, id: str) -> dict[str, Any]:
        async def work() -> dict[str, Any]:
            require(info, Permission.MANAGE_PROMOTIONS)
            return {"promotion": await commerce_of(info).promotions.deactivate(id)}

        return await mutation_result(work)


class AdminPromotionsMutation(graphene.ObjectType):
    promotion_create = PromotionCreate.Field(required=True)
    promotion_add_codes = PromotionAddCodes.Field(required=True)
    promotion_deactivate = PromotionDeactivate.Field(required=True)

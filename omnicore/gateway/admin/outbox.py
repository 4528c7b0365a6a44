"""Admin API: the outbox (``MANAGE_OUTBOX``), per-channel KPIs (``VIEW_REPORTS``) and
staff keys (``MANAGE_STAFF``).

Staff keys cannot grant more than their holder has: a new key's permissions must be
among the caller's, and a caller scoped to locations issues keys scoped to (some of)
its own locations. ``staffKeyCreate`` returns the plain key once — omnicore keeps
only its SHA-256.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import graphene

from omnicore.auth import Permission, StaffPrincipal
from omnicore.errors import Forbidden, InvalidInput
from omnicore.gateway.admin.common import (
    commerce_of,
    context_of,
    covers_channel,
    money,
    require,
    require_unscoped,
    user_errors_field,
)
from omnicore.gateway.errors import mutation_result
from omnicore.gateway.storefront.catalog import MoneyType
from omnicore.kpis import KpiReport, KpiService
from omnicore.outbox import Delivery

__all__ = ["AdminOutboxMutation", "AdminOutboxQuery", "PermissionEnum"]

DELIVERIES_MAX = 500

PermissionEnum = graphene.Enum.from_enum(Permission)


def _permission(value: Any) -> Permission:
    return Permission(getattr(value, "value", value))


# -- outbox ---------------------------------------------------------------------------------------


class OutboxDeliveryType(graphene.ObjectType):
    class Meta:
        name = "OutboxDelivery"

    id = graphene.Int(required=True)
    event_id = graphene.Int(required=True)
    topic = graphene.String(required=True)
    consumer = graphene.String(required=True, description="The plugin the event is for")
    status = graphene.String(required=True, description="pending, delivered or dead")
    attempts = graphene.Int(required=True)
    next_attempt_at = graphene.DateTime(required=True)
    last_error = graphene.String()
    delivered_at = graphene.DateTime()


class OutboxCountsType(graphene.ObjectType):
    class Meta:
        name = "OutboxCounts"

    pending = graphene.Int(required=True)
    delivered = graphene.Int(required=True)
    dead = graphene.Int(required=True, description="Dead-lettered: retries exhausted")


class OutboxRetry(graphene.Mutation):
    """Re-drive dead-lettered deliveries — all, these ids, or one consumer's (MANAGE_OUTBOX)."""

    class Meta:
        name = "OutboxRetryPayload"

    class Arguments:
        ids = graphene.List(graphene.NonNull(graphene.Int))
        consumer = graphene.String()

    retried = graphene.Int(description="How many dead deliveries are pending again")
    user_errors = user_errors_field()

    @staticmethod
    async def mutate(_: Any, info: graphene.ResolveInfo, ids: list[int] | None = None,
                     consumer: str | None = None) -> dict[str, Any]:
        async def work() -> dict[str, Any]:
            require(info, Permission.MANAGE_OUTBOX)
            return {"retried": await commerce_of(info).outbox.retry(ids, consumer=consumer)}

        return await mutation_result(work)


# -- KPIs -----------------------------------------------------------------------------------------


class ChannelKpisType(graphene.ObjectType):
    class Meta:
        name = "ChannelKpis"

    channel = graphene.String(required=True)
    currency = graphene.String(required=True)
    carts_created = graphene.Int(required=True, description="Carts started on the channel")
    carts_converted = graphene.Int(required=True,
                                   description="Of which became an order, on any channel")
    carts_abandoned = graphene.Int(required=True,
                                   description="Of which are open, with lines, and idle")
    orders = graphene.Int(required=True, description="Placed in the period, imported included")
    checkout_orders = graphene.Int(required=True, description="Of which from a cart")
    cancelled_orders = graphene.Int(required=True)
    cross_channel_orders = graphene.Int(required=True,
                                        description="Orders whose cart started elsewhere")
    conversion_rate = graphene.Float(description="Carts converted / carts created")
    abandonment_rate = graphene.Float(description="Carts abandoned / carts created")
    revenue = graphene.Field(MoneyType, required=True,
                             description="Totals of the orders not cancelled")
    average_basket = graphene.Field(MoneyType, description="Revenue / orders not cancelled")

    resolve_revenue = staticmethod(lambda parent, _: money(parent.revenue))
    resolve_average_basket = staticmethod(lambda parent, _: money(parent.average_basket))


class JourneyType(graphene.ObjectType):
    class Meta:
        name = "ChannelJourney"

    from_channel = graphene.String(required=True, description="Where the cart started")
    to_channel = graphene.String(required=True, description="Where the order was placed")
    orders = graphene.Int(required=True)
    revenue = graphene.Field(MoneyType, required=True)

    resolve_revenue = staticmethod(lambda parent, _: money(parent.revenue))


class KpiReportType(graphene.ObjectType):
    class Meta:
        name = "KpiReport"

    since = graphene.DateTime(required=True)
    until = graphene.DateTime(required=True)
    channels = graphene.List(graphene.NonNull(ChannelKpisType), required=True)
    journeys = graphene.List(graphene.NonNull(JourneyType), required=True,
                             description="Cross-channel journeys, most orders first")


# -- staff keys -----------------------------------------------------------------------------------


class StaffKeyType(graphene.ObjectType):
    class Meta:
        name = "StaffKey"

    id = graphene.ID(required=True)
    name = graphene.String(required=True)
    permissions = graphene.List(graphene.NonNull(PermissionEnum), required=True)
    locations = graphene.List(graphene.NonNull(graphene.String),
                              description="null: every location")

    @staticmethod
    def resolve_id(parent: Any, _: graphene.ResolveInfo) -> str:
        return str(getattr(parent, "key_id", None) or parent.id)

    @staticmethod
    def resolve_permissions(parent: Any, _: graphene.ResolveInfo) -> list[Permission]:
        return sorted(parent.permissions)

    @staticmethod
    def resolve_locations(parent: Any, _: graphene.ResolveInfo) -> list[str] | None:
        return None if parent.locations is None else sorted(parent.locations)


async def _check_grant(info: graphene.ResolveInfo, staff: StaffPrincipal,
                       permissions: list[Permission], locations: list[str] | None) -> None:
    """A key may only hand out what it has, where it has it; every location must exist."""
    for index, permission in enumerate(permissions):
        if permission not in staff.permissions:
            raise Forbidden(f"this staff key cannot grant {permission.value}, which it lacks",
                            field=f"permissions[{index}]")
    if staff.locations is not None and locations is None:
        raise Forbidden("a key limited to locations issues keys limited to its locations",
                        field="locations")
    for index, code in enumerate(locations or []):
        if not staff.may_see(code):
            raise Forbidden(f"this staff key may not act on location {code!r}",
                            field=f"locations[{index}]")
        await commerce_of(info).locations.get(code)


class StaffKeyCreate(graphene.Mutation):
    """Issue a staff key. ``plainKey`` is shown this once: omnicore keeps only its hash
    (MANAGE_STAFF; no more permissions or locations than the caller's)."""

    class Meta:
        name = "StaffKeyCreatePayload"

    class Arguments:
        name = graphene.String(required=True)
        permissions = graphene.List(graphene.NonNull(PermissionEnum), required=True)
        locations = graphene.List(graphene.NonNull(graphene.String),
                                  description="Limit the key to these locations "
                                              "(omit: every location)")

    key = graphene.Field(StaffKeyType)
    plain_key = graphene.String(description="The secret, shown once: "
                                            "Authorization: Bearer <plainKey>")
    user_errors = user_errors_field()

    @staticmethod
    async def mutate(_: Any, info: graphene.ResolveInfo, name: str, permissions: list[Any],
                     locations: list[str] | None = None) -> dict[str, Any]:
        async def work() -> dict[str, Any]:
            staff = require(info, Permission.MANAGE_STAFF)
            wanted = [_permission(p) for p in permissions]
            if not wanted:
                raise InvalidInput("give at least one permission", field="permissions")
            await _check_grant(info, staff, wanted, locations)
            issued = await commerce_of(info).auth.create_staff_key(name, wanted,
                                                                   locations=locations)
            return {"key": issued, "plain_key": issued.key}

        return await mutation_result(work)


class StaffKeyRevoke(graphene.Mutation):
    """Revoke a staff key: it is refused from the next request on (MANAGE_STAFF, with a key
    not limited to locations)."""

    class Meta:
        name = "StaffKeyRevokePayload"

    class Arguments:
        id = graphene.ID(required=True)

    revoked_id = graphene.ID()
    user_errors = user_errors_field()

    @staticmethod
    async def mutate(_: Any, info: graphene.ResolveInfo, id: str) -> dict[str, Any]:
        async def work() -> dict[str, Any]:
            require_unscoped(info, Permission.MANAGE_STAFF, "revoking a staff key")
            await commerce_of(info).auth.revoke_staff_key(id)
            return {"revoked_id": id}

        return await mutation_result(work, fields={"key_id": "id"})


# -- the root fields ------------------------------------------------------------------------------


class AdminOutboxQuery(graphene.ObjectType):
    outbox_deliveries = graphene.List(
        graphene.NonNull(OutboxDeliveryType), required=True, status=graphene.String(),
        consumer=graphene.String(), limit=graphene.Int(default_value=100),
        description="Deliveries, newest first, by status (pending, delivered, dead) and "
                    "consumer (MANAGE_OUTBOX)")
    outbox_counts = graphene.Field(OutboxCountsType, required=True,
                                   description="Deliveries per status (MANAGE_OUTBOX)")
    channel_kpis = graphene.Field(
        KpiReportType, required=True, since=graphene.DateTime(), until=graphene.DateTime(),
        channels=graphene.List(graphene.NonNull(graphene.String)),
        description="Per-channel KPIs over [since, until) — default the last 30 days — and "
                    "cross-channel journeys (VIEW_REPORTS; a scoped key sees the channels of "
                    "its locations)")
    staff_me = graphene.Field(StaffKeyType, required=True,
                              description="The calling key: its permissions and locations "
                                          "(any valid key)")

    @staticmethod
    async def resolve_outbox_deliveries(_: Any, info: graphene.ResolveInfo, limit: int,
                                        status: str | None = None,
                                        consumer: str | None = None) -> list[Delivery]:
        require(info, Permission.MANAGE_OUTBOX)
        if not 1 <= limit <= DELIVERIES_MAX:
            raise InvalidInput(f"must be between 1 and {DELIVERIES_MAX}", field="limit")
        found: list[Delivery] = await commerce_of(info).outbox.deliveries(
            status=status, consumer=consumer, limit=limit)
        return found

    @staticmethod
    async def resolve_outbox_counts(_: Any, info: graphene.ResolveInfo) -> dict[str, int]:
        require(info, Permission.MANAGE_OUTBOX)
        counts = await commerce_of(info).outbox.counts()
        return {status: counts.get(status, 0) for status in ("pending", "delivered", "dead")}

    @staticmethod
    async def resolve_channel_kpis(_: Any, info: graphene.ResolveInfo,
                                   since: dt.datetime | None = None,
                                   until: dt.datetime | None = None,
                                   channels: list[str] | None = None) -> KpiReport:
        staff = require(info, Permission.VIEW_REPORTS)
        commerce = commerce_of(info)
        if staff.locations is not None:
            mine = {c.code for c in await commerce.channels.list() if covers_channel(staff, c)}
            for index, code in enumerate(channels or []):
                if code not in mine:
                    raise Forbidden(f"this staff key may not see channel {code!r}",
                                    field=f"channels[{index}]")
            channels = sorted(mine) if channels is None else channels
        return await KpiService(commerce).report(since=since, until=until, channels=channels)

    @staticmethod
    def resolve_staff_me(_: Any, info: graphene.ResolveInfo) -> StaffPrincipal:
        staff = context_of(info).staff
        if staff is None:
            raise Forbidden("a staff key is required", field="authorization")
        return staff


class AdminOutboxMutation(graphene.ObjectType):
    outbox_retry = OutboxRetry.Field(required=True)
    staff_key_create = StaffKeyCreate.Field(required=True)
    staff_key_revoke = StaffKeyRevoke.Field(required=True)

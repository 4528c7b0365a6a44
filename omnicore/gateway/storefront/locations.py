"""Storefront view of the channel and its locations (stores, warehouse, pickup points)."""

from __future__ import annotations

from typing import Any

import graphene

from omnicore.network import Location


class GeoPointType(graphene.ObjectType):
    class Meta:
        name = "GeoPoint"

    lat = graphene.Float(required=True)
    lng = graphene.Float(required=True)


class LocationType(graphene.ObjectType):
    class Meta:
        name = "Location"

    code = graphene.String(required=True)
    name = graphene.String(required=True)
    kind = graphene.String(required=True)
    city = graphene.String(required=True)
    geo = graphene.Field(GeoPointType, required=True)
    timezone = graphene.String(required=True)
    capabilities = graphene.List(graphene.NonNull(graphene.String), required=True)
    open_now = graphene.Boolean(required=True)

    @staticmethod
    def resolve_city(parent: Location, _: graphene.ResolveInfo) -> str:
        return parent.address.city

    @staticmethod
    def resolve_capabilities(parent: Location, _: graphene.ResolveInfo) -> list[str]:
        return sorted(c.value for c in parent.capabilities)

    @staticmethod
    def resolve_kind(parent: Location, _: graphene.ResolveInfo) -> str:
        return parent.kind.value

    @staticmethod
    def resolve_open_now(parent: Location, info: graphene.ResolveInfo) -> bool:
        return parent.hours.is_open(info.context.commerce.clock(), parent.timezone)


class ChannelType(graphene.ObjectType):
    class Meta:
        name = "Channel"

    code = graphene.String(required=True)
    name = graphene.String(required=True)
    kind = graphene.String(required=True)
    currency = graphene.String(required=True)
    locations = graphene.List(graphene.NonNull(LocationType), required=True)

    @staticmethod
    def resolve_kind(parent: Any, _: graphene.ResolveInfo) -> str:
        return str(parent.kind.value)

    @staticmethod
    async def resolve_locations(parent: Any, info: graphene.ResolveInfo) -> list[Location]:
        codes = {entry.location for entry in parent.locations}
        every = await info.context.commerce.locations.list(active_only=True)
        return [location for location in every if location.code in codes]


class LocationsQuery(graphene.ObjectType):
    channel = graphene.Field(ChannelType, required=True, description="The caller's channel")

    @staticmethod
    def resolve_channel(_: Any, info: graphene.ResolveInfo) -> Any:
        return info.context.channel

"""Storefront stock: the ``Availability`` of products and variants, and ``storeAvailability``.

What a shopper may buy is what the caller's channel may sell (after each
location's buffer): ``commerce.stock.availability_many``, batched per request by
``loaders.availability``. Physical counts (``on_hand``) stay with the admin API.
``storeAvailability`` is the store locator with live stock: ``commerce.stock.nearby``
for the caller's channel.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import graphene

from omnicore.gateway import loaders
from omnicore.gateway.context import RequestContext
from omnicore.gateway.execution import reads
from omnicore.gateway.storefront.locations import LocationType
from omnicore.network import WEEKDAYS, Location, OpeningHours
from omnicore.stock import NearbyLocation

__all__ = ["AvailabilityType", "GeoPointInput", "StockQuery", "StoreAvailabilityType"]


class LocationStockType(graphene.ObjectType):
    class Meta:
        name = "LocationStock"

    location_code = graphene.String(required=True, resolver=reads("location"))
    location = graphene.Field(LocationType)
    available = graphene.Int(required=True, description="Units this channel may sell there")

    @staticmethod
    async def resolve_location(parent: Any, info: graphene.ResolveInfo) -> Location | None:
        return await loaders.location(info.context, parent.location)  # batched per request


class AvailabilityType(graphene.ObjectType):
    """What the caller's channel may sell of one SKU: per location and in total."""

    class Meta:
        name = "Availability"

    sku = graphene.String(required=True)
    total = graphene.Int(required=True)
    in_stock = graphene.Boolean(required=True, description="Whether the total is above zero")
    locations = graphene.List(graphene.NonNull(LocationStockType), required=True,
                              description="The channel's locations, in its priority order")


# -- the store locator ---------------------------------------------------------------------


class OpeningIntervalType(graphene.ObjectType):
    class Meta:
        name = "OpeningInterval"

    open = graphene.String(required=True, description="Local time, HH:MM")
    close = graphene.String(required=True, description="Local time, HH:MM")

    @staticmethod
    def resolve_open(parent: Any, _: graphene.ResolveInfo) -> str:
        return str(parent.open.strftime("%H:%M"))

    @staticmethod
    def resolve_close(parent: Any, _: graphene.ResolveInfo) -> str:
        return str(parent.close.strftime("%H:%M"))


class DayHoursType(graphene.ObjectType):
    class Meta:
        name = "DayHours"

    day = graphene.String(required=True, description="mon … sun")
    intervals = graphene.List(graphene.NonNull(OpeningIntervalType), required=True)


class HoursExceptionType(graphene.ObjectType):
    class Meta:
        name = "HoursException"

    date = graphene.Date(required=True)
    intervals = graphene.List(graphene.NonNull(OpeningIntervalType), required=True,
                              description="Empty: closed that day")
    note = graphene.String()


class OpeningHoursType(graphene.ObjectType):
    class Meta:
        name = "OpeningHours"

    timezone = graphene.String(required=True)
    weekly = graphene.List(graphene.NonNull(DayHoursType), required=True,
                           description="Monday first; a closed day has no intervals")
    exceptions = graphene.List(graphene.NonNull(HoursExceptionType), required=True)

    @staticmethod
    def resolve_weekly(parent: tuple[OpeningHours, str], _: graphene.ResolveInfo
                       ) -> list[dict[str, Any]]:
        hours = parent[0]
        return [{"day": day, "intervals": sorted(hours.weekly.get(day, []), key=lambda i: i.open)}
                for day in WEEKDAYS]

    @staticmethod
    def resolve_exceptions(parent: tuple[OpeningHours, str], _: graphene.ResolveInfo
                           ) -> list[Any]:
        return sorted(parent[0].exceptions, key=lambda e: e.date)

    @staticmethod
    def resolve_timezone(parent: tuple[OpeningHours, str], _: graphene.ResolveInfo) -> str:
        return parent[1]


class SkuQuantityType(graphene.ObjectType):
    class Meta:
        name = "SkuQuantity"

    sku = graphene.String(required=True)
    quantity = graphene.Int(required=True)


class StoreAvailabilityType(graphene.ObjectType):
    """A location near the shopper, what it has of the SKUs asked for, and when it is open."""

    class Meta:
        name = "StoreAvailability"

    location = graphene.Field(LocationType, required=True)
    distance_km = graphene.Float(required=True)
    quantities = graphene.List(graphene.NonNull(SkuQuantityType), required=True,
                               description="Per SKU asked for, in the order asked")
    serves_all = graphene.Boolean(required=True, description="Has every SKU asked for")
    open_now = graphene.Boolean(required=True)
    closes_at = graphene.DateTime(description="When it closes, if open now")
    next_opening = graphene.DateTime(description="The next time it opens (local offset)")
    pickup_today = graphene.Boolean(
        required=True,
        description="Offers pickup, has every SKU and is or will be open today")
    opening_hours = graphene.Field(OpeningHoursType, required=True)

    @staticmethod
    def resolve_quantities(parent: NearbyLocation, _: graphene.ResolveInfo
                           ) -> list[dict[str, Any]]:
        return [{"sku": sku, "quantity": quantity} for sku, quantity in parent.quantities.items()]

    @staticmethod
    def resolve_opening_hours(parent: NearbyLocation, _: graphene.ResolveInfo
                              ) -> tuple[OpeningHours, str]:
        return parent.location.hours, parent.location.timezone


class GeoPointInput(graphene.InputObjectType):
    lat = graphene.Float(required=True)
    lng = graphene.Float(required=True)


class StockQuery(graphene.ObjectType):
    store_availability = graphene.List(
        graphene.NonNull(StoreAvailabilityType),
        required=True,
        skus=graphene.List(graphene.NonNull(graphene.String), required=True),
        near=graphene.Argument(GeoPointInput, required=True),
        radius_km=graphene.Float(default_value=25.0, description="Up to 500"),
        first=graphene.Int(default_value=10, description="1 to 100 locations"),
        require_all=graphene.Boolean(default_value=False,
                                     description="Only locations having every SKU"),
        description="Store locator: the channel's locations near a point that have the SKUs, "
                    "those having all of them first, then the nearest",
    )

    @staticmethod
    async def resolve_store_availability(
        _: Any, info: graphene.ResolveInfo, skus: Sequence[str], near: Any, radius_km: float,
        first: int, require_all: bool,
    ) -> list[NearbyLocation]:
        context: RequestContext = info.context
        channel = context.require_channel()
        return await context.commerce.stock.nearby(
            list(skus), near={"lat": near.lat, "lng": near.lng}, channel=channel.code,
            radius_km=radius_km, limit=first, require_all=require_all)

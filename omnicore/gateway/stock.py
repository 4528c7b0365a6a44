"""Storefront stock: ``availability`` of products and variants, and ``storeAvailability``.

What a shopper may buy is what the caller's channel may sell (after each
location's buffer): ``commerce.stock.availability_many``. Physical counts
(``on_hand``) stay with the admin API. ``storeAvailability`` is the store locator
with live stock: ``commerce.stock.nearby`` for the caller's channel.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import graphene

from omnicore.catalog import Product
from omnicore.gateway.context import RequestContext
from omnicore.gateway.locations import LocationType
from omnicore.hours import WEEKDAYS, OpeningHours
from omnicore.locations import Location
from omnicore.stock_models import ChannelAvailability, NearbyLocation

__all__ = [
    "AvailabilityType",
    "BatchLoader",
    "GeoPointInput",
    "StockQuery",
    "StoreAvailabilityType",
    "batch_loader",
    "resolve_product_availability",
    "resolve_variant_availability",
]


class BatchLoader:
    """Collects the keys asked for during one turn of the event loop and loads them with
    one call of ``load(keys) -> {key: value}``; each key is loaded once per request."""

    def __init__(self, load: Callable[[list[str]], Awaitable[dict[str, Any]]]) -> None:
        self._load = load
        self._futures: dict[str, asyncio.Future[Any]] = {}
        self._queue: list[str] = []
        self._tasks: set[asyncio.Task[None]] = set()

    def get(self, key: str) -> asyncio.Future[Any]:
        if key in self._futures:
            return self._futures[key]
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._futures[key] = future
        self._queue.append(key)
        if len(self._queue) == 1:
            loop.call_soon(self._dispatch)
        return future

    def _dispatch(self) -> None:
        keys, self._queue = self._queue, []
        task = asyncio.ensure_future(self._run(keys))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, keys: list[str]) -> None:
        try:
            found = await self._load(keys)
        except Exception as exc:
            for key in keys:
                self._futures[key].set_exception(exc)
            return
        for key in keys:
            self._futures[key].set_result(found.get(key))


def batch_loader(context: RequestContext, name: str,
            load: Callable[[list[str]], Awaitable[dict[str, Any]]]) -> BatchLoader:
    loader = context.loaders.get(name)
    if loader is None:
        loader = context.loaders[name] = BatchLoader(load)
    return loader  # type: ignore[no-any-return]


async def location_of(context: RequestContext, code: str) -> Location | None:
    """The location ``code`` (read once per request, with every other one asked for)."""
    async def load(codes: list[str]) -> dict[str, Any]:
        every = await context.commerce.locations.list()
        return {location.code: location for location in every if location.code in codes}

    found: Location | None = await batch_loader(context, "locations", load).get(code)
    return found


async def availability_of(context: RequestContext, sku: str) -> ChannelAvailability:
    channel = context.require_channel()

    async def load(skus: list[str]) -> dict[str, Any]:
        return dict(await context.commerce.stock.availability_many(skus, channel=channel.code))

    found: ChannelAvailability = await batch_loader(context, "availability", load).get(sku)
    return found


class LocationStockType(graphene.ObjectType):
    class Meta:
        name = "LocationStock"

    location_code = graphene.String(required=True)
    location = graphene.Field(LocationType)
    available = graphene.Int(required=True, description="Units this channel may sell there")

    @staticmethod
    def resolve_location_code(parent: Any, _: graphene.ResolveInfo) -> str:
        return str(parent.location)

    @staticmethod
    async def resolve_location(parent: Any, info: graphene.ResolveInfo) -> Location | None:
        return await location_of(info.context, parent.location)


class AvailabilityType(graphene.ObjectType):
    """What the caller's channel may sell of one SKU: per location and in total."""

    class Meta:
        name = "Availability"

    sku = graphene.String(required=True)
    total = graphene.Int(required=True)
    in_stock = graphene.Boolean(required=True)
    locations = graphene.List(graphene.NonNull(LocationStockType), required=True,
                              description="The channel's locations, in its priority order")

    @staticmethod
    def resolve_in_stock(parent: ChannelAvailability, _: graphene.ResolveInfo) -> bool:
        return parent.total > 0


async def resolve_variant_availability(parent: Any, info: graphene.ResolveInfo
                                       ) -> ChannelAvailability:
    """``Variant.availability`` (batched: one query for every variant of the request)."""
    return await availability_of(info.context, parent.sku)


async def resolve_product_availability(parent: Product, info: graphene.ResolveInfo
                                       ) -> list[ChannelAvailability]:
    """``Product.availability``: one entry per variant, in the variants' order."""
    return list(await asyncio.gather(
        *(availability_of(info.context, variant.sku) for variant in parent.variants)))


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

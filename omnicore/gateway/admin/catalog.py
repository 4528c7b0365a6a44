"""Admin API: the catalog and its prices (``MANAGE_CATALOG``), locations and channels
(``MANAGE_CHANNELS``).

A key scoped to locations sees and saves only its locations, and only the channels
all of whose locations are its own.
"""

from __future__ import annotations

from typing import Any

import graphene

from omnicore.auth import Permission
from omnicore.catalog import Product
from omnicore.errors import Forbidden, NotFound
from omnicore.gateway.admin.common import (
    JSON,
    MoneyInput,
    commerce_of,
    covers_channel,
    fields_under,
    money,
    plain,
    require,
    require_each,
    user_errors_field,
)
from omnicore.gateway.errors import mutation_result
from omnicore.gateway.storefront.catalog import MoneyType
from omnicore.gateway.storefront.locations import GeoPointType
from omnicore.network import Channel, Location
from omnicore.serialization import unstructure

__all__ = ["AdminCatalogMutation", "AdminCatalogQuery"]


# -- types ----------------------------------------------------------------------------------------


class AdminPriceType(graphene.ObjectType):
    class Meta:
        name = "AdminPrice"

    amount = graphene.Field(MoneyType, required=True)
    compare_at = graphene.Field(MoneyType)
    channel = graphene.String(description="The channel's own price list, or null: the default")

    @staticmethod
    def resolve_amount(parent: Any, _: graphene.ResolveInfo) -> Any:
        return money(parent.amount)

    @staticmethod
    def resolve_compare_at(parent: Any, _: graphene.ResolveInfo) -> Any:
        return money(parent.compare_at)


class AdminVariantType(graphene.ObjectType):
    class Meta:
        name = "AdminVariant"

    sku = graphene.String(required=True)
    title = graphene.String(required=True)
    barcode = graphene.String()
    attributes = JSON(required=True)
    price = graphene.Field(AdminPriceType, currency=graphene.String(required=True),
                           channel=graphene.String(),
                           description="The price in a currency: the channel's own, else the "
                                       "default list")

    @staticmethod
    async def resolve_price(parent: Any, info: graphene.ResolveInfo, currency: str,
                            channel: str | None = None) -> Any:
        found = await commerce_of(info).catalog.prices_for([parent.sku], currency=currency,
                                                           channel=channel)
        return found.get(parent.sku)


class AdminProductType(graphene.ObjectType):
    class Meta:
        name = "AdminProduct"

    id = graphene.ID(required=True)
    handle = graphene.String(required=True)
    title = graphene.String(required=True)
    description = graphene.String(required=True)
    family = graphene.String()
    attributes = JSON(required=True)
    images = graphene.List(graphene.NonNull(graphene.String), required=True)
    variants = graphene.List(graphene.NonNull(AdminVariantType), required=True)


class AdminProductConnection(graphene.ObjectType):
    nodes = graphene.List(graphene.NonNull(AdminProductType), required=True)
    end_cursor = graphene.String()
    has_next_page = graphene.Boolean(required=True)


class AdminAddressType(graphene.ObjectType):
    class Meta:
        name = "AdminAddress"

    line1 = graphene.String(required=True)
    line2 = graphene.String()
    city = graphene.String(required=True)
    postal_code = graphene.String(required=True)
    region = graphene.String()
    country = graphene.String(required=True)


class AdminLocationType(graphene.ObjectType):
    class Meta:
        name = "AdminLocation"

    code = graphene.String(required=True)
    name = graphene.String(required=True)
    kind = graphene.String(required=True)
    address = graphene.Field(AdminAddressType, required=True)
    geo = graphene.Field(GeoPointType, required=True)
    timezone = graphene.String(required=True)
    hours = JSON(required=True, description="Weekly hours and dated exceptions")
    capabilities = graphene.List(graphene.NonNull(graphene.String), required=True)
    priority = graphene.Int(required=True)
    active = graphene.Boolean(required=True)

    @staticmethod
    def resolve_kind(parent: Location, _: graphene.ResolveInfo) -> str:
        return parent.kind.value

    @staticmethod
    def resolve_hours(parent: Location, _: graphene.ResolveInfo) -> Any:
        return unstructure(parent.hours)

    @staticmethod
    def resolve_capabilities(parent: Location, _: graphene.ResolveInfo) -> list[str]:
        return sorted(c.value for c in parent.capabilities)


class ChannelLocationType(graphene.ObjectType):
    class Meta:
        name = "ChannelLocation"

    location = graphene.String(required=True)
    buffer = graphene.Int(required=True, description="Units hidden from this channel")
    priority = graphene.Int(required=True)


class AdminChannelType(graphene.ObjectType):
    class Meta:
        name = "AdminChannel"

    code = graphene.String(required=True)
    name = graphene.String(required=True)
    kind = graphene.String(required=True)
    currency = graphene.String(required=True)
    active = graphene.Boolean(required=True)
    public_token = graphene.String(required=True, description="The storefront API's key")
    hold_ttl_seconds = graphene.Int(required=True)
    max_hold_ttl_seconds = graphene.Int(required=True)
    locations = graphene.List(graphene.NonNull(ChannelLocationType), required=True)

    @staticmethod
    def resolve_kind(parent: Channel, _: graphene.ResolveInfo) -> str:
        return parent.kind.value


# -- inputs ---------------------------------------------------------------------------------------


class VariantInput(graphene.InputObjectType):
    sku = graphene.String(required=True)
    title = graphene.String()
    attributes = JSON()
    barcode = graphene.String(description="A GTIN (EAN-13, UPC …)")


class ProductInput(graphene.InputObjectType):
    handle = graphene.String(required=True)
    title = graphene.String(required=True)
    variants = graphene.List(graphene.NonNull(VariantInput), required=True)
    description = graphene.String()
    family = graphene.String()
    attributes = JSON()
    images = graphene.List(graphene.NonNull(graphene.String))


class PriceInput(graphene.InputObjectType):
    sku = graphene.String(required=True)
    amount = graphene.Field(MoneyInput, required=True)
    channel = graphene.String(description="Omit for the default list of the currency")
    compare_at = graphene.Field(MoneyInput)


class AddressInput(graphene.InputObjectType):
    line1 = graphene.String(required=True)
    line2 = graphene.String()
    city = graphene.String(required=True)
    postal_code = graphene.String(required=True)
    region = graphene.String()
    country = graphene.String(required=True, description="ISO 3166-1 alpha-2")


class GeoPointInput(graphene.InputObjectType):
    lat = graphene.Float(required=True)
    lng = graphene.Float(required=True)


class LocationInput(graphene.InputObjectType):
    code = graphene.String(required=True)
    name = graphene.String(required=True)
    kind = graphene.String(required=True, description="warehouse, store or pickup_point")
    address = graphene.Field(AddressInput, required=True)
    geo = graphene.Field(GeoPointInput, required=True)
    timezone = graphene.String(description="IANA time zone (default UTC)")
    hours = JSON(description='{"weekly": {"mon": [{"open": "10:00", "close": "19:00"}]}, '
                             '"exceptions": [...]}')
    capabilities = graphene.List(graphene.NonNull(graphene.String),
                                 description="ship, pickup, ship_from_store, returns")
    priority = graphene.Int()
    active = graphene.Boolean()


class ChannelLocationInput(graphene.InputObjectType):
    location = graphene.String(required=True)
    buffer = graphene.Int()
    priority = graphene.Int()


class ChannelInput(graphene.InputObjectType):
    code = graphene.String(required=True)
    name = graphene.String(required=True)
    kind = graphene.String(required=True,
                           description="web, app, store, marketplace, social or phone")
    currency = graphene.String(required=True)
    locations = graphene.List(graphene.NonNull(ChannelLocationInput))
    hold_ttl_seconds = graphene.Int()
    max_hold_ttl_seconds = graphene.Int()
    active = graphene.Boolean()


# -- queries --------------------------------------------------------------------------------------


class AdminCatalogQuery(graphene.ObjectType):
    products = graphene.Field(AdminProductConnection, required=True, query=graphene.String(),
                              first=graphene.Int(default_value=20), after=graphene.String(),
                              description="Products by handle, cursor-paginated "
                                          "(MANAGE_CATALOG)")
    product = graphene.Field(AdminProductType, handle=graphene.String(), sku=graphene.String(),
                             description="One product by handle or SKU (MANAGE_CATALOG)")
    locations = graphene.List(graphene.NonNull(AdminLocationType), required=True,
                              active_only=graphene.Boolean(default_value=False),
                              description="Locations by priority (MANAGE_CHANNELS; a scoped "
                                          "key sees its own)")
    channels = graphene.List(graphene.NonNull(AdminChannelType), required=True,
                             description="Sales channels (MANAGE_CHANNELS; a scoped key sees "
                                         "those all of whose locations are its own)")

    @staticmethod
    async def resolve_products(_: Any, info: graphene.ResolveInfo, first: int,
                               query: str | None = None, after: str | None = None) -> Any:
        require(info, Permission.MANAGE_CATALOG)
        page = await commerce_of(info).catalog.products(query=query, first=first, after=after)
        return {"nodes": page.items, "end_cursor": page.end_cursor,
                "has_next_page": page.has_next_page}

    @staticmethod
    async def resolve_product(_: Any, info: graphene.ResolveInfo, handle: str | None = None,
                              sku: str | None = None) -> Product:
        require(info, Permission.MANAGE_CATALOG)
        found: Product = await commerce_of(info).catalog.product(handle=handle, sku=sku)
        return found

    @staticmethod
    async def resolve_locations(_: Any, info: graphene.ResolveInfo,
                                active_only: bool) -> list[Location]:
        staff = require(info, Permission.MANAGE_CHANNELS)
        every = await commerce_of(info).locations.list(active_only=active_only)
        return [location for location in every if staff.may_see(location.code)]

    @staticmethod
    async def resolve_channels(_: Any, info: graphene.ResolveInfo) -> list[Channel]:
        staff = require(info, Permission.MANAGE_CHANNELS)
        return [c for c in await commerce_of(info).channels.list() if covers_channel(staff, c)]


# -- mutations ------------------------------------------------------------------------------------


class ProductSave(graphene.Mutation):
    """Create or update a product by handle; variants are upserted by SKU (MANAGE_CATALOG)."""

    class Meta:
        name = "ProductSavePayload"

    class Arguments:
        input = ProductInput(required=True)

    product = graphene.Field(AdminProductType)
    user_errors = user_errors_field()

    @staticmethod
    async def mutate(_: Any, info: graphene.ResolveInfo, input: Any) -> dict[str, Any]:
        async def work() -> dict[str, Any]:
            require(info, Permission.MANAGE_CATALOG)
            with fields_under("input"):
                return {"product": await commerce_of(info).catalog.save_product(plain(input))}

        return await mutation_result(work)


class PricesSet(graphene.Mutation):
    """Set prices, all or none: the default list of a currency, or a channel's own
    (MANAGE_CATALOG)."""

    class Meta:
        name = "PricesSetPayload"

    class Arguments:
        prices = graphene.List(graphene.NonNull(PriceInput), required=True)

    count = graphene.Int(description="How many prices were set")
    user_errors = user_errors_field()

    @staticmethod
    async def mutate(_: Any, info: graphene.ResolveInfo, prices: list[Any]) -> dict[str, Any]:
        async def work() -> dict[str, Any]:
            require(info, Permission.MANAGE_CATALOG)
            with fields_under("prices"):
                await commerce_of(info).catalog.set_prices(plain(prices))
            return {"count": len(prices)}

        return await mutation_result(work)


class LocationSave(graphene.Mutation):
    """Create or replace a location by code (MANAGE_CHANNELS, for that location)."""

    class Meta:
        name = "LocationSavePayload"

    class Arguments:
        input = LocationInput(required=True)

    location = graphene.Field(AdminLocationType)
    user_errors = user_errors_field()

    @staticmethod
    async def mutate(_: Any, info: graphene.ResolveInfo, input: Any) -> dict[str, Any]:
        async def work() -> dict[str, Any]:
            require(info, Permission.MANAGE_CHANNELS, location=input["code"])
            with fields_under("input"):
                return {"location": await commerce_of(info).locations.save(plain(input))}

        return await mutation_result(work)


class ChannelSave(graphene.Mutation):
    """Create or replace a channel by code; its public token is kept (MANAGE_CHANNELS, for
    every location the channel had and has)."""

    class Meta:
        name = "ChannelSavePayload"

    class Arguments:
        input = ChannelInput(required=True)

    channel = graphene.Field(AdminChannelType)
    user_errors = user_errors_field()

    @staticmethod
    async def mutate(_: Any, info: graphene.ResolveInfo, input: Any) -> dict[str, Any]:
        async def work() -> dict[str, Any]:
            commerce = commerce_of(info)
            data = plain(input)
            wanted = [entry.get("location") for entry in data.get("locations", [])]
            staff = require_each(info, Permission.MANAGE_CHANNELS, wanted)
            if staff.locations is not None:
                if not wanted:  # a channel of no location is no store's
                    raise Forbidden("a staff key limited to locations saves only channels "
                                    "of its locations", field="location")
                try:
                    before = await commerce.channels.get(data["code"])
                except NotFound:
                    before = None
                if before is not None:
                    require_each(info, Permission.MANAGE_CHANNELS,
                                 [entry.location for entry in before.locations])
            with fields_under("input"):
                return {"channel": await commerce.channels.save(data)}

        return await mutation_result(work)


class AdminCatalogMutation(graphene.ObjectType):
    product_save = ProductSave.Field(required=True)
    prices_set = PricesSet.Field(required=True)
    location_save = LocationSave.Field(required=True)
    channel_save = ChannelSave.Field(required=True)

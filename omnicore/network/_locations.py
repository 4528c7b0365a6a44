"""Locations: the central warehouse, the stores, the pickup points.

A location has an address and a position, a time zone and opening hours, the
capabilities that tell what it may do (``ship``, ``pickup``,
``ship_from_store``, ``returns``) and a priority used when sourcing.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs
from sqlalchemy import select

from omnicore import validators
from omnicore.errors import InvalidInput, NotFound
from omnicore.network._geo import Address, GeoPoint
from omnicore.network._hours import OpeningHours
from omnicore.serialization import structure, unstructure
from omnicore.store.tables import locations as table
from omnicore.store.upsert import upsert

if TYPE_CHECKING:
    from omnicore.store.uow import Tx, UnitOfWork

__all__ = ["Capability", "Location", "LocationKind", "LocationService"]


class LocationKind(enum.StrEnum):
    WAREHOUSE = "warehouse"
    STORE = "store"
    PICKUP_POINT = "pickup_point"


class Capability(enum.StrEnum):
    SHIP = "ship"
    PICKUP = "pickup"
    SHIP_FROM_STORE = "ship_from_store"
    RETURNS = "returns"


def _timezone(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    try:
        ZoneInfo(str(value))
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(f"{value!r} is not an IANA time zone", field=attribute.name) from None


@attrs.frozen
class Location:
    """A place that holds stock or serves customers."""

    code: str = attrs.field(validator=validators.code)
    name: str = attrs.field(validator=[validators.non_empty, validators.max_length(200)])
    kind: LocationKind
    address: Address
    geo: GeoPoint
    timezone: str = attrs.field(default="UTC", validator=_timezone)
    hours: OpeningHours = attrs.field(factory=OpeningHours)
    capabilities: frozenset[Capability] = frozenset()
    priority: int = attrs.field(default=100, validator=validators.strict_int)
    active: bool = True

    def can(self, capability: Capability) -> bool:
        return capability in self.capabilities


def _to_row(location: Location, now: Any) -> dict[str, Any]:
    return {
        "code": location.code,
        "name": location.name,
        "kind": location.kind.value,
        "address": unstructure(location.address),
        "lat": location.geo.lat,
        "lng": location.geo.lng,
        "timezone": location.timezone,
        "hours": unstructure(location.hours),
        "capabilities": sorted(c.value for c in location.capabilities),
        "priority": location.priority,
        "active": location.active,
        "updated_at": now,
    }


def location_from_row(row: Any) -> Location:
    return Location(
        code=row.code,
        name=row.name,
        kind=LocationKind(row.kind),
        address=structure(row.address, Address),
        geo=GeoPoint(row.lat, row.lng),
        timezone=row.timezone,
        hours=structure(row.hours, OpeningHours),
        capabilities=frozenset(Capability(c) for c in row.capabilities),
        priority=row.priority,
        active=row.active,
    )


class LocationService:
    """``commerce.locations``: create, update, read locations."""

    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow

    async def save(self, location: Location | Mapping[str, Any]) -> Location:
        """Create or replace a location (by ``code``); emits ``location.updated``."""
        if not isinstance(location, Location):
            location = structure(dict(location), Location)
        async with self._uow() as tx:
            await upsert(tx.conn, table, [_to_row(location, tx.now)], ["code"])
            tx.emit("location.updated", unstructure(location))
        return location

    async def get(self, code: str) -> Location:
        async with self._uow.read() as tx:
            return await get_location(tx, code)

    async def list(self, *, active_only: bool = False) -> list[Location]:
        query = select(table).order_by(table.c.priority, table.c.code)
        if active_only:
            query = query.where(table.c.active.is_(True))
        async with self._uow.read() as tx:
            rows = (await tx.conn.execute(query)).all()
        return [location_from_row(r) for r in rows]


async def get_location(tx: Tx, code: str, *, field: str = "location") -> Location:
    row = (await tx.conn.execute(select(table).where(table.c.code == code))).first()
    if row is None:
        raise NotFound(f"no location {code!r}", field=field)
    return location_from_row(row)

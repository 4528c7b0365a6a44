"""network."""

from __future__ import annotations

from omnicore.network._channels import (
    Channel,
    ChannelKind,
    ChannelLocation,
    ChannelService,
    get_channel,
)
from omnicore.network._geo import (
    EARTH_RADIUS_KM,
    Address,
    GeoPoint,
    distance_km,
)
from omnicore.network._hours import (
    WEEKDAYS,
    HoursException,
    Interval,
    OpeningHours,
)
from omnicore.network._locations import (
    Capability,
    Location,
    LocationKind,
    LocationService,
    get_location,
    location_from_row,
)

__all__ = [
    "EARTH_RADIUS_KM",
    "WEEKDAYS",
    "Address",
    "Capability",
    "Channel",
    "ChannelKind",
    "ChannelLocation",
    "ChannelService",
    "GeoPoint",
    "HoursException",
    "Interval",
    "Location",
    "LocationKind",
    "LocationService",
    "OpeningHours",
    "distance_km",
    "get_channel",
    "get_location",
    "location_from_row",
]

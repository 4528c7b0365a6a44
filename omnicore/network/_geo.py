"""Places: ``GeoPoint``, ``Address`` and great-circle distance."""

from __future__ import annotations

import math
from typing import Any

import attrs

from omnicore import validators
from omnicore.errors import InvalidInput

__all__ = ["Address", "GeoPoint", "distance_km"]

EARTH_RADIUS_KM = 6371.0088


def _latitude(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not -90 <= value <= 90:
        raise InvalidInput(f"{value!r} is not a latitude (-90..90)", field=attribute.name)


def _longitude(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not -180 <= value <= 180:
        raise InvalidInput(f"{value!r} is not a longitude (-180..180)", field=attribute.name)


@attrs.frozen
class GeoPoint:
    """A WGS 84 position in decimal degrees."""

    lat: float = attrs.field(validator=_latitude)
    lng: float = attrs.field(validator=_longitude)


def distance_km(a: GeoPoint, b: GeoPoint) -> float:
    """Great-circle (haversine) distance between two points, in kilometres."""
    lat1, lat2 = math.radians(a.lat), math.radians(b.lat)
    dlat = lat2 - lat1
    dlng = math.radians(b.lng - a.lng)
    h = math.sin(dlat / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(dlng / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def _country(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, str) or len(value) != 2 or not value.isalpha() or not value.isupper():
        raise InvalidInput(f"{value!r} is not an ISO 3166-1 alpha-2 code", field=attribute.name)


@attrs.frozen
class Address:
    """A postal address; ``country`` is ISO 3166-1 alpha-2 (``FR``)."""

    line1: str = attrs.field(validator=validators.non_empty)
    city: str = attrs.field(validator=validators.non_empty)
    postal_code: str
    country: str = attrs.field(validator=_country)
    line2: str | None = None
    region: str | None = None

"""Every model refuses bad input with ``InvalidInput`` naming the field."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from omnicore import InvalidInput, Money
from omnicore.catalog import Price, Product, Variant
from omnicore.network import (
    Address,
    Capability,
    Channel,
    ChannelKind,
    ChannelLocation,
    GeoPoint,
    HoursException,
    Interval,
    Location,
    LocationKind,
    OpeningHours,
    distance_km,
)
from omnicore.serialization import structure
from omnicore.validators import gtin_is_valid


def invalid(data: Any, cls: type[Any]) -> InvalidInput:
    with pytest.raises(InvalidInput) as info:
        structure(data, cls)
    return info.value


ADDRESS = {"line1": "1 rue de Rivoli", "city": "Paris", "postal_code": "75001", "country": "FR"}
LOCATION = {
    "code": "paris-1", "name": "Paris Rivoli", "kind": "store", "address": ADDRESS,
    "geo": {"lat": 48.86, "lng": 2.34}, "timezone": "Europe/Paris",
}
CHANNEL = {"code": "web", "name": "Web shop", "kind": "web", "currency": "EUR"}
PRODUCT = {"handle": "classic-tee", "title": "Classic tee", "variants": [{"sku": "TEE-M"}]}


# -- Location ------------------------------------------------------------------------------


def test_valid_location() -> None:
    location = structure(
        {**LOCATION, "capabilities": ["pickup", "ship"], "priority": 5,
         "hours": {"weekly": {"mon": [{"open": "10:00", "close": "19:00"}]},
                   "exceptions": [{"date": "2026-12-25"}]}},
        Location,
    )
    assert location.kind is LocationKind.STORE
    assert location.can(Capability.PICKUP) and not location.can(Capability.RETURNS)
    assert location.hours.weekly["mon"] == [Interval(dt.time(10), dt.time(19))]
    assert location.hours.exceptions == [HoursException(dt.date(2026, 12, 25))]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"code": "paris 1"}, "code"),
        ({"code": ""}, "code"),
        ({"code": "x" * 65}, "code"),
        ({"name": "  "}, "name"),
        ({"name": "N" * 201}, "name"),  # the column's size
        ({"kind": "castle"}, "kind"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"timezone": "../etc/passwd"}, "timezone"),
        ({"priority": "high"}, "priority"),
        ({"capabilities": ["ship", "teleport"]}, "capabilities[1]"),
        ({"geo": {"lat": 90.5, "lng": 2}}, "geo.lat"),
        ({"geo": {"lat": -91, "lng": 2}}, "geo.lat"),
        ({"geo": {"lat": 48, "lng": 180.01}}, "geo.lng"),
        ({"geo": {"lat": 48, "lng": -181}}, "geo.lng"),
        ({"geo": {"lat": "north", "lng": 2}}, "geo.lat"),
        ({"address": {**ADDRESS, "country": "fr"}}, "address.country"),
        ({"address": {**ADDRESS, "country": "FRA"}}, "address.country"),
        ({"address": {**ADDRESS, "country": "F1"}}, "address.country"),
        ({"address": {**ADDRESS, "city": ""}}, "address.city"),
        ({"address": {**ADDRESS, "line1": " "}}, "address.line1"),
        ({"address": {k: v for k, v in ADDRESS.items() if k != "postal_code"}},
         "address.postal_code"),
        ({"address": {**ADDRESS, "zip": "75001"}}, "address.zip"),
        ({"hours": {"weekly": {"mon": [{"open": "10:00", "close": "09:00"}]}}},
         "hours.weekly.mon[0].close"),
        ({"hours": {"weekly": {"tue": [{"open": "10:00", "close": "10:00"}]}}},
         "hours.weekly.tue[0].close"),
        ({"hours": {"weekly": {"mon": [{"open": "10:00", "close": "12:00"},
                                       {"open": "11:30", "close": "19:00"}]}}},
         "hours.weekly.mon"),
        ({"hours": {"weekly": {"funday": []}}}, "hours.weekly"),
        ({"hours": {"weekly": {"mon": [{"open": "25:00", "close": "26:00"}]}}},
         "hours.weekly.mon[0].open"),
        ({"hours": {"exceptions": [{"date": "2026-02-30"}]}}, "hours.exceptions[0].date"),
        ({"hours": {"exceptions": [{"date": "2026-12-24",
                                    "intervals": [{"open": "16:00", "close": "10:00"}]}]}},
         "hours.exceptions[0].intervals[0].close"),
    ],
)
def test_location_errors_name_the_field(change: dict[str, Any], field: str) -> None:
    error = invalid({**LOCATION, **change}, Location)
    assert error.field == field, error.message
    assert error.code == "invalid_input"
    assert error.problems[0].field == field


@pytest.mark.parametrize("missing", ["code", "name", "kind", "address", "geo"])
def test_location_missing_field(missing: str) -> None:
    error = invalid({k: v for k, v in LOCATION.items() if k != missing}, Location)
    assert error.field == missing
    assert "required" in error.message


def test_location_unknown_key_is_named() -> None:
    error = invalid({**LOCATION, "colour": "red"}, Location)
    assert error.field == "colour"


def test_location_constructor_validates_directly() -> None:
    with pytest.raises(InvalidInput) as info:
        Location("wh", "Warehouse", LocationKind.WAREHOUSE, Address("x", "Paris", "1", "FR"),
                 GeoPoint(48.0, 2.0), timezone="Nowhere/Town")
    assert info.value.field == "timezone"
    with pytest.raises(InvalidInput) as info:
        Location("wh", "Warehouse", LocationKind.WAREHOUSE, Address("x", "Paris", "1", "FR"),
                 GeoPoint(48.0, 2.0), priority=True)
    assert info.value.field == "priority"


# -- geo -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("lat", "lng", "field"),
                         [(90.0001, 0, "lat"), (-90.0001, 0, "lat"), (0, 180.5, "lng"),
                          (0, -180.5, "lng"), (True, 0, "lat"), (0, "1", "lng")])
def test_geopoint_ranges(lat: Any, lng: Any, field: str) -> None:
    with pytest.raises(InvalidInput) as info:
        GeoPoint(lat, lng)
    assert info.value.field == field


def test_geopoint_bounds_are_inclusive_and_distance() -> None:
    GeoPoint(90, 180)
    GeoPoint(-90, -180)
    paris, lyon = GeoPoint(48.8566, 2.3522), GeoPoint(45.7640, 4.8357)
    assert distance_km(paris, lyon) == pytest.approx(392, abs=3)
    assert distance_km(paris, paris) == 0


@pytest.mark.parametrize("country", ["fr", "FRA", "F", "", "1A", None])
def test_address_country(country: Any) -> None:
    with pytest.raises(InvalidInput) as info:
        Address("1 rue", "Paris", "75001", country)
    assert info.value.field == "country"


# -- opening hours ---------------------------------------------------------------------------


def test_interval_close_before_open() -> None:
    with pytest.raises(InvalidInput) as info:
        Interval(dt.time(19), dt.time(10))
    assert info.value.field == "close"


def test_overlap_detected_whatever_the_order() -> None:
    late, early = Interval(dt.time(14), dt.time(19)), Interval(dt.time(10), dt.time(14, 30))
    with pytest.raises(InvalidInput) as info:
        OpeningHours(weekly={"sat": [late, early]})
    assert info.value.field == "weekly.sat"
    # touching intervals (lunch break of zero length) are fine
    OpeningHours(weekly={"sat": [Interval(dt.time(14), dt.time(19)),
                                 Interval(dt.time(10), dt.time(14))]})


# -- Channel ---------------------------------------------------------------------------------


def test_valid_channel() -> None:
    channel = structure(
        {**CHANNEL, "locations": [{"location": "wh", "buffer": 2, "priority": 1},
                                  {"location": "paris-1"}]},
        Channel,
    )
    assert channel.kind is ChannelKind.WEB
    assert [c.location for c in channel.ordered_locations()] == ["paris-1", "wh"]
    assert channel.sells_from("wh") == ChannelLocation("wh", 2, 1)
    assert channel.sells_from("lyon") is None
    assert channel.hold_ttl == dt.timedelta(minutes=15)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"code": "web shop"}, "code"),
        ({"name": ""}, "name"),
        ({"name": "N" * 201}, "name"),
        ({"public_token": ""}, "public_token"),
        ({"public_token": "pub token"}, "public_token"),
        ({"public_token": "p" * 65}, "public_token"),
        ({"kind": "fax"}, "kind"),
        ({"currency": "EURO"}, "currency"),
        ({"currency": "eur"}, "currency"),
        ({"hold_ttl_seconds": 0}, "hold_ttl_seconds"),
        ({"hold_ttl_seconds": -5}, "hold_ttl_seconds"),
        ({"hold_ttl_seconds": 1000, "max_hold_ttl_seconds": 999}, "max_hold_ttl_seconds"),
        ({"locations": [{"location": "wh"}, {"location": "wh", "buffer": 1}]}, "locations[1]"),
        ({"locations": [{"location": "wh", "buffer": -1}]}, "locations[0].buffer"),
        ({"locations": [{"location": "wh"}, {"location": "bad code"}]},
         "locations[1].location"),
        ({"locations": [{"location": "wh", "priority": "first"}]}, "locations[0].priority"),
        ({"locations": [{"buffer": 1}]}, "locations[0].location"),
    ],
)
def test_channel_errors_name_the_field(change: dict[str, Any], field: str) -> None:
    error = invalid({**CHANNEL, **change}, Channel)
    assert error.field == field, error.message


@pytest.mark.parametrize(("kwargs", "field"),
                         [({"location": "a b"}, "location"),
                          ({"location": "wh", "buffer": -3}, "buffer"),
                          ({"location": "wh", "buffer": 1.5}, "buffer"),
                          ({"location": "wh", "priority": None}, "priority")])
def test_channel_location_direct(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as info:
        ChannelLocation(**kwargs)
    assert info.value.field == field


# -- Product / Variant / Price ----------------------------------------------------------------


@pytest.mark.parametrize(
    "code", ["4006381333931", "96385074", "036000291452", "10012345678902", "0000000000000"]
)
def test_valid_gtins(code: str) -> None:
    assert gtin_is_valid(code)
    assert Variant("SKU-1", barcode=code).barcode == code


@pytest.mark.parametrize(
    "code", ["4006381333932", "96385075", "036000291453", "10012345678901", "400638133393",
             "40063813339311", "4006381333-31", "abcdefghijklm", ""]
)
def test_invalid_gtins(code: str) -> None:
    assert not gtin_is_valid(code)
    with pytest.raises(InvalidInput) as info:
        Variant("SKU-1", barcode=code)
    assert info.value.field == "barcode"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"handle": "Classic Tee"}, "handle"),
        ({"handle": "classic--tee"}, "handle"),
        ({"handle": "-tee"}, "handle"),
        ({"title": ""}, "title"),
        ({"handle": "a" * 201}, "handle"),  # the columns' sizes
        ({"title": "T" * 501}, "title"),
        ({"family": "f" * 101}, "family"),
        ({"variants": [{"sku": "TEE-M", "title": "t" * 501}]}, "variants[0].title"),
        ({"variants": []}, "variants"),
        ({"variants": [{"sku": "TEE-M"}, {"sku": "TEE L"}]}, "variants[1].sku"),
        ({"variants": [{"sku": "TEE-M"}, {"sku": "X" * 65}]}, "variants[1].sku"),
        ({"variants": [{"sku": "TEE-M"}, {"sku": "TEE-M"}]}, "variants[1].sku"),
        ({"variants": [{"sku": "TEE-M"}, {"sku": "TEE-L", "barcode": "4006381333932"}]},
         "variants[1].barcode"),
        ({"variants": [{"title": "M"}]}, "variants[0].sku"),
        ({"variants": [{"sku": "TEE-M", "colour": "red"}]}, "variants[0].colour"),
    ],
)
def test_product_errors_name_the_field(change: dict[str, Any], field: str) -> None:
    error = invalid({**PRODUCT, **change}, Product)
    assert error.field == field, error.message


def test_every_bad_nested_field_is_listed() -> None:
    error = invalid(
        {**PRODUCT, "variants": [{"sku": "a b"}, {"sku": "OK"}, {"sku": "c d"}]}, Product
    )
    assert [p.field for p in error.problems] == ["variants[0].sku", "variants[2].sku"]
    assert "variants[0].sku" in error.message and "variants[2].sku" in error.message
    error = invalid({**LOCATION, "kind": "castle", "geo": {"lat": 99, "lng": 0},
                     "address": {**ADDRESS, "country": "fr"}}, Location)
    assert {p.field for p in error.problems} == {"kind", "geo.lat", "address.country"}


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"sku": "TEE-M", "amount": {"amount": "-0.01", "currency": "EUR"}}, "amount"),
        ({"sku": "TEE-M", "amount": {"amount": "1", "currency": "EUR"},
          "compare_at": {"amount": "-5", "currency": "EUR"}}, "compare_at"),
        ({"sku": "TEE-M", "amount": {"amount": 19.9, "currency": "EUR"}}, "amount.amount"),
        ({"sku": "TEE-M", "amount": {"amount": "1", "currency": "EURO"}}, "amount.currency"),
        ({"sku": "TEE-M", "amount": {"amount": "1"}}, "amount"),
        ({"sku": "TEE-M", "amount": "19.90"}, "amount"),
        ({"sku": "TE M", "amount": {"amount": "1", "currency": "EUR"}}, "sku"),
        ({"amount": {"amount": "1", "currency": "EUR"}}, "sku"),
    ],
)
def test_price_errors_name_the_field(data: dict[str, Any], field: str) -> None:
    error = invalid(data, Price)
    assert error.field == field, error.message


def test_price_direct_negative() -> None:
    with pytest.raises(InvalidInput) as info:
        Price("TEE-M", Money("-1", "EUR"))
    assert info.value.field == "amount"
    assert Price("TEE-M", Money("0", "EUR")).amount == Money.zero("EUR")


def test_error_as_dict_is_what_the_gateway_shows() -> None:
    error = invalid({**PRODUCT, "variants": [{"sku": "A"}, {"sku": "B B"}]}, Product)
    shown = error.as_dict()
    assert shown["code"] == "invalid_input"
    assert shown["field"] == "variants[1].sku"
    assert "B B" in shown["message"]

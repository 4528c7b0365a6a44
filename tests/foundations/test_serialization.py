"""The one converter: JSON-safe unstructuring and structuring that names bad fields."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from omnicore import InvalidInput, Money
from omnicore.catalog import Price, Product
from omnicore.network import Channel, Location, OpeningHours
from omnicore.serialization import dumps, loads, structure, unstructure
from omnicore.testing import paris_address


@attrs.frozen
class Stamp:
    at: dt.datetime
    day: dt.date
    opens: dt.time
    ratio: Decimal
    total: Money
    note: str | None = None


def test_money_and_decimal_travel_as_strings() -> None:
    stamp = Stamp(
        at=dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC), day=dt.date(2026, 12, 25),
        opens=dt.time(10, 0), ratio=Decimal("0.10"), total=Money("19.9", "EUR"),
    )
    data = unstructure(stamp)
    assert data == {
        "at": "2026-03-02T09:30:00+00:00", "day": "2026-12-25", "opens": "10:00",
        "ratio": "0.10", "total": {"amount": "19.90", "currency": "EUR"}, "note": None,
    }
    assert json.loads(dumps(stamp)) == data
    assert structure(data, Stamp) == stamp
    assert loads(dumps(stamp), Stamp) == stamp


def test_dumps_is_compact_and_keeps_unicode() -> None:
    assert dumps({"city": "Besançon", "n": 1}) == '{"city":"Besançon","n":1}'


def test_naive_datetime_is_read_as_utc_and_offsets_are_kept() -> None:
    base = {"day": "2026-01-01", "opens": "09:00", "ratio": "1",
            "total": {"amount": "1", "currency": "EUR"}}
    naive = structure({**base, "at": "2026-03-02T09:30:00"}, Stamp)
    assert naive.at == dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC)
    paris = structure({**base, "at": "2026-03-02T10:30:00+01:00"}, Stamp)
    assert paris.at == naive.at
    assert paris.at.utcoffset() == dt.timedelta(hours=1)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"at": "yesterday"}, "at"),
        ({"at": 1700000000}, "at"),
        ({"day": "2026-02-30"}, "day"),
        ({"opens": "noon"}, "opens"),
        ({"ratio": 0.1}, "ratio"),
        ({"ratio": "ten"}, "ratio"),
        ({"ratio": True}, "ratio"),
        ({"total": {"amount": 1.5, "currency": "EUR"}}, "total.amount"),
        ({"total": {"amount": "1.5", "currency": "XXX1"}}, "total.currency"),
        ({"total": {"amount": "1.5", "currency": "EUR", "tax": "0"}}, "total"),
        ({"total": 5}, "total"),
        ({"extra": 1}, "extra"),
    ],
)
def test_bad_fields_are_named(change: dict[str, Any], field: str) -> None:
    data = {"at": "2026-03-02T09:30:00Z", "day": "2026-01-01", "opens": "09:00",
            "ratio": "1", "total": {"amount": "1", "currency": "EUR"}, **change}
    with pytest.raises(InvalidInput) as info:
        structure(data, Stamp)
    assert info.value.field == field, info.value.message
    assert [p.field for p in info.value.problems] == [field]


def test_missing_fields_are_each_reported() -> None:
    with pytest.raises(InvalidInput) as info:
        structure({"day": "2026-01-01", "opens": "09:00"}, Stamp)
    assert {p.field for p in info.value.problems} == {"at", "ratio", "total"}
    assert all(p.message == "is required" for p in info.value.problems)


def test_prefix_field_is_prepended() -> None:
    with pytest.raises(InvalidInput) as info:
        structure({"sku": "A", "amount": {"amount": "-1", "currency": "EUR"}}, Price,
                  field="prices[3]")
    assert info.value.field == "prices[3].amount"


def test_wrong_container_type() -> None:
    with pytest.raises(InvalidInput) as info:
        structure({"handle": "a", "title": "A", "variants": "TEE-M"}, Product)
    assert info.value.field is not None and info.value.field.startswith("variants")
    with pytest.raises(InvalidInput) as info:
        structure({"weekly": {"mon": 5}}, OpeningHours)
    assert info.value.field == "weekly.mon"


def test_loads_refuses_malformed_json() -> None:
    with pytest.raises(InvalidInput) as info:
        loads('{"handle": ', Product)
    assert "malformed JSON" in info.value.message


def test_models_round_trip() -> None:
    location = structure(
        {"code": "paris-1", "name": "Paris", "kind": "store", "address": paris_address(),
         "geo": {"lat": 48.86, "lng": 2.33}, "timezone": "Europe/Paris",
         "capabilities": ["pickup", "returns"],
         "hours": {"weekly": {"mon": [{"open": "10:00", "close": "13:00"},
                                      {"open": "14:00", "close": "19:00"}]},
                   "exceptions": [{"date": "2026-12-25", "note": "Noël"}]}},
        Location,
    )
    assert loads(dumps(location), Location) == location
    channel = structure({"code": "web", "name": "Web", "kind": "web", "currency": "EUR",
                         "locations": [{"location": "paris-1", "buffer": 2}]}, Channel)
    assert loads(dumps(channel), Channel) == channel
    product = structure({"handle": "tee", "title": "Tee", "variants": [
        {"sku": "TEE-M", "barcode": "4006381333931", "attributes": {"size": "M"}}]}, Product)
    assert loads(dumps(product), Product) == product


@given(
    units=st.integers(min_value=-(10**12), max_value=10**12),
    currency=st.sampled_from(["EUR", "JPY", "KWD", "GBP"]),
)
def test_money_json_round_trip(units: int, currency: str) -> None:
    money = Money.from_minor_units(units, currency)
    text = dumps(money)
    assert "." in json.loads(text)["amount"] or currency == "JPY"
    assert loads(text, Money) == money


@attrs.frozen
class Flags:
    enabled: bool
    tags: list[str] = attrs.field(factory=list)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(True, True), (False, False), ("true", True), ("False", False), ("0", False),
     ("1", True), ("yes", True), ("off", False), (1, True), (0, False)],
)
def test_booleans_from_text_as_environment_variables_give_them(raw: Any, expected: bool) -> None:
    assert structure({"enabled": raw}, Flags).enabled is expected


@pytest.mark.parametrize("raw", ["perhaps", "", 2, 1.0, None])
def test_non_booleans_refused(raw: Any) -> None:
    with pytest.raises(InvalidInput) as info:
        structure({"enabled": raw}, Flags)
    assert info.value.field == "enabled"


def test_a_string_is_not_a_list() -> None:
    with pytest.raises(InvalidInput) as info:
        structure({"enabled": True, "tags": "summer"}, Flags)
    assert info.value.field == "tags"
    assert structure({"enabled": True, "tags": ["summer"]}, Flags).tags == ["summer"]
    assert structure({"enabled": True, "tags": ("a", "b")}, Flags).tags == ["a", "b"]

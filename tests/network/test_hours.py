"""Opening hours evaluated in the location's time zone, across DST and exceptions."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from omnicore.network import OpeningHours
from omnicore.serialization import structure

PARIS = "Europe/Paris"
UTC = dt.UTC


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


@pytest.fixture
def store_hours() -> OpeningHours:
    """Mon-Sat 10:00-19:00, closed Sunday; Christmas closed, Christmas Eve until 16:00."""
    return structure(
        {
            "weekly": {d: [{"open": "10:00", "close": "19:00"}]
                       for d in ("mon", "tue", "wed", "thu", "fri", "sat")},
            "exceptions": [
                {"date": "2026-12-25", "note": "Noël"},
                {"date": "2026-12-24", "intervals": [{"open": "10:00", "close": "16:00"}]},
                {"date": "2026-12-27", "intervals": [{"open": "11:00", "close": "18:00"}],
                 "note": "Sunday opening before New Year"},
            ],
        },
        OpeningHours,
    )


# Spring forward in Paris: Sunday 29 March 2026, 02:00 CET -> 03:00 CEST.


def test_open_in_local_winter_time(store_hours: OpeningHours) -> None:
    # Saturday 28 March, UTC+1: 10:00 local is 09:00 UTC.
    assert not store_hours.is_open(utc(2026, 3, 28, 8, 59), PARIS)
    assert store_hours.is_open(utc(2026, 3, 28, 9, 0), PARIS)
    assert store_hours.is_open(utc(2026, 3, 28, 17, 59), PARIS)
    assert not store_hours.is_open(utc(2026, 3, 28, 18, 0), PARIS)


def test_open_in_local_summer_time_after_spring_forward(store_hours: OpeningHours) -> None:
    # Monday 30 March, UTC+2: 10:00 local is 08:00 UTC, 19:00 local is 17:00 UTC.
    assert store_hours.is_open(utc(2026, 3, 30, 8, 0), PARIS)
    assert not store_hours.is_open(utc(2026, 3, 30, 7, 59), PARIS)
    # 17:30 UTC is 19:30 CEST: closed (it would be 18:30, open, with the winter offset).
    assert not store_hours.is_open(utc(2026, 3, 30, 17, 30), PARIS)
    # Sunday of the change: closed all day.
    assert not store_hours.is_open(utc(2026, 3, 29, 10, 0), PARIS)


def test_next_opening_across_spring_forward(store_hours: OpeningHours) -> None:
    after = utc(2026, 3, 28, 18, 30)  # Saturday 19:30 CET, just closed
    opening = store_hours.next_opening(after, PARIS)
    assert opening is not None
    assert opening == utc(2026, 3, 30, 8, 0)  # Monday 10:00 CEST
    assert opening.utcoffset() == dt.timedelta(hours=2)
    assert opening.astimezone(ZoneInfo(PARIS)).hour == 10


def test_next_opening_across_fall_back(store_hours: OpeningHours) -> None:
    # Fall back: Sunday 25 October 2026, 03:00 CEST -> 02:00 CET.
    after = utc(2026, 10, 24, 17, 30)  # Saturday 19:30 CEST
    opening = store_hours.next_opening(after, PARIS)
    assert opening == utc(2026, 10, 26, 9, 0)  # Monday 10:00 CET
    assert opening is not None and opening.utcoffset() == dt.timedelta(hours=1)
    # 08:30 UTC Monday is 09:30 CET: still closed (would be 10:30, open, under CEST).
    assert not store_hours.is_open(utc(2026, 10, 26, 8, 30), PARIS)
    assert store_hours.is_open(utc(2026, 10, 26, 9, 0), PARIS)


def test_next_opening_same_day_and_strictly_after(store_hours: OpeningHours) -> None:
    morning = utc(2026, 3, 30, 6, 0)  # Monday 08:00 CEST
    assert store_hours.next_opening(morning, PARIS) == utc(2026, 3, 30, 8, 0)
    at_opening = utc(2026, 3, 30, 8, 0)
    assert store_hours.next_opening(at_opening, PARIS) == utc(2026, 3, 31, 8, 0)


def test_closes_at(store_hours: OpeningHours) -> None:
    assert store_hours.closes_at(utc(2026, 3, 30, 12, 0), PARIS) == utc(2026, 3, 30, 17, 0)
    assert store_hours.closes_at(utc(2026, 3, 27, 12, 0), PARIS) == utc(2026, 3, 27, 18, 0)
    assert store_hours.closes_at(utc(2026, 3, 29, 12, 0), PARIS) is None


def test_christmas_exceptions(store_hours: OpeningHours) -> None:
    # Friday 25 December would be a working day: the exception closes it.
    assert not store_hours.is_open(utc(2026, 12, 25, 11, 0), PARIS)
    assert store_hours.intervals_on(dt.date(2026, 12, 25)) == []
    # Christmas Eve closes early at 16:00 CET.
    assert store_hours.is_open(utc(2026, 12, 24, 14, 59), PARIS)
    assert not store_hours.is_open(utc(2026, 12, 24, 15, 0), PARIS)
    assert store_hours.closes_at(utc(2026, 12, 24, 12, 0), PARIS) == utc(2026, 12, 24, 15, 0)
    # From Christmas Eve's closing, the next opening is Saturday 26th, skipping the 25th.
    assert store_hours.next_opening(utc(2026, 12, 24, 15, 30), PARIS) == utc(2026, 12, 26, 9, 0)
    # A Sunday normally closed, opened by an exception.
    assert store_hours.is_open(utc(2026, 12, 27, 10, 30), PARIS)
    assert not store_hours.is_open(utc(2026, 12, 20, 10, 30), PARIS)
    assert store_hours.next_opening(utc(2026, 12, 26, 20, 0), PARIS) == utc(2026, 12, 27, 10, 0)


def test_split_day_and_other_time_zones() -> None:
    hours = structure({"weekly": {"mon": [{"open": "14:00", "close": "19:00"},
                                          {"open": "09:00", "close": "12:00"}]}}, OpeningHours)
    # Monday 2 March 2026 in New York (UTC-5).
    ny = "America/New_York"
    assert hours.is_open(utc(2026, 3, 2, 14, 0), ny)  # 09:00
    assert not hours.is_open(utc(2026, 3, 2, 17, 30), ny)  # lunch, 12:30
    assert hours.next_opening(utc(2026, 3, 2, 17, 30), ny) == utc(2026, 3, 2, 19, 0)
    # The same instant is Monday 23:30 in Paris: closed there.
    assert not hours.is_open(utc(2026, 3, 2, 22, 30), PARIS)


def test_never_open_returns_none() -> None:
    assert OpeningHours().next_opening(utc(2026, 3, 2, 9, 0), PARIS) is None
    assert not OpeningHours().is_open(utc(2026, 3, 2, 9, 0), PARIS)

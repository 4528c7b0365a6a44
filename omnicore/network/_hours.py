"""Weekly opening hours with dated exceptions, evaluated in a location's time zone."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any
from zoneinfo import ZoneInfo

import attrs

from omnicore.errors import InvalidInput

__all__ = ["WEEKDAYS", "HoursException", "Interval", "OpeningHours"]

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _after_open(inst: Interval, attribute: attrs.Attribute[Any], value: dt.time) -> None:
    if value <= inst.open:
        raise InvalidInput("must be later than open", field=attribute.name)


@attrs.frozen
class Interval:
    """Open from ``open`` to ``close`` (local time, same day)."""

    open: dt.time
    close: dt.time = attrs.field(validator=_after_open)

    def contains(self, moment: dt.time) -> bool:
        return self.open <= moment < self.close


def _weekly(_: object, attribute: attrs.Attribute[Any], value: dict[str, list[Interval]]) -> None:
    for day, intervals in value.items():
        if day not in WEEKDAYS:
            raise InvalidInput(f"{day!r} is not one of {', '.join(WEEKDAYS)}", field=attribute.name)
        ordered = sorted(intervals, key=lambda i: i.open)
        for before, after in itertools.pairwise(ordered):
            if after.open < before.close:
                raise InvalidInput(f"intervals overlap on {day}", field=f"{attribute.name}.{day}")


@attrs.frozen
class HoursException:
    """A dated override: a bank holiday (``intervals=[]``) or special hours."""

    date: dt.date
    intervals: list[Interval] = attrs.field(factory=list)
    note: str | None = None


@attrs.frozen
class OpeningHours:
    """Hours per weekday (``"mon"`` … ``"sun"``) and dated exceptions."""

    weekly: dict[str, list[Interval]] = attrs.field(factory=dict, validator=_weekly)
    exceptions: list[HoursException] = attrs.field(factory=list)

    def intervals_on(self, day: dt.date) -> list[Interval]:
        """The opening intervals of a local calendar day, exceptions first."""
        for exception in self.exceptions:
            if exception.date == day:
                return sorted(exception.intervals, key=lambda i: i.open)
        return sorted(self.weekly.get(WEEKDAYS[day.weekday()], []), key=lambda i: i.open)

    def is_open(self, at: dt.datetime, timezone: str) -> bool:
        local = at.astimezone(ZoneInfo(timezone))
        return any(i.contains(local.time()) for i in self.intervals_on(local.date()))

    def next_opening(
        self, after: dt.datetime, timezone: str, *, horizon_days: int = 14
    ) -> dt.datetime | None:
        """The next moment the location opens, strictly after ``after`` (or None)."""
        zone = ZoneInfo(timezone)
        local = after.astimezone(zone)
        for offset in range(horizon_days + 1):
            day = local.date() + dt.timedelta(days=offset)
            for interval in self.intervals_on(day):
                start = dt.datetime.combine(day, interval.open, tzinfo=zone)
                if start > local:
                    return start
        return None

    def closes_at(self, at: dt.datetime, timezone: str) -> dt.datetime | None:
        """When the current opening interval ends, if open at ``at``."""
        zone = ZoneInfo(timezone)
        local = at.astimezone(zone)
        for interval in self.intervals_on(local.date()):
            if interval.contains(local.time()):
                return dt.datetime.combine(local.date(), interval.close, tzinfo=zone)
        return None

"""The value objects of sourcing: what an order asks for, where it may come from, the plan.

Imported through ``omnicore.sourcing``, which re-exports every name here.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from omnicore import validators
from omnicore.errors import InvalidInput
from omnicore.network import Capability, GeoPoint, LocationKind

__all__ = [
    "Assignment",
    "Candidate",
    "GroupKind",
    "SourcingGroup",
    "SourcingLine",
    "SourcingPlan",
    "SourcingRequest",
]


class GroupKind(enum.StrEnum):
    """How a delivery group reaches the customer."""

    SHIP = "ship"  # a parcel to an address
    PICKUP = "pickup"  # click & collect in a store
    RELAY = "relay"  # a parcel to a relay / pickup point


@attrs.frozen
class SourcingLine:
    """One order line to source: ``quantity`` units of ``sku`` for the group ``group``."""

    line_id: str = attrs.field(validator=validators.non_empty)
    sku: str = attrs.field(validator=validators.sku)
    quantity: int = attrs.field(validator=validators.positive)
    group: str = attrs.field(validator=validators.non_empty)


@attrs.frozen
class SourcingGroup:
    """One delivery group of the order.

    ``destination`` is the ship-to point, the relay point or the pickup store's
    position; None means unknown, and distance is then ignored. ``pickup_location``
    is the store's code for a ``PICKUP`` group (required there), else None.
    """

    key: str = attrs.field(validator=validators.non_empty)
    kind: GroupKind = attrs.field(converter=GroupKind)
    destination: GeoPoint | None = None
    pickup_location: str | None = None


@attrs.frozen
class Candidate:
    """A location the channel may take units from.

    ``rank`` is the channel's order of preference (0 = first; see
    ``Channel.ordered_locations()``). ``available`` maps a SKU to the units this
    order may take there: the channel's share, with the order's own cart holds
    added back. A SKU that is absent has no units.
    """

    location: str
    kind: LocationKind
    geo: GeoPoint
    rank: int
    capabilities: frozenset[Capability]
    available: Mapping[str, int] = attrs.field(factory=dict)

    def has(self, capability: Capability) -> bool:
        return capability in self.capabilities


def _lines(value: Iterable[SourcingLine]) -> tuple[SourcingLine, ...]:
    return tuple(value)


def _groups(value: Iterable[SourcingGroup]) -> tuple[SourcingGroup, ...]:
    return tuple(value)


def _candidates(value: Iterable[Candidate]) -> tuple[Candidate, ...]:
    return tuple(value)


def _unique(items: Iterable[str], what: str, field: str) -> None:
    seen: set[str] = set()
    for index, key in enumerate(items):
        if key in seen:
            raise InvalidInput(f"{what} {key!r} appears twice", field=f"{field}[{index}]")
        seen.add(key)


def _non_negative_timedelta(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, dt.timedelta) or value < dt.timedelta(0):
        raise InvalidInput("must be a duration of zero or more", field=attribute.name)


@attrs.frozen
class SourcingRequest:
    """Everything a sourcing strategy decides from; checked when built.

    Line ids, group keys and candidate locations are unique, every line names a
    group of the request, and every ``PICKUP`` group names its store.
    ``transfer_lead`` is how long a transfer warehouse → store takes: a
    transferred pickup is ready at ``now + transfer_lead``.
    """

    channel: str
    lines: tuple[SourcingLine, ...] = attrs.field(converter=_lines)
    groups: tuple[SourcingGroup, ...] = attrs.field(converter=_groups)
    candidates: tuple[Candidate, ...] = attrs.field(converter=_candidates)
    now: dt.datetime
    transfer_lead: dt.timedelta = attrs.field(validator=_non_negative_timedelta)

    def __attrs_post_init__(self) -> None:
        _unique((g.key for g in self.groups), "group", "groups")
        _unique((line.line_id for line in self.lines), "line", "lines")
        _unique((c.location for c in self.candidates), "location", "candidates")
        keys = {g.key for g in self.groups}
        for index, line in enumerate(self.lines):
            if line.group not in keys:
                raise InvalidInput(f"no group {line.group!r}", field=f"lines[{index}].group")
        for index, group in enumerate(self.groups):
            if group.kind is GroupKind.PICKUP and not group.pickup_location:
                raise InvalidInput(
                    "a pickup group names its store", field=f"groups[{index}].pickup_location"
                )

    def group(self, key: str) -> SourcingGroup:
        """The group ``key`` (``KeyError`` when there is none)."""
        for group in self.groups:
            if group.key == key:
                return group
        raise KeyError(key)


@attrs.frozen
class Assignment:
    """``quantity`` units of a line taken at ``location`` (held, allocated, shipped from there).

    For a pickup that the store's shelf cannot serve, the units travel from
    ``location`` to the store ``transfer_to`` and are ready at ``eta``.
    """

    line_id: str
    sku: str
    group: str
    location: str
    quantity: int = attrs.field(validator=validators.positive)
    transfer_to: str | None = None
    eta: dt.datetime | None = None


def _assignments(value: Iterable[Assignment]) -> tuple[Assignment, ...]:
    return tuple(value)


def _sentences(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(value)


def _keys(value: Iterable[str]) -> frozenset[str]:
    return frozenset(value)


@attrs.frozen
class SourcingPlan:
    """Where each line comes from, and why (``explanation``: one sentence per decision).

    ``strategy`` is ``"default"`` for the built-in strategy, else the plugin's name.
    ``pickup_groups`` lists the request's ``PICKUP`` groups (``choose`` and
    ``default_plan`` fill it in) so that ``shipments`` counts parcels only.
    """

    assignments: tuple[Assignment, ...] = attrs.field(converter=_assignments)
    explanation: tuple[str, ...] = attrs.field(converter=_sentences)
    strategy: str = "default"
    pickup_groups: frozenset[str] = attrs.field(default=frozenset(), converter=_keys)

    @property
    def shipments(self) -> int:
        """Parcels: distinct (group, location) pairs of the ship and relay groups."""
        return len(
            {(a.group, a.location) for a in self.assignments if a.group not in self.pickup_groups}
        )

    def for_line(self, line_id: str) -> list[Assignment]:
        """The assignments of one line (several when it is split)."""
        return [a for a in self.assignments if a.line_id == line_id]

"""Sales channels: the web shop, the app, each store's till, a marketplace.

A channel sells in one currency, from a set of locations (each with a buffer
that hides units from this channel only, and a priority among the channel's
locations), and holds cart stock for ``hold_ttl`` by default.
"""

from __future__ import annotations

import datetime as dt
import enum
import secrets
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs
from sqlalchemy import delete, insert, select

from omnicore import validators
from omnicore.errors import Conflict, InvalidInput, NotFound
from omnicore.money import validate_currency
from omnicore.network._locations import get_location
from omnicore.serialization import structure, unstructure
from omnicore.store.tables import channel_locations, channels
from omnicore.store.upsert import upsert

if TYPE_CHECKING:
    from omnicore.store.uow import Tx, UnitOfWork

__all__ = ["Channel", "ChannelKind", "ChannelLocation", "ChannelService"]


class ChannelKind(enum.StrEnum):
    WEB = "web"
    APP = "app"
    STORE = "store"
    MARKETPLACE = "marketplace"
    SOCIAL = "social"
    PHONE = "phone"


@attrs.frozen
class ChannelLocation:
    """A location the channel may sell from; ``buffer`` units stay hidden from it."""

    location: str = attrs.field(validator=validators.code)
    buffer: int = attrs.field(default=0, validator=validators.non_negative)
    priority: int = attrs.field(default=0, validator=validators.strict_int)


def _currency(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    validate_currency(value, attribute.name)


def _unique_locations(
    _: object, attribute: attrs.Attribute[Any], value: list[ChannelLocation]
) -> None:
    seen = set()
    for index, entry in enumerate(value):
        if entry.location in seen:
            raise InvalidInput(
                f"location {entry.location!r} is listed twice", field=f"{attribute.name}[{index}]"
            )
        seen.add(entry.location)


def _ttl(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    validators.positive(_, attribute, value)


def _max_ttl(inst: Channel, attribute: attrs.Attribute[Any], value: object) -> None:
    validators.positive(inst, attribute, value)
    if value < inst.hold_ttl_seconds:  # type: ignore[operator]
        raise InvalidInput("must be at least hold_ttl_seconds", field=attribute.name)


@attrs.frozen
class Channel:
    """A sales channel. ``public_token`` identifies it to the storefront API."""

    code: str = attrs.field(validator=validators.code)
    name: str = attrs.field(validator=[validators.non_empty, validators.max_length(200)])
    kind: ChannelKind
    currency: str = attrs.field(validator=_currency)
    locations: list[ChannelLocation] = attrs.field(factory=list, validator=_unique_locations)
    hold_ttl_seconds: int = attrs.field(default=900, validator=_ttl)
    max_hold_ttl_seconds: int = attrs.field(default=86_400, validator=_max_ttl)
    #: Generated on first save when None; kept by later saves that give None.
    public_token: str | None = attrs.field(default=None, validator=validators.token)
    active: bool = True

    @property
    def hold_ttl(self) -> dt.timedelta:
        return dt.timedelta(seconds=self.hold_ttl_seconds)

    def sells_from(self, location: str) -> ChannelLocation | None:
        return next((c for c in self.locations if c.location == location), None)

    def ordered_locations(self) -> list[ChannelLocation]:
        """The channel's locations, highest priority (lowest number) first."""
        return sorted(self.locations, key=lambda c: (c.priority, c.location))


class ChannelService:
    """``commerce.channels``: create, update, read sales channels."""

    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow

    async def save(self, channel: Channel | Mapping[str, Any]) -> Channel:
        """Create or replace a channel (by ``code``); emits ``channel.updated``.

        Every location must exist (``locations[i].location`` names the bad one).
        Replacing a channel keeps its public token unless a new one is given.
        """
        if not isinstance(channel, Channel):
            channel = structure(dict(channel), Channel)
        async with self._uow() as tx:
            for index, entry in enumerate(channel.locations):
                await get_location(tx, entry.location, field=f"locations[{index}].location")
            if channel.public_token is not None:
                owner = (
                    await tx.conn.execute(
                        select(channels.c.code).where(
                            channels.c.public_token == channel.public_token
                        )
                    )
                ).scalar()
                if owner is not None and owner != channel.code:
                    raise Conflict("is used by another channel", field="public_token")
            else:
                existing = (
                    await tx.conn.execute(
                        select(channels.c.public_token).where(channels.c.code == channel.code)
                    )
                ).scalar()
                channel = attrs.evolve(
                    channel, public_token=existing or f"pub_{secrets.token_urlsafe(24)}"
                )
            row = {
                "code": channel.code,
                "name": channel.name,
                "kind": channel.kind.value,
                "currency": channel.currency,
                "hold_ttl_seconds": channel.hold_ttl_seconds,
                "max_hold_ttl_seconds": channel.max_hold_ttl_seconds,
                "public_token": channel.public_token,
                "active": channel.active,
                "updated_at": tx.now,
            }
            await upsert(tx.conn, channels, [row], ["code"])
            await tx.conn.execute(
                delete(channel_locations).where(channel_locations.c.channel_code == channel.code)
            )
            if channel.locations:
                await tx.conn.execute(
                    insert(channel_locations),
                    [
                        {
                            "channel_code": channel.code,
                            "location_code": c.location,
                            "buffer": c.buffer,
                            "priority": c.priority,
                        }
                        for c in channel.locations
                    ],
                )
            payload = unstructure(channel)
            payload.pop("public_token")
            tx.emit("channel.updated", payload)
        return channel

    async def get(self, code: str) -> Channel:
        async with self._uow.read() as tx:
            return await get_channel(tx, code)

    async def by_token(self, public_token: str) -> Channel:
        """The active channel whose public token this is (the storefront API's key)."""
        async with self._uow.read() as tx:
            row = (
                await tx.conn.execute(
                    select(channels).where(channels.c.public_token == public_token)
                )
            ).first()
            if row is None or not row.active:
                raise NotFound("unknown channel token", field="channel")
            return await _with_links(tx, row)  # every storefront request: no second read

    async def list(self) -> list[Channel]:
        async with self._uow.read() as tx:
            codes = (
                await tx.conn.execute(select(channels.c.code).order_by(channels.c.code))
            ).scalars()
            return [await get_channel(tx, code) for code in codes]


async def get_channel(tx: Tx, code: str, *, field: str = "channel") -> Channel:
    row = (await tx.conn.execute(select(channels).where(channels.c.code == code))).first()
    if row is None:
        raise NotFound(f"no channel {code!r}", field=field)
    return await _with_links(tx, row)


async def _with_links(tx: Tx, row: Any) -> Channel:
    """The channel of a ``channels`` row, with its locations."""
    code = row.code
    links = (
        await tx.conn.execute(
            select(channel_locations).where(channel_locations.c.channel_code == code)
        )
    ).all()
    return Channel(
        code=row.code,
        name=row.name,
        kind=ChannelKind(row.kind),
        currency=row.currency,
        locations=[
            ChannelLocation(link.location_code, link.buffer, link.priority) for link in links
        ],
        hold_ttl_seconds=row.hold_ttl_seconds,
        max_hold_ttl_seconds=row.max_hold_ttl_seconds,
        public_token=row.public_token,
        active=row.active,
    )

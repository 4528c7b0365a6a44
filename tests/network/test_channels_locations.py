"""Locations and sales channels on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import func, select

from omnicore import Commerce, Conflict, InvalidInput, NotFound
from omnicore.network import Capability, ChannelKind, ChannelLocation, LocationKind
from omnicore.store.tables import channel_locations, channels, locations, outbox_events
from omnicore.testing import FakeClock, RecordingPlugin, paris_address


def store(code: str, **extra: Any) -> dict[str, Any]:
    return {
        "code": code, "name": f"Store {code}", "kind": "store", "address": paris_address(),
        "geo": {"lat": 48.8606, "lng": 2.3376}, "timezone": "Europe/Paris", **extra,
    }


def web(**extra: Any) -> dict[str, Any]:
    return {"code": "web", "name": "Web shop", "kind": "web", "currency": "EUR", **extra}


async def row_counts(commerce: Commerce) -> dict[str, int]:
    async with commerce.db.read() as conn:
        return {
            table.name: int((await conn.execute(select(func.count()).select_from(table))).scalar())
            for table in (locations, channels, channel_locations, outbox_events)
        }


async def test_locations(commerce: Commerce) -> None:
    hours = {"weekly": {"mon": [{"open": "09:30", "close": "12:30"},
                                {"open": "14:00", "close": "19:00"}]},
             "exceptions": [{"date": "2026-12-25", "note": "Noël"}]}
    saved = await commerce.locations.save(
        store("paris-1", hours=hours, capabilities=["pickup", "returns"], priority=50)
    )
    await commerce.locations.save({**store("wh"), "kind": "warehouse", "priority": 10,
                                   "capabilities": ["ship"], "timezone": "UTC"})
    await commerce.locations.save({**store("lyon-1"), "priority": 50, "active": False,
                                   "geo": {"lat": 45.764, "lng": 4.8357}})

    loaded = await commerce.locations.get("paris-1")
    assert loaded == saved
    assert loaded.kind is LocationKind.STORE
    assert loaded.capabilities == frozenset({Capability.PICKUP, Capability.RETURNS})
    assert loaded.hours.weekly["mon"][1].open == dt.time(14, 0)
    assert loaded.hours.exceptions[0].date == dt.date(2026, 12, 25)
    assert (loaded.geo.lat, loaded.geo.lng) == (48.8606, 2.3376)
    assert loaded.address.country == "FR"

    # ordered by priority, then code; inactive ones can be left out
    assert [loc.code for loc in await commerce.locations.list()] == ["wh", "lyon-1", "paris-1"]
    assert [loc.code for loc in await commerce.locations.list(active_only=True)] == [
        "wh", "paris-1"]

    # saving again by code replaces
    await commerce.locations.save(store("paris-1", name="Paris Rivoli", priority=5))
    replaced = await commerce.locations.get("paris-1")
    assert replaced.name == "Paris Rivoli"
    assert replaced.capabilities == frozenset()
    assert replaced.hours.weekly == {}
    assert next(iter(await commerce.locations.list())).code == "paris-1"

    with pytest.raises(NotFound) as info:
        await commerce.locations.get("nowhere")
    assert info.value.field == "location"
    with pytest.raises(InvalidInput) as info:
        await commerce.locations.save(store("bad", timezone="Europe/Pariss"))
    assert info.value.field == "timezone"
    with pytest.raises(InvalidInput) as info:
        await commerce.locations.save(store("bad", geo={"lat": 48.0, "lng": 200}))
    assert info.value.field == "geo.lng"
    with pytest.raises(NotFound):
        await commerce.locations.get("bad")


async def test_channels(commerce: Commerce) -> None:
    await commerce.locations.save(store("wh"))
    await commerce.locations.save(store("paris-1"))
    saved = await commerce.channels.save(web(locations=[
        {"location": "paris-1", "buffer": 2, "priority": 1},
        {"location": "wh", "priority": 0},
    ], hold_ttl_seconds=600))
    assert saved.public_token is not None and saved.public_token.startswith("pub_")
    loaded = await commerce.channels.get("web")
    assert loaded.kind is ChannelKind.WEB
    assert loaded.public_token == saved.public_token
    assert loaded.hold_ttl_seconds == 600
    assert sorted(loaded.locations, key=lambda c: c.location) == [
        ChannelLocation("paris-1", 2, 1), ChannelLocation("wh", 0, 0)]
    assert [c.location for c in loaded.ordered_locations()] == ["wh", "paris-1"]
    assert await commerce.channels.by_token(saved.public_token) == loaded

    # the public token survives a re-save that does not give one
    resaved = await commerce.channels.save(web(name="Web shop FR",
                                               locations=[{"location": "wh"}]))
    assert resaved.public_token == saved.public_token
    loaded = await commerce.channels.get("web")
    assert loaded.name == "Web shop FR"
    assert loaded.public_token == saved.public_token
    assert loaded.locations == [ChannelLocation("wh")]  # locations replaced, not merged

    # an explicit token replaces it; the old one stops working
    await commerce.channels.save(web(public_token="pub_rotated"))
    assert (await commerce.channels.by_token("pub_rotated")).code == "web"
    with pytest.raises(NotFound) as info:
        await commerce.channels.by_token(saved.public_token)
    assert info.value.field == "channel"

    # tokens differ between channels; an inactive channel's token is refused
    app = await commerce.channels.save({"code": "app", "name": "App", "kind": "app",
                                        "currency": "EUR", "active": False})
    assert app.public_token not in (None, "pub_rotated")
    assert app.public_token is not None
    with pytest.raises(NotFound):
        await commerce.channels.by_token(app.public_token)
    # another channel's token is a conflict, not a database error
    before = await row_counts(commerce)
    with pytest.raises(Conflict) as info:
        await commerce.channels.save({"code": "pos", "name": "POS", "kind": "store",
                                      "currency": "EUR", "public_token": "pub_rotated"})
    assert info.value.field == "public_token"
    with pytest.raises(Conflict):
        await commerce.channels.save({"code": "app", "name": "App", "kind": "app",
                                      "currency": "EUR", "public_token": "pub_rotated"})
    assert await row_counts(commerce) == before
    assert (await commerce.channels.get("app")).public_token == app.public_token
    # re-saving a channel with its own token is fine
    await commerce.channels.save(web(public_token="pub_rotated", name="Web again"))
    assert (await commerce.channels.by_token("pub_rotated")).name == "Web again"
    assert [c.code for c in await commerce.channels.list()] == ["app", "web"]
    with pytest.raises(NotFound) as info:
        await commerce.channels.get("amazon")
    assert info.value.field == "channel"


async def test_channel_with_unknown_location_writes_nothing(commerce: Commerce) -> None:
    await commerce.locations.save(store("wh"))
    before = await row_counts(commerce)
    with pytest.raises(NotFound) as info:
        await commerce.channels.save(web(locations=[{"location": "atlantis"}]))
    assert info.value.field == "locations[0].location"
    assert info.value.code == "not_found"
    with pytest.raises(NotFound) as info:
        await commerce.channels.save(web(locations=[{"location": "wh"},
                                                    {"location": "atlantis"}]))
    assert info.value.field == "locations[1].location"
    assert await row_counts(commerce) == before
    with pytest.raises(NotFound):
        await commerce.channels.get("web")

    # a refused update leaves the existing channel as it was
    original = await commerce.channels.save(web(locations=[{"location": "wh", "buffer": 3}]))
    before = await row_counts(commerce)
    with pytest.raises(NotFound):
        await commerce.channels.save(web(name="Changed", locations=[{"location": "atlantis"}]))
    assert await commerce.channels.get("web") == original
    assert await row_counts(commerce) == before

    with pytest.raises(InvalidInput) as info:
        await commerce.channels.save(web(locations=[{"location": "wh", "buffer": -1}]))
    assert info.value.field == "locations[0].buffer"
    with pytest.raises(InvalidInput) as info:
        await commerce.channels.save(web(currency="EURO"))
    assert info.value.field == "currency"


async def test_location_and_channel_events(db_url: str, clock: FakeClock) -> None:
    recorder = RecordingPlugin()
    async with Commerce.open(db_url, clock=clock, dispatch=False, load_entry_points=False,
                             auto_migrate=True, plugins=[recorder]) as commerce:
        await commerce.locations.save(store("wh"))
        channel = await commerce.channels.save(web(locations=[{"location": "wh"}]))
        with pytest.raises(NotFound):
            await commerce.channels.save(web(locations=[{"location": "atlantis"}]))
        deliveries = await commerce.outbox.deliveries(consumer="recorder")
        assert [(d.topic, d.status) for d in reversed(deliveries)] == [
            ("location.updated", "pending"), ("channel.updated", "pending")]
        assert deliveries[0].next_attempt_at == clock.now
        assert await commerce.outbox.drain() == 2
        assert recorder.topics() == ["location.updated", "channel.updated"]
        location_event, channel_event = recorder.events
        assert location_event.payload["code"] == "wh"
        assert location_event.payload["geo"] == {"lat": 48.8606, "lng": 2.3376}
        assert location_event.occurred_at == clock.now
        assert channel_event.payload["code"] == "web"
        assert channel_event.payload["locations"] == [
            {"location": "wh", "buffer": 0, "priority": 0}]
        # the storefront key is not handed to every plugin
        assert "public_token" not in channel_event.payload
        assert channel.public_token not in str(channel_event.payload)

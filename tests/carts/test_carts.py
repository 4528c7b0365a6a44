"""``commerce.carts``: creating, reading, lines, holds, versions and bad input."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import pytest
from helpers.cart_world import build_world, events, held, snapshot

from omnicore import Commerce
from omnicore.carts import Fulfilment
from omnicore.errors import Conflict, InvalidInput, NotFound, OutOfStock
from omnicore.testing import FakeClock


@pytest.fixture
async def shop(commerce: Commerce) -> Commerce:
    await build_world(commerce)
    return commerce


async def test_a_new_cart_is_open_empty_and_unguessable(shop: Commerce, clock: FakeClock) -> None:
    cart = await shop.carts.create("web")
    other = await shop.carts.create("web", currency="EUR")
    assert cart.id.startswith("cart_") and len(cart.id) >= 5 + 32 and cart.id != other.id
    assert (cart.channel, cart.currency, cart.customer_id) == ("web", "EUR", None)
    assert (cart.status, cart.version, cart.lines, cart.discount_codes) == ("open", 1, [], [])
    assert [(t.channel, t.action, t.at) for t in cart.trail] == [("web", "created", clock.now)]
    assert cart.created_at == cart.updated_at == clock.now
    assert await shop.carts.get(cart.id) == cart
    created = await events(shop, "cart.created")
    assert created[0] == {"cart_id": cart.id, "version": 1, "channel": "web", "currency": "EUR",
                          "customer_id": None, "lines": [], "actor": None}


@pytest.mark.parametrize(("kwargs", "error", "field"), [
    ({"channel": "web", "currency": "GBP"}, InvalidInput, "currency"),
    ({"channel": "nowhere"}, NotFound, "channel"),
    ({"channel": "web", "customer_id": "cus_nobody"}, NotFound, "customer_id"),
])
async def test_create_refuses_bad_input(
    shop: Commerce, kwargs: dict[str, Any], error: type[Exception], field: str
) -> None:
    before = await snapshot(shop)
    with pytest.raises(error) as caught:
        await shop.carts.create(**kwargs)
    assert caught.value.field == field  # type: ignore[attr-defined]
    assert await snapshot(shop) == before


async def test_get_an_unknown_cart(shop: Commerce) -> None:
    for call in (shop.carts.get("cart_guess"), shop.carts.refresh("cart_guess"),
                 shop.carts.resume("cart_guess", channel="app"),
                 shop.carts.add_lines("cart_guess", [{"sku": "TEE-M", "quantity": 1}],
                                      version=1)):
        with pytest.raises(NotFound) as caught:
            await call
        assert caught.value.field == "cart_id"


async def test_adding_lines_holds_their_units_for_the_channel_ttl(
    shop: Commerce, clock: FakeClock
) -> None:
    cart = await shop.carts.create("web")
    cart = await shop.carts.add_lines(cart.id, [
        {"sku": "TEE-M", "quantity": 2},
        {"sku": "TEE-M", "quantity": 1, "fulfilment": "pickup", "location": "paris-1"},
    ], version=1, actor="web-session")
    assert cart.version == 2
    ship, pickup = cart.lines
    assert (ship.sku, ship.quantity, ship.fulfilment, ship.location) == ("TEE-M", 2, "ship", None)
    assert (pickup.fulfilment, pickup.pickup_location, pickup.ship_from) == (
        Fulfilment.PICKUP, "paris-1", None)
    assert ship.held and pickup.held and ship.available
    assert ship.hold_expires_at == clock.now + dt.timedelta(seconds=900)
    hold = await shop.stock.get_hold(pickup.hold_id or "")
    assert (hold.reference, hold.channel, [(p.location, p.quantity) for p in hold.parts]) == (
        cart.id, "web", [("paris-1", 1)])
    assert (await shop.stock.get_hold(ship.hold_id or "")).parts[0].location == "wh"
    assert (await held(shop, "TEE-M", "wh"), await held(shop, "TEE-M", "paris-1")) == (2, 1)

    # The same SKU, fulfilled the same way, joins its line; the hold follows.
    cart = await shop.carts.add_lines(cart.id, [{"sku": "TEE-M", "quantity": 3}], version=2)
    assert [(line.id, line.quantity) for line in cart.lines] == [(ship.id, 5), (pickup.id, 1)]
    assert cart.lines[0].held and await held(shop, "TEE-M", "wh") == 5
    updated = await events(shop, "cart.updated")
    assert [e["change"] for e in updated] == ["lines_added", "lines_added"]
    assert updated[0]["actor"] == "web-session" and updated[0]["lines"][0]["sku"] == "TEE-M"
    assert {e["reason"] for e in await events(shop, "stock.changed")} >= {"hold"}


async def test_ship_from_store_holds_at_that_store(shop: Commerce) -> None:
    cart = await shop.carts.create("web")
    cart = await shop.carts.add_lines(
        cart.id, [{"sku": "TEE-M", "quantity": 2, "location": "paris-1"}], version=1)
    line = cart.lines[0]
    assert (line.fulfilment, line.ship_from, line.held) == ("ship", "paris-1", True)
    assert await held(shop, "TEE-M", "paris-1") == 2 and await held(shop, "TEE-M", "wh") == 0


@pytest.mark.parametrize("quantity", [0, -1, 1.5, "2", True, None, 100])
async def test_a_bad_quantity_changes_nothing(shop: Commerce, quantity: object) -> None:
    cart = await shop.carts.create("web")
    cart = await shop.carts.add_lines(cart.id, [{"sku": "TEE-L", "quantity": 1}], version=1)
    before = await snapshot(shop, cart.id)
    with pytest.raises(InvalidInput) as caught:
        await shop.carts.add_lines(cart.id, [{"sku": "TEE-M", "quantity": 1},
                                             {"sku": "TEE-M", "quantity": quantity}], version=2)
    assert caught.value.field == "lines[1].quantity"
    with pytest.raises(InvalidInput) as caught:
        await shop.carts.update_lines(
            cart.id, [{"line_id": cart.lines[0].id, "quantity": quantity}], version=2)
    assert caught.value.field == "lines[0].quantity"
    assert await snapshot(shop, cart.id) == before


async def test_the_maximum_per_line_comes_from_the_configuration(
    db_url: str, clock: FakeClock
) -> None:
    async with Commerce.open(db_url, clock=clock, dispatch=False, load_entry_points=False,
                             config={"carts": {"max_quantity_per_line": 3}}) as shop:
        await build_world(shop)
        cart = await shop.carts.create("web")
        cart = await shop.carts.add_lines(cart.id, [{"sku": "TEE-M", "quantity": 3}], version=1)
        before = await snapshot(shop, cart.id)
        with pytest.raises(InvalidInput) as caught:  # 3 + 1 would join the line
            await shop.carts.add_lines(cart.id, [{"sku": "TEE-M", "quantity": 1}], version=2)
        assert caught.value.field == "lines[0].quantity"
        assert await snapshot(shop, cart.id) == before
    with pytest.raises(InvalidInput) as caught:
        await Commerce.open(db_url, clock=clock, dispatch=False, load_entry_points=False,
                            config={"carts": {"max_quantity_per_line": 0}})
    assert caught.value.field == "carts.max_quantity_per_line"


@pytest.mark.parametrize(("line", "error", "field"), [
    ({"sku": "NOPE", "quantity": 1}, NotFound, "lines[1].sku"),
    ({"sku": "TEE-M", "quantity": 1, "fulfilment": "pickup"}, InvalidInput, "lines[1].location"),
    ({"sku": "TEE-M", "quantity": 1, "fulfilment": "pickup", "location": "wh"},
     InvalidInput, "lines[1].location"),  # no pickup at the warehouse
    ({"sku": "TEE-M", "quantity": 1, "fulfilment": "pickup", "location": "paris-2"},
     InvalidInput, "lines[1].location"),  # the web shop does not sell from paris-2
    ({"sku": "TEE-M", "quantity": 1, "fulfilment": "pickup", "location": "mars"},
     NotFound, "lines[1].location"),
    ({"sku": "TEE-M", "quantity": 1, "fulfilment": "drone"}, InvalidInput, "lines[1].fulfilment"),
    ({"sku": "TEE-M", "quantity": 1, "colour": "red"}, InvalidInput, "lines[1].colour"),
    ({"sku": "TEE-M", "quantity": 14}, OutOfStock, "lines[1].quantity"),  # 13 for the web
])
async def test_a_bad_line_changes_nothing(
    shop: Commerce, line: dict[str, Any], error: type[Exception], field: str
) -> None:
    cart = await shop.carts.create("web")
    before = await snapshot(shop, cart.id)
    with pytest.raises(error) as caught:
        await shop.carts.add_lines(cart.id, [{"sku": "TEE-L", "quantity": 2}, line], version=1)
    assert caught.value.field == field  # type: ignore[attr-defined]
    assert await snapshot(shop, cart.id) == before  # TEE-L's hold was not kept either


async def test_out_of_stock_says_what_is_available(shop: Commerce) -> None:
    cart = await shop.carts.create("web")
    with pytest.raises(OutOfStock) as caught:
        await shop.carts.add_lines(cart.id, [{"sku": "TEE-M", "quantity": 14}], version=1)
    assert (caught.value.sku, caught.value.requested, caught.value.available) == ("TEE-M", 14, 13)
    assert caught.value.by_location == {"wh": 10, "paris-1": 3}


async def test_changing_quantities_re_holds_and_removing_releases(shop: Commerce) -> None:
    cart = await shop.carts.create("web")
    cart = await shop.carts.add_lines(cart.id, [{"sku": "TEE-M", "quantity": 2},
                                                {"sku": "TEE-L", "quantity": 1}], version=1)
    tee_m, tee_l = cart.lines
    cart = await shop.carts.update_lines(cart.id, [{"line_id": tee_m.id, "quantity": 12}],
                                         version=2)
    assert cart.lines[0].quantity == 12 and cart.lines[0].held
    assert cart.lines[0].hold_id != tee_m.hold_id
    assert (await held(shop, "TEE-M", "wh"), await held(shop, "TEE-M", "paris-1")) == (10, 2)
    before = await snapshot(shop, cart.id)
    with pytest.raises(OutOfStock) as caught:
        await shop.carts.update_lines(cart.id, [{"line_id": tee_l.id, "quantity": 2},
                                                {"line_id": tee_m.id, "quantity": 14}], version=3)
    assert caught.value.field == "lines[1].quantity"
    with pytest.raises(NotFound) as not_found:
        await shop.carts.update_lines(cart.id, [{"line_id": "line_x", "quantity": 1}], version=3)
    assert not_found.value.field == "lines[0].line_id"
    assert await snapshot(shop, cart.id) == before

    cart = await shop.carts.update_lines(cart.id, [{"line_id": tee_m.id, "quantity": 1}],
                                         version=3)
    assert cart.lines[0].held and await held(shop, "TEE-M", "wh") == 1
    with pytest.raises(NotFound) as not_found:
        await shop.carts.remove_lines(cart.id, [tee_l.id, "line_x"], version=4)
    assert not_found.value.field == "line_ids[1]"
    cart = await shop.carts.remove_lines(cart.id, [tee_m.id], version=4)
    assert [line.id for line in cart.lines] == [tee_l.id] and cart.version == 5
    assert await held(shop, "TEE-M", "wh") == 0
    released = [e["hold_id"] for e in await events(shop, "stock.hold_released")]
    assert cart.lines[0].hold_id not in released


async def test_a_stale_version_is_a_conflict_and_changes_nothing(shop: Commerce) -> None:
    cart = await shop.carts.create("web")
    cart = await shop.carts.add_lines(cart.id, [{"sku": "TEE-M", "quantity": 1}], version=1)
    before = await snapshot(shop, cart.id)
    calls = [
        shop.carts.add_lines(cart.id, [{"sku": "TEE-L", "quantity": 1}], version=1),
        shop.carts.update_lines(cart.id, [{"line_id": cart.lines[0].id, "quantity": 2}],
                                version=1),
        shop.carts.remove_lines(cart.id, [cart.lines[0].id], version=3),
        shop.carts.update(cart.id, note="hi", version=1),
        shop.carts.set_fulfilment(cart.id, cart.lines[0].id, "pickup", "paris-1", version=1),
    ]
    for call in calls:
        with pytest.raises(Conflict) as caught:
            await call
        assert caught.value.field == "version"
    for bad in (0, "2", None, 2.0):
        with pytest.raises(InvalidInput) as invalid:
            await shop.carts.add_lines(cart.id, [{"sku": "TEE-L", "quantity": 1}],
                                       version=bad)  # type: ignore[arg-type]
        assert invalid.value.field == "version"
    assert await snapshot(shop, cart.id) == before


async def test_two_devices_editing_at_once_never_lose_an_update(shop: Commerce) -> None:
    cart = await shop.carts.create("web")
    for round_ in range(4):
        results = await asyncio.gather(
            shop.carts.add_lines(cart.id, [{"sku": "TEE-M", "quantity": 1}],
                                 version=cart.version, actor="laptop"),
            shop.carts.add_lines(cart.id, [{"sku": "TEE-L", "quantity": 1}],
                                 version=cart.version, actor="phone"),
            return_exceptions=True,
        )
        won = [r for r in results if not isinstance(r, BaseException)]
        lost = [r for r in results if isinstance(r, BaseException)]
        assert len(won) == 1 and len(lost) == 1, results
        assert isinstance(lost[0], Conflict) and lost[0].field == "version"
        cart = await shop.carts.get(cart.id)
        assert cart == won[0] and cart.version == round_ + 2
    # Only the winners' units are held.
    quantities = {line.sku: line.quantity for line in cart.lines}
    assert sum(quantities.values()) == 4
    assert await held(shop, "TEE-L", "wh") == quantities.get("TEE-L", 0)
    assert await held(shop, "TEE-M", "wh") == quantities.get("TEE-M", 0)


async def test_expired_holds_show_and_refresh_holds_them_again(
    shop: Commerce, clock: FakeClock
) -> None:
    cart = await shop.carts.create("web")
    cart = await shop.carts.add_lines(cart.id, [{"sku": "TEE-L", "quantity": 2},
                                                {"sku": "TEE-M", "quantity": 1}], version=1)
    first_hold = cart.lines[0].hold_id
    clock.advance(minutes=16)
    cart = await shop.carts.get(cart.id)
    assert [(line.held, line.available) for line in cart.lines] == [(False, True)] * 2
    assert cart.lines[0].hold_id == first_hold  # expired, not swept yet
    assert cart.lines[0].hold_expires_at is not None
    assert cart.lines[0].hold_expires_at < clock.now
    assert (await shop.stock.availability("TEE-L", channel="web")).total == 6

    # Someone else takes the last TEE-L meanwhile: refresh cannot hold that line.
    other = await shop.carts.create("web")
    await shop.carts.add_lines(other.id, [{"sku": "TEE-L", "quantity": 5}], version=1)
    cart = await shop.carts.refresh(cart.id)
    tee_l, tee_m = cart.lines
    assert (tee_l.held, tee_l.available, tee_l.available_quantity, tee_l.hold_id) == (
        False, False, 1, None)
    assert tee_m.held and tee_m.hold_expires_at == clock.now + dt.timedelta(minutes=15)
    assert cart.version == 2 and cart.unavailable_lines == [tee_l]  # refresh is no change
    assert first_hold in {e["hold_id"] for e in await events(shop, "stock.hold_released")} | {
        e["hold_id"] for e in await events(shop, "stock.hold_expired")}

    await shop.stock.receive("TEE-L", "wh", 4, source="erp")
    cart = await shop.carts.refresh(cart.id)
    assert all(line.held for line in cart.lines)
    assert (await shop.stock.availability("TEE-L", channel="web")).total == 3


async def test_a_revoked_hold_is_reported_then_re_held(shop: Commerce) -> None:
    cart = await shop.carts.create("web")
    cart = await shop.carts.add_lines(cart.id, [{"sku": "TEE-L", "quantity": 4}], version=1)
    await shop.stock.count("TEE-L", "wh", 2, source="inventory")  # the hold is cut to 2
    line = (await shop.carts.get(cart.id)).lines[0]
    assert (line.held, line.available, line.available_quantity) == (False, False, 3)
    await shop.stock.receive("TEE-L", "wh", 5, source="erp")
    line = (await shop.carts.refresh(cart.id)).lines[0]
    assert line.held and line.available
    hold = await shop.stock.get_hold(line.hold_id or "")
    assert hold.quantity == 4 and hold.reference == cart.id


async def test_set_fulfilment_moves_the_hold_or_fails_whole(shop: Commerce) -> None:
    cart = await shop.carts.create("web")
    cart = await shop.carts.add_lines(cart.id, [
        {"sku": "TEE-M", "quantity": 2},
        {"sku": "TEE-M", "quantity": 1, "fulfilment": "pickup", "location": "paris-1"},
    ], version=1)
    ship, pickup = cart.lines
    await shop.stock.adjust("TEE-M", "paris-1", -2, source="damaged")  # 1 left, held by pickup
    before = await snapshot(shop, cart.id)
    for args, error, field in (
        (("pickup", "wh"), InvalidInput, "location"),
        (("pickup", None), InvalidInput, "location"),
        (("teleport", None), InvalidInput, "fulfilment"),
        (("pickup", "paris-2"), InvalidInput, "location"),
    ):
        with pytest.raises(error) as caught:
            await shop.carts.set_fulfilment(cart.id, ship.id, *args, version=2)
        assert caught.value.field == field, args
    with pytest.raises(NotFound) as missing:
        await shop.carts.set_fulfilment(cart.id, "line_x", "ship", version=2)
    assert missing.value.field == "line_id"
    with pytest.raises(OutOfStock) as out:  # 2 + 1 at paris-1, only the pickup line's 1 there
        await shop.carts.set_fulfilment(cart.id, ship.id, "pickup", "paris-1", version=2)
    assert out.value.field == "quantity"
    assert await snapshot(shop, cart.id) == before

    await shop.stock.receive("TEE-M", "paris-1", 5, source="erp")
    cart = await shop.carts.set_fulfilment(cart.id, ship.id, "pickup", "paris-1", version=2)
    assert [(line.id, line.quantity, line.location) for line in cart.lines] == [
        (pickup.id, 3, "paris-1")]  # joined the pickup line
    assert cart.lines[0].held and await held(shop, "TEE-M", "paris-1") == 3
    cart = await shop.carts.set_fulfilment(cart.id, pickup.id, "ship", version=3)
    assert (cart.lines[0].fulfilment, cart.lines[0].location) == ("ship", None)
    assert await held(shop, "TEE-M", "wh") == 3


async def test_note_and_attributes(shop: Commerce) -> None:
    cart = await shop.carts.create("web")
    cart = await shop.carts.update(cart.id, note="gift wrap", attributes={"gift": "yes"},
                                   version=1)
    assert (cart.note, cart.attributes, cart.version) == ("gift wrap", {"gift": "yes"}, 2)
    before = await snapshot(shop, cart.id)
    for kwargs, field in (({"note": "x" * 2001}, "note"),
                          ({"attributes": {"a": 1}}, "attributes.a"),
                          ({"attributes": ["a"]}, "attributes")):
        with pytest.raises(InvalidInput) as caught:
            await shop.carts.update(cart.id, version=2, **kwargs)
        assert caught.value.field == field
    assert await snapshot(shop, cart.id) == before
    cart = await shop.carts.update(cart.id, note=None, version=2)
    assert (cart.note, cart.attributes) == (None, {"gift": "yes"})


@pytest.fixture
async def second(db_url: str, clock: FakeClock) -> AsyncIterator[Commerce]:
    async with Commerce.open(db_url, clock=clock, dispatch=False, load_entry_points=False) as shop:
        yield shop


async def test_two_processes_racing_on_one_version(shop: Commerce, second: Commerce) -> None:
    cart = await shop.carts.create("web")
    results = await asyncio.gather(
        shop.carts.add_lines(cart.id, [{"sku": "TEE-M", "quantity": 2}], version=1),
        second.carts.add_lines(cart.id, [{"sku": "TEE-M", "quantity": 3}], version=1),
        return_exceptions=True,
    )
    lost = [r for r in results if isinstance(r, BaseException)]
    assert len(lost) == 1 and isinstance(lost[0], Conflict), results
    cart = await second.carts.get(cart.id)
    assert cart.version == 2 and len(cart.lines) == 1
    assert await held(shop, "TEE-M", "wh") == cart.lines[0].quantity

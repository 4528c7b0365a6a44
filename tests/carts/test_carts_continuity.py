"""One cart across channels: resume, sign-in merges, and the hand-off to a store associate."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from helpers.cart_world import build_world, events, held, snapshot

from omnicore import Commerce
from omnicore.carts._handoff import ALPHABET
from omnicore.errors import Conflict, Forbidden, InvalidInput, NotFound
from omnicore.testing import FakeClock


@pytest.fixture
async def shop(commerce: Commerce) -> Commerce:
    await build_world(commerce)
    return commerce


def trail(cart: object) -> list[tuple[str, str, str | None]]:
    return [(t.channel, t.action, t.actor) for t in cart.trail]  # type: ignore[attr-defined]


async def test_web_then_app_then_store_hand_off_then_app_again(shop: Commerce) -> None:
    """The journey of the issue: started on the laptop, continued on the phone, finished
    with an associate in the Rivoli store, seen again on the phone."""
    cart = await shop.carts.create("web", actor="laptop")
    cart = await shop.carts.add_lines(cart.id, [{"sku": "TEE-M", "quantity": 2},
                                                {"sku": "TEE-L", "quantity": 1}], version=1)
    phone = await shop.carts.resume(cart.id, channel="app", actor="phone")
    assert (phone.channel, phone.version) == ("app", 3)
    assert all(line.held for line in phone.lines)  # the app sells from wh too: holds kept
    assert [line.hold_id for line in phone.lines] == [line.hold_id for line in cart.lines]
    phone = await shop.carts.update_lines(
        phone.id, [{"line_id": phone.lines[1].id, "quantity": 2}], version=3, channel="app")

    handoff = await shop.carts.handoff_code(phone.id, version=4)
    assert len(handoff.code) == 8 and set(handoff.code) <= set(ALPHABET)
    assert handoff.version == 5 and handoff.cart_id == phone.id
    store = await shop.carts.take_over(code=handoff.code.lower(), channel="pos-paris-1",
                                       associate="assoc-42")
    assert (store.id, store.channel, store.version) == (phone.id, "pos-paris-1", 6)
    # The till sells from paris-1 only: TEE-M is held there now; paris-1 has 1 TEE-L, not 2.
    tee_m, tee_l = store.lines
    assert tee_m.held and (await shop.stock.get_hold(tee_m.hold_id or "")).parts[0].location \
        == "paris-1"
    assert (tee_l.held, tee_l.available, tee_l.available_quantity) == (False, False, 1)

    # The associate: one TEE-L, picked up here.
    store = await shop.carts.update_lines(store.id, [{"line_id": tee_l.id, "quantity": 1}],
                                          version=6, channel="pos-paris-1", actor="assoc-42")
    store = await shop.carts.set_fulfilment(store.id, tee_l.id, "pickup", "paris-1", version=7,
                                            actor="assoc-42")
    assert store.lines[1].held and store.lines[1].pickup_location == "paris-1"

    back = await shop.carts.resume(store.id, channel="app", actor="phone")
    assert back.id == cart.id and back.channel == "app" and back.version == 9
    assert [(line.sku, line.quantity, line.fulfilment, line.location, line.held)
            for line in back.lines] == [("TEE-M", 2, "ship", None, True),
                                        ("TEE-L", 1, "pickup", "paris-1", True)]
    assert trail(back) == [
        ("web", "created", "laptop"),
        ("app", "resumed", "phone"),
        ("pos-paris-1", "handed_off", "assoc-42"),
        ("app", "resumed", "phone"),
    ]
    handed = await events(shop, "cart.handed_off")
    assert [(e["cart_id"], e["associate"], e["previous_channel"], e["channel"])
            for e in handed] == [(cart.id, "assoc-42", "app", "pos-paris-1")]
    assert handoff.code not in str(await events(shop))  # a bearer secret stays out of events


async def test_resume_re_holds_when_the_channel_sells_from_other_locations(
    shop: Commerce
) -> None:
    cart = await shop.carts.create("web")
    cart = await shop.carts.add_lines(cart.id, [
        {"sku": "TEE-M", "quantity": 4},
        {"sku": "TEE-L", "quantity": 3},
        {"sku": "TEE-M", "quantity": 1, "fulfilment": "pickup", "location": "paris-1"},
    ], version=1)
    pickup_hold = cart.lines[2].hold_id
    # app-stores sells from paris-1 and paris-2 only: TEE-M 3 + 2 there (1 held by pickup)
    moved = await shop.carts.resume(cart.id, channel="app-stores")
    tee_m, tee_l, pickup = moved.lines
    assert tee_m.held and tee_m.hold_id != cart.lines[0].hold_id
    parts = (await shop.stock.get_hold(tee_m.hold_id or "")).parts
    assert sorted((p.location, p.quantity) for p in parts) == [("paris-1", 2), ("paris-2", 2)]
    assert (tee_l.held, tee_l.available, tee_l.available_quantity) == (False, False, 1)
    assert pickup.hold_id == pickup_hold and pickup.held  # kept at its store
    assert await held(shop, "TEE-M", "wh") == 0 and await held(shop, "TEE-L", "wh") == 0
    resumed = (await events(shop, "cart.updated"))[-1]
    assert (resumed["change"], resumed["previous_channel"]) == ("resumed", "web")
    assert [line["available"] for line in resumed["lines"]] == [True, False, True]


async def test_resume_on_the_same_channel_is_a_refresh(shop: Commerce, clock: FakeClock) -> None:
    cart = await shop.carts.create("web")
    cart = await shop.carts.add_lines(cart.id, [{"sku": "TEE-M", "quantity": 1}], version=1)
    clock.advance(minutes=20)
    again = await shop.carts.resume(cart.id, channel="web")
    assert again.version == 2 and len(again.trail) == 1 and again.lines[0].held


async def test_a_store_channel_needs_the_hand_off(shop: Commerce) -> None:
    cart = await shop.carts.create("web")
    cart = await shop.carts.add_lines(cart.id, [{"sku": "TEE-M", "quantity": 1}], version=1)
    before = await snapshot(shop, cart.id)
    with pytest.raises(Forbidden) as caught:
        await shop.carts.resume(cart.id, channel="pos-paris-1")
    assert caught.value.field == "channel"
    with pytest.raises(Forbidden) as caught:
        await shop.carts.add_lines(cart.id, [{"sku": "TEE-L", "quantity": 1}], version=2,
                                   channel="pos-paris-1", actor="assoc-1")
    assert caught.value.field == "channel"
    with pytest.raises(NotFound) as missing:
        await shop.carts.resume(cart.id, channel="fax")
    assert missing.value.field == "channel"
    assert await snapshot(shop, cart.id) == before


async def test_a_change_from_another_channel_resumes_the_cart_there(shop: Commerce) -> None:
    cart = await shop.carts.create("web")
    cart = await shop.carts.add_lines(cart.id, [{"sku": "TEE-M", "quantity": 1}], version=1,
                                      channel="app", actor="phone")
    assert cart.channel == "app" and trail(cart)[-1] == ("app", "resumed", "phone")
    cart = await shop.carts.resume(cart.id, channel="uk-web")
    assert (cart.channel, cart.currency) == ("uk-web", "GBP")


async def test_attach_a_customer_without_an_open_cart(shop: Commerce) -> None:
    jean = await shop.customers.create(email="jean@example.com")
    assert await shop.carts.open_cart_for(jean.id) is None
    cart = await shop.carts.create("web")
    cart = await shop.carts.attach_customer(cart.id, jean.id, version=1)
    assert (cart.customer_id, cart.version) == (jean.id, 2)
    assert (await shop.carts.open_cart_for(jean.id)) == cart
    assert (await events(shop, "cart.updated"))[-1]["change"] == "customer_attached"
    # Signing in again is fine; another customer is not.
    cart = await shop.carts.attach_customer(cart.id, jean.id, version=2)
    marie = await shop.customers.create(email="marie@example.com")
    before = await snapshot(shop, cart.id)
    with pytest.raises(Conflict) as caught:
        await shop.carts.attach_customer(cart.id, marie.id, version=cart.version)
    assert caught.value.field == "customer_id"
    with pytest.raises(NotFound) as missing:
        await shop.carts.attach_customer(cart.id, "cus_nobody", version=cart.version)
    assert missing.value.field == "customer_id"
    with pytest.raises(Conflict) as twice:
        await shop.carts.create("app", customer_id=jean.id)
    assert twice.value.field == "customer_id"
    assert await snapshot(shop, cart.id) == before
    # open_cart_for follows customer merges
    await shop.customers.merge(marie.id, jean.id, actor="support")
    assert (await shop.carts.open_cart_for(jean.id)).id == cart.id  # type: ignore[union-attr]


async def test_sign_in_merges_the_anonymous_cart_into_the_customers_cart(
    shop: Commerce
) -> None:
    jean = await shop.customers.create(email="jean@example.com")
    theirs = await shop.carts.create("app", customer_id=jean.id, actor="phone")
    theirs = await shop.carts.add_lines(theirs.id, [{"sku": "TEE-M", "quantity": 2}], version=1)
    theirs = await shop.carts.update(theirs.id, note="gift", attributes={"wrap": "red"},
                                     version=2)
    anonymous = await shop.carts.create("web")
    anonymous = await shop.carts.add_lines(anonymous.id, [
        {"sku": "TEE-M", "quantity": 1},
        {"sku": "TEE-L", "quantity": 1, "fulfilment": "pickup", "location": "paris-1"},
    ], version=1)
    anonymous = await shop.carts.update(anonymous.id, note="before 5pm",
                                        attributes={"wrap": "blue", "card": "yes"}, version=2)
    moved_hold = anonymous.lines[1].hold_id

    merged = await shop.carts.attach_customer(anonymous.id, jean.id, version=3, actor="web")
    assert merged.id == theirs.id and merged.customer_id == jean.id
    assert merged.channel == "web"  # where the customer signed in
    assert [(line.sku, line.quantity, line.fulfilment, line.location, line.held)
            for line in merged.lines] == [("TEE-M", 3, "ship", None, True),
                                          ("TEE-L", 1, "pickup", "paris-1", True)]
    assert merged.lines[1].hold_id == moved_hold  # moved with its hold
    assert (await shop.stock.get_hold(moved_hold or "")).reference == theirs.id
    assert (await shop.stock.get_hold(merged.lines[0].hold_id or "")).quantity == 3
    assert await held(shop, "TEE-M", "wh") == 3
    assert merged.note == "gift\nbefore 5pm"
    assert merged.attributes == {"wrap": "red", "card": "yes"}
    assert merged.version == theirs.version + 1
    assert trail(merged)[-1] == ("web", "merged_in", "web")

    # The anonymous cart points at the survivor; reading it gives the survivor.
    assert await shop.carts.get(anonymous.id) == merged
    with pytest.raises(Conflict) as caught:
        await shop.carts.add_lines(anonymous.id, [{"sku": "TEE-M", "quantity": 1}], version=4)
    assert caught.value.field == "cart_id"
    payload = (await events(shop, "cart.merged"))[-1]
    assert (payload["cart_id"], payload["merged_cart_id"], payload["customer_id"]) == (
        theirs.id, anonymous.id, jean.id)
    assert await shop.carts.open_cart_for(jean.id) == merged


async def test_merge_unites_codes_and_caps_quantities(db_url: str, clock: FakeClock) -> None:
    async with Commerce.open(db_url, clock=clock, dispatch=False, load_entry_points=False,
                             config={"carts": {"max_quantity_per_line": 4}}) as shop:
        await build_world(shop)
        await shop.promotions.create({"name": "ten", "kind": "percent_off", "percent": "10",
                                      "codes": ["TEN", "WELCOME"]})
        jean = await shop.customers.create(email="jean@example.com")
        theirs = await shop.carts.create("web", customer_id=jean.id)
        theirs = await shop.carts.add_lines(theirs.id, [{"sku": "TEE-M", "quantity": 3}],
                                            version=1)
        theirs = await shop.carts.apply_codes(theirs.id, ["ten"], version=2)
        anonymous = await shop.carts.create("web")
        anonymous = await shop.carts.add_lines(anonymous.id, [{"sku": "TEE-M", "quantity": 3}],
                                               version=1)
        anonymous = await shop.carts.apply_codes(anonymous.id, ["welcome", "TEN"], version=2)
        merged = await shop.carts.attach_customer(anonymous.id, jean.id, version=3)
        assert merged.lines[0].quantity == 4 and merged.lines[0].held
        assert merged.discount_codes == ["TEN", "WELCOME"]
        assert await held(shop, "TEE-M", "wh") == 4  # the excess was released


async def test_hand_off_codes_expire_and_serve_once(shop: Commerce, clock: FakeClock) -> None:
    cart = await shop.carts.create("app")
    cart = await shop.carts.add_lines(cart.id, [{"sku": "TEE-M", "quantity": 1}], version=1)
    handoff = await shop.carts.handoff_code(cart.id, version=2)
    assert handoff.expires_at == clock.now + dt.timedelta(minutes=15)
    before = await snapshot(shop, cart.id)
    for kwargs, error, field in (
        ({"code": handoff.code, "channel": "web"}, Forbidden, "channel"),  # not a store
        ({"code": "ABCDEFGH", "channel": "pos-paris-1"}, Forbidden, "code"),
        ({"code": "0OIL", "channel": "pos-paris-1"}, Forbidden, "code"),
        ({"channel": "pos-paris-1"}, Forbidden, "code"),
        ({"cart_id": cart.id, "channel": "pos-paris-1"}, Forbidden, "code"),  # no consent
        ({"code": handoff.code, "channel": "pos-paris-1", "associate": ""}, InvalidInput,
         "associate"),
        ({"code": handoff.code, "channel": "nowhere"}, NotFound, "channel"),
    ):
        with pytest.raises(error) as caught:
            await shop.carts.take_over(**{"associate": "assoc-1", **kwargs})  # type: ignore[arg-type]
        assert caught.value.field == field, kwargs  # type: ignore[attr-defined]
    assert await snapshot(shop, cart.id) == before

    clock.advance(minutes=15)
    with pytest.raises(Forbidden):
        await shop.carts.take_over(code=handoff.code, channel="pos-paris-1", associate="a-1")
    fresh = await shop.carts.handoff_code(cart.id, version=3)
    assert fresh.code != handoff.code
    with pytest.raises(Conflict):  # the first code's version is stale
        await shop.carts.handoff_code(cart.id, version=3)
    taken = await shop.carts.take_over(code=f"{fresh.code[:4]}-{fresh.code[4:]}",
                                       channel="pos-paris-1", associate="a-1")
    assert taken.channel == "pos-paris-1"
    with pytest.raises(Forbidden):  # single use
        await shop.carts.take_over(code=fresh.code, channel="pos-paris-2", associate="a-2")


async def test_consent_lets_an_associate_take_over_without_a_code(
    shop: Commerce, clock: FakeClock
) -> None:
    jean = await shop.customers.create(email="jean@example.com")
    cart = await shop.carts.create("app", customer_id=jean.id)
    cart = await shop.carts.allow_handoff(cart.id, version=1)
    assert cart.handoff_allowed and cart.version == 2
    clock.advance(minutes=16)
    assert not (await shop.carts.get(cart.id)).handoff_allowed
    with pytest.raises(Forbidden) as caught:
        await shop.carts.take_over(cart_id=cart.id, channel="pos-paris-2", associate="a-7")
    assert caught.value.field == "code"
    cart = await shop.carts.allow_handoff(cart.id, version=2)
    found = await shop.carts.open_cart_for(jean.id)  # from the 360° view
    assert found is not None
    taken = await shop.carts.take_over(cart_id=found.id, channel="pos-paris-2", associate="a-7")
    assert taken.channel == "pos-paris-2" and not taken.handoff_allowed
    assert trail(taken)[-1] == ("pos-paris-2", "handed_off", "a-7")
    with pytest.raises(Forbidden):  # consent serves once
        await shop.carts.take_over(cart_id=cart.id, channel="pos-paris-1", associate="a-8")
    cart = await shop.carts.allow_handoff(cart.id, version=taken.version)
    cart = await shop.carts.allow_handoff(cart.id, version=cart.version, allowed=False)
    assert not cart.handoff_allowed
    with pytest.raises(Forbidden):
        await shop.carts.take_over(cart_id=cart.id, channel="pos-paris-1", associate="a-8")
    with pytest.raises(NotFound) as missing:
        await shop.carts.take_over(cart_id="cart_nope", channel="pos-paris-1", associate="a-8")
    assert missing.value.field == "cart_id"


async def test_two_associates_racing_for_one_code(shop: Commerce) -> None:
    cart = await shop.carts.create("app")
    handoff = await shop.carts.handoff_code(cart.id, version=1)
    results = await asyncio.gather(
        shop.carts.take_over(code=handoff.code, channel="pos-paris-1", associate="a-1"),
        shop.carts.take_over(code=handoff.code, channel="pos-paris-2", associate="a-2"),
        return_exceptions=True,
    )
    lost = [r for r in results if isinstance(r, BaseException)]
    assert len(lost) == 1 and isinstance(lost[0], Forbidden), results
    assert [t.action for t in (await shop.carts.get(cart.id)).trail].count("handed_off") == 1
    assert len(await events(shop, "cart.handed_off")) == 1

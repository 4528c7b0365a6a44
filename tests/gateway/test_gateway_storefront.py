"""The storefront API over the real ASGI app (httpx), on SQLite and PostgreSQL: catalog,
stock, store locator and carts. Customers: ``test_gateway_storefront_customers``;
checkout, orders and live status: ``test_gateway_storefront_checkout``."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from test_gateway_storefront_support import CART_FIELDS, HOME, Storefront, open_storefront

from omnicore import Commerce
from omnicore.errors import NotFound
from omnicore.gateway import create_app
from omnicore.gateway.app import CHANNEL_HEADER
from omnicore.testing import FakeClock, counting_statements, seed_minimal


@pytest.fixture
async def shop(db_url: str, clock: FakeClock) -> AsyncIterator[Storefront]:
    async with open_storefront(db_url, clock) as storefront:
        yield storefront


CART_PAYLOAD = "cart { " + CART_FIELDS + " } userErrors { field code message }"
LINES_ADD = ("mutation($id: ID!, $v: Int!, $lines: [CartLineInput!]!) { cartLinesAdd(cartId: $id, "
             "version: $v, lines: $lines) { " + CART_PAYLOAD + " } }")
LINES_UPDATE = ("mutation($id: ID!, $v: Int!, $lines: [CartLineUpdateInput!]!) { "
                "cartLinesUpdate(cartId: $id, version: $v, lines: $lines) { " + CART_PAYLOAD
                + " } }")
LINES_REMOVE = ("mutation($id: ID!, $v: Int!, $ids: [ID!]!) { cartLinesRemove(cartId: $id, "
                "version: $v, lineIds: $ids) { " + CART_PAYLOAD + " } }")
DELIVERY = ("mutation($id: ID!, $v: Int!, $groups: [DeliveryGroupInput!]!) { "
            "cartDeliveryUpdate(cartId: $id, version: $v, delivery: $groups) { cart { version "
            "delivery { key kind method location lineIds address { city postalCode } } } "
            "userErrors { field code message } } }")
CODES = ("mutation($id: ID!, $v: Int!, $codes: [String!]!) { cartDiscountCodesUpdate(cartId: $id,"
         " version: $v, discountCodes: $codes) { cart { version discountCodes cost { subtotal "
         "{ amount } discountTotal { amount } total { amount } } } userErrors { field code } } }")
HANDOFF = ("mutation($id: ID!, $v: Int!) { cartHandoffCode(cartId: $id, version: $v) { code "
           "expiresAt cart { version } userErrors { field code } } }")
READ_CART = "query($id: ID!) { cart(id: $id) { " + CART_FIELDS + " } }"


# -- catalog and stock --------------------------------------------------------------------------


async def test_products_search_is_cursor_paginated(shop: Storefront) -> None:
    for index in range(5):
        await shop.commerce.catalog.save_product(
            {"handle": f"mug-{index}", "title": f"Mug {index}",
             "variants": [{"sku": f"MUG-{index}"}]})
    seen: list[str] = []
    after = None
    while True:
        page = (await shop.data(
            "query($after: String) { products(query: \"mug\", first: 2, after: $after) "
            "{ nodes { handle } endCursor hasNextPage } }", after=after))["products"]
        seen += [node["handle"] for node in page["nodes"]]
        if not page["hasNextPage"]:
            break
        after = page["endCursor"]
    assert seen == [f"mug-{i}" for i in range(5)]
    body = await shop.gql('{ products(after: "a") { nodes { handle } } }')
    assert body["errors"][0]["extensions"] == {"code": "invalid_input", "field": "after"}


async def test_a_product_has_channel_prices_and_availability(shop: Storefront) -> None:
    query = """query($handle: String!) { product(handle: $handle) {
        variants { sku price { amount currency }
                   availability { total inStock locations { locationCode available
                                                            location { name kind } } } }
        availability { sku total } } }"""
    product = (await shop.data(query, handle="classic-tee"))["product"]
    medium, large = product["variants"]
    assert medium["price"] == {"amount": "19.90", "currency": "EUR"}
    # web sells from the warehouse (10) and paris-1 (3): physical counts stay private
    assert medium["availability"] == {"total": 13, "inStock": True, "locations": [
        {"locationCode": "wh", "available": 10,
         "location": {"name": "Central warehouse", "kind": "warehouse"}},
        {"locationCode": "paris-1", "available": 3,
         "location": {"name": "Paris Rivoli", "kind": "store"}}]}
    assert large["availability"]["total"] == 6
    assert product["availability"] == [{"sku": "TEE-M", "total": 13}, {"sku": "TEE-L", "total": 6}]
    # another channel sees its own locations
    stores = (await shop.data(query, channel="app-stores", handle="classic-tee"))["product"]
    assert [(loc["locationCode"], loc["available"])
            for loc in stores["variants"][0]["availability"]["locations"]] == [
        ("paris-1", 3), ("paris-2", 2)]
    body = await shop.gql('{ product(sku: "NOPE") { title } }')
    assert body["data"]["product"] is None
    assert body["errors"][0]["extensions"] == {"code": "not_found", "field": "sku"}


STORES = """query($skus: [String!]!, $radius: Float) {
  storeAvailability(skus: $skus, near: {lat: 48.8606, lng: 2.3376}, radiusKm: $radius) {
    location { code } distanceKm quantities { sku quantity } servesAll openNow closesAt
    nextOpening pickupToday
    openingHours { timezone weekly { day intervals { open close } } } } }"""


async def test_store_availability_is_the_store_locator_with_live_stock(
    shop: Storefront, clock: FakeClock
) -> None:
    # Monday 10:30 in Paris: the stores are open until 19:00
    found = (await shop.data(STORES, channel="app", skus=["TEE-M", "TEE-L"]))["storeAvailability"]
    assert [(f["location"]["code"], f["servesAll"]) for f in found] == [
        ("paris-1", True), ("wh", True), ("paris-2", False)]
    rivoli = found[0]
    assert rivoli["distanceKm"] == 0.0
    assert rivoli["quantities"] == [{"sku": "TEE-M", "quantity": 3},
                                    {"sku": "TEE-L", "quantity": 1}]
    assert rivoli["openNow"] and rivoli["pickupToday"]
    assert rivoli["closesAt"] == "2026-03-02T19:00:00+01:00"
    hours = rivoli["openingHours"]
    assert hours["timezone"] == "Europe/Paris"
    assert hours["weekly"][0] == {"day": "mon", "intervals": [{"open": "10:00", "close": "19:00"}]}
    assert hours["weekly"][6] == {"day": "sun", "intervals": []}
    warehouse = found[1]
    assert not warehouse["openNow"] and not warehouse["pickupToday"]
    assert warehouse["nextOpening"] is None
    # Saturday 19:30 in Paris: closed, opens again on Monday, no pickup today
    clock.now = dt.datetime(2026, 3, 7, 18, 30, tzinfo=dt.UTC)
    found = (await shop.data(STORES, channel="app", skus=["TEE-M"]))["storeAvailability"]
    rivoli = next(f for f in found if f["location"]["code"] == "paris-1")
    assert not rivoli["openNow"] and not rivoli["pickupToday"]
    assert rivoli["nextOpening"] == "2026-03-09T10:00:00+01:00"
    body = await shop.gql(STORES, skus=["TEE-M"], radius=1000.0)
    assert body["errors"][0]["extensions"] == {"code": "invalid_input", "field": "radiusKm"}


# -- carts --------------------------------------------------------------------------------------


async def test_cart_lines_are_added_updated_and_removed(shop: Storefront) -> None:
    cart = await shop.new_cart([{"sku": "TEE-M", "quantity": 2}])
    assert cart["version"] == 2 and cart["channel"] == "web" and cart["customerId"] is None
    assert [(li["sku"], li["quantity"], li["held"]) for li in cart["lines"]] == [
        ("TEE-M", 2, True)]
    cart = (await shop.mutate(LINES_ADD, "cartLinesAdd", id=cart["id"], v=cart["version"], lines=[
        {"sku": "TEE-L", "quantity": 1, "fulfilment": "pickup", "location": "paris-1"}]))["cart"]
    assert [(li["sku"], li["fulfilment"], li["location"]) for li in cart["lines"]] == [
        ("TEE-M", "ship", None), ("TEE-L", "pickup", "paris-1")]
    medium = cart["lines"][0]["id"]
    cart = (await shop.mutate(LINES_UPDATE, "cartLinesUpdate", id=cart["id"], v=cart["version"],
                              lines=[{"lineId": medium, "quantity": 3}]))["cart"]
    assert cart["lines"][0]["quantity"] == 3
    cart = (await shop.mutate(LINES_REMOVE, "cartLinesRemove", id=cart["id"], v=cart["version"],
                              ids=[cart["lines"][1]["id"]]))["cart"]
    assert [li["sku"] for li in cart["lines"]] == ["TEE-M"]
    read = (await shop.data(
        "query($id: ID!) { cart(id: $id) { version quantity lines { cost { unitPrice { amount } "
        "total { amount } } } cost { subtotal { amount currency } total { amount } } } }",
        id=cart["id"]))["cart"]
    assert read["version"] == cart["version"] and read["quantity"] == 3
    assert read["lines"][0]["cost"] == {"unitPrice": {"amount": "19.90"},
                                        "total": {"amount": "59.70"}}
    assert read["cost"]["subtotal"] == {"amount": "59.70", "currency": "EUR"}


async def test_cart_changes_answer_user_errors_and_change_nothing(shop: Storefront) -> None:
    cart = await shop.new_cart([{"sku": "TEE-M", "quantity": 1}])
    stale = (await shop.data(LINES_ADD, id=cart["id"], v=cart["version"] - 1,
                             lines=[{"sku": "TEE-M", "quantity": 1}]))["cartLinesAdd"]
    assert stale["cart"] is None
    assert [(e["field"], e["code"]) for e in stale["userErrors"]] == [("version", "conflict")]
    short = (await shop.data(LINES_ADD, id=cart["id"], v=cart["version"],
                             lines=[{"sku": "TEE-L", "quantity": 50}]))["cartLinesAdd"]
    assert [e["code"] for e in short["userErrors"]] == ["out_of_stock"]
    assert short["userErrors"][0]["field"] == "lines[0].quantity"
    bad = (await shop.data(LINES_UPDATE, id=cart["id"], v=cart["version"],
                           lines=[{"lineId": "nope", "quantity": 2}]))["cartLinesUpdate"]
    assert bad["userErrors"] == [{"field": "lines[0].lineId", "code": "not_found",
                                  "message": "no such line in this cart"}]
    after = (await shop.data(READ_CART, id=cart["id"]))["cart"]
    assert after["version"] == cart["version"] and after["lines"] == cart["lines"]
    # a cart whose lines cannot be added is still created, empty, with the userErrors
    created = (await shop.data(
        "mutation { cartCreate(lines: [{sku: \"TEE-L\", quantity: 99}], note: \"gift\") { "
        "cart { id lines { id } note } userErrors { field code } } }"))["cartCreate"]
    assert created["userErrors"] == [{"field": "lines[0].quantity", "code": "out_of_stock"}]
    assert created["cart"]["lines"] == [] and created["cart"]["note"] == "gift"


async def test_delivery_groups_ship_pick_up_and_split(shop: Storefront) -> None:
    cart = await shop.new_cart([{"sku": "TEE-M", "quantity": 1}, {"sku": "TEE-L", "quantity": 1},
                                {"sku": "TEE-M", "quantity": 1, "fulfilment": "pickup",
                                 "location": "paris-1"}])
    _, large, pickup = (line["id"] for line in cart["lines"])
    office = {"key": "office", "kind": "ship", "method": "express", "lineIds": [large],
              "address": {"line1": "8 rue de la Paix", "city": "Paris", "postalCode": "75002",
                          "country": "FR"}}
    store = {"key": "store", "kind": "pickup", "method": "click_and_collect",
             "location": "paris-1", "lineIds": [pickup]}
    done = await shop.mutate(DELIVERY, "cartDeliveryUpdate", id=cart["id"], v=cart["version"],
                             groups=[HOME, office, store])
    assert [(g["key"], g["kind"], g["method"], g["lineIds"]) for g in done["cart"]["delivery"]] == [
        ("home", "ship", "standard", None), ("office", "ship", "express", [large]),
        ("store", "pickup", "click_and_collect", [pickup])]
    assert done["cart"]["delivery"][0]["address"] == {"city": "Paris", "postalCode": "75004"}
    wrong = (await shop.data(DELIVERY, id=cart["id"], v=done["cart"]["version"],
                             groups=[{**HOME, "method": "teleport"}]))["cartDeliveryUpdate"]
    assert wrong["userErrors"][0]["field"] == "delivery[0].method"
    assert wrong["userErrors"][0]["code"] == "invalid_input"


async def test_discount_codes_are_replaced(shop: Storefront) -> None:
    await shop.commerce.promotions.create({"name": "ten", "kind": "percent_off", "percent": "10",
                                           "automatic": False, "codes": ["TEN"]})
    cart = await shop.new_cart([{"sku": "TEE-M", "quantity": 1}])
    done = (await shop.mutate(CODES, "cartDiscountCodesUpdate", id=cart["id"],
                              v=cart["version"], codes=[" ten "]))["cart"]
    assert done["discountCodes"] == ["TEN"]
    assert done["cost"] == {"subtotal": {"amount": "19.90"}, "discountTotal": {"amount": "1.99"},
                            "total": {"amount": "17.91"}}
    refused = (await shop.data(CODES, id=cart["id"], v=done["version"],
                               codes=["TEN", "NOPE"]))["cartDiscountCodesUpdate"]
    assert refused["cart"] is None and refused["userErrors"][0]["code"] == "not_found"
    cleared = (await shop.mutate(CODES, "cartDiscountCodesUpdate", id=cart["id"],
                                 v=done["version"], codes=[]))["cart"]
    assert cleared["discountCodes"] == [] and cleared["cost"]["total"] == {"amount": "19.90"}


async def test_handoff_code_for_a_store_associate(shop: Storefront, clock: FakeClock) -> None:
    cart = await shop.new_cart([{"sku": "TEE-M", "quantity": 1}])
    done = await shop.mutate(HANDOFF, "cartHandoffCode", id=cart["id"], v=cart["version"])
    assert len(done["code"]) == 8 and done["cart"]["version"] == cart["version"] + 1
    expires = dt.datetime.fromisoformat(done["expiresAt"])
    assert expires == clock.now + dt.timedelta(minutes=15)
    # the associate's take-over (admin API) finds the cart by that code
    taken = await shop.commerce.carts.take_over(code=done["code"], channel="pos-paris-1",
                                                associate="alice")
    assert taken.id == cart["id"] and taken.channel == "pos-paris-1"
    stale = (await shop.data(HANDOFF, id=cart["id"], v=cart["version"]))["cartHandoffCode"]
    assert stale["code"] is None and stale["userErrors"] == [{"field": "version",
                                                              "code": "conflict"}]


async def test_a_cart_continues_on_another_channel_but_not_on_a_till(shop: Storefront) -> None:
    cart = await shop.new_cart([{"sku": "TEE-M", "quantity": 1}])
    moved = (await shop.mutate(LINES_ADD, "cartLinesAdd", channel="app", id=cart["id"],
                               v=cart["version"], lines=[{"sku": "TEE-L", "quantity": 1}]))["cart"]
    assert moved["channel"] == "app" and moved["id"] == cart["id"]
    till = (await shop.data(LINES_ADD, channel="pos-paris-1", id=cart["id"], v=moved["version"],
                            lines=[{"sku": "TEE-M", "quantity": 1}]))["cartLinesAdd"]
    assert till["cart"] is None
    assert till["userErrors"][0]["code"] == "forbidden"


# -- who reaches a cart -------------------------------------------------------------------------


async def test_a_cart_is_reached_only_by_its_id_and_only_at_its_retailer(
    shop: Storefront, tmp_path: Path, clock: FakeClock
) -> None:
    cart = await shop.new_cart([{"sku": "TEE-M", "quantity": 1}])
    for unknown in ("", "cart_does_not_exist", cart["id"][:-1]):
        body = await shop.gql(READ_CART, id=unknown)
        assert body["data"]["cart"] is None
        assert body["errors"][0]["extensions"]["code"] == "not_found"
    changed = (await shop.data(LINES_ADD, id="cart_nope", v=1,
                               lines=[{"sku": "TEE-M", "quantity": 1}]))["cartLinesAdd"]
    assert changed["userErrors"][0]["code"] == "not_found"
    # another retailer (another database) with the same channels knows nothing of it
    async with Commerce.open(f"sqlite+aiosqlite:///{tmp_path}/other.db", clock=clock,
                             dispatch=False, load_entry_points=False) as other:
        seeded = await seed_minimal(other)
        transport = httpx.ASGITransport(app=create_app(other))
        async with httpx.AsyncClient(transport=transport, base_url="http://other") as client:
            theirs = {CHANNEL_HEADER: str(seeded["channel"].public_token)}
            answer = await client.post("/graphql", headers=theirs,
                                       json={"query": READ_CART, "variables": {"id": cart["id"]}})
            assert answer.json()["data"]["cart"] is None
            assert answer.json()["errors"][0]["extensions"]["code"] == "not_found"
            ours = await client.post("/graphql", headers=shop.headers("web"),
                                     json={"query": READ_CART, "variables": {"id": cart["id"]}})
            assert ours.status_code == 401


async def test_ids_of_carts_are_unguessable(shop: Storefront) -> None:
    ids: list[Any] = [(await shop.new_cart([]))["id"] for _ in range(3)]
    assert len(set(ids)) == 3 and all(len(i) >= 20 for i in ids)


async def test_a_cart_change_loads_the_cart_once_and_prices_the_version_it_shows(
        shop: Storefront) -> None:
    """The access check reads the cart's owner only; the answer's ``cost`` prices the
    cart the change returned — not a cart read again, which could be a later version."""
    cart = await shop.new_cart([{"sku": "TEE-M", "quantity": 1}])
    query = ("mutation($id: ID!, $v: Int!, $lines: [CartLineInput!]!) { cartLinesAdd(cartId: "
             "$id, version: $v, lines: $lines) { cart { version quantity cost { subtotal { "
             "amount } } } userErrors { code } } }")
    with counting_statements(shop.commerce) as seen:
        added = (await shop.mutate(query, "cartLinesAdd", id=cart["id"], v=cart["version"],
                                   lines=[{"sku": "TEE-M", "quantity": 2}]))["cart"]
    assert added["quantity"] == 3 and added["cost"]["subtotal"] == {"amount": "59.70"}
    trails = [s for s in seen if "FROM cart_trail" in s]
    assert len(trails) == 1  # the cart is built once: in the change's transaction
    assert len([s for s in seen if "FROM cart_lines" in s]) == 2  # the change's, and its reload


async def test_totals_of_prices_the_cart_given(shop: Storefront) -> None:
    carts = shop.commerce.carts
    before = await carts.get((await shop.new_cart([{"sku": "TEE-M", "quantity": 1}]))["id"])
    after = await carts.add_lines(before.id, [{"sku": "TEE-M", "quantity": 1}],
                                  version=before.version)
    assert (await carts.totals_of(before)).subtotal.amount == (
        await carts.totals(after.id)).subtotal.amount / 2
    assert (await carts.totals_of(after)).subtotal == (await carts.totals(after.id)).subtotal


async def test_owner_follows_merges_and_refuses_unknown_ids(shop: Storefront) -> None:
    carts, customers = shop.commerce.carts, shop.commerce.customers
    guest = await carts.create(channel="web")
    assert await carts.owner(guest.id) is None
    ada = await customers.create(email="ada.owner@example.com")
    hers = await carts.create(channel="web", customer_id=ada.id)
    assert await carts.owner(hers.id) == ada.id
    merged = await carts.attach_customer(guest.id, ada.id, version=guest.version)
    assert merged.id == hers.id  # the guest's cart joined hers
    assert await carts.owner(guest.id) == ada.id
    with pytest.raises(NotFound):
        await carts.owner("cart_nope")

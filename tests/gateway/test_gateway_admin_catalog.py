"""Admin API: catalog and prices, locations and channels, promotions."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from test_gateway_admin import Admin, errors_of, open_admin

from omnicore.testing import FakeClock, paris_address


@pytest.fixture
async def admin(db_url: str, clock: FakeClock) -> AsyncIterator[Admin]:
    async with open_admin(db_url, clock) as world:
        yield world


PRODUCT_SAVE = """mutation($input: ProductInput!) { productSave(input: $input) {
  product { id handle title family attributes variants { sku title barcode attributes
    price(currency: "EUR") { amount { amount currency } channel } } }
  userErrors { field code message } } }"""
PRICES_SET = """mutation($prices: [PriceInput!]!) { pricesSet(prices: $prices) {
  count userErrors { field code message } } }"""


async def test_products_are_saved_priced_and_read(admin: Admin) -> None:
    saved = await admin.mutate("admin", PRODUCT_SAVE, input={
        "handle": "linen-shirt", "title": "Linen shirt", "family": "shirts",
        "attributes": {"fabric": "linen"},
        "variants": [{"sku": "LIN-S", "title": "S", "barcode": "4006381333931"},
                     {"sku": "LIN-M", "title": "M", "attributes": {"fit": "slim"}}]})
    assert saved["userErrors"] == []
    product = saved["product"]
    assert (product["handle"], product["family"], product["attributes"]) == (
        "linen-shirt", "shirts", {"fabric": "linen"})
    assert [v["sku"] for v in product["variants"]] == ["LIN-S", "LIN-M"]
    assert product["variants"][0]["price"] is None

    priced = await admin.mutate("admin", PRICES_SET, prices=[
        {"sku": "LIN-S", "amount": {"amount": "49.90", "currency": "EUR"}},
        {"sku": "LIN-S", "amount": {"amount": "44.90", "currency": "EUR"}, "channel": "app"},
        {"sku": "LIN-M", "amount": {"amount": "49.90", "currency": "EUR"},
         "compareAt": {"amount": "59.90", "currency": "EUR"}}])
    assert priced == {"count": 3, "userErrors": []}

    query = """query($sku: String!) { product(sku: $sku) { handle variants { sku
      web: price(currency: "EUR", channel: "web") { amount { amount } channel }
      app: price(currency: "EUR", channel: "app") { amount { amount } channel compareAt { amount } }
    } } }"""
    variants = (await admin.data("admin", query, sku="LIN-M"))["product"]["variants"]
    assert variants[0]["web"] == {"amount": {"amount": "49.90"}, "channel": None}
    assert variants[0]["app"] == {"amount": {"amount": "44.90"}, "channel": "app",
                                  "compareAt": None}
    assert variants[1]["app"]["compareAt"] == {"amount": "59.90"}

    page = (await admin.data("admin", '{ products(first: 1, query: "shirt") '
                                      "{ nodes { handle } endCursor hasNextPage } }"))["products"]
    assert page["nodes"] == [{"handle": "linen-shirt"}] and page["hasNextPage"] is False
    missing = await admin.error("admin", '{ product(handle: "nope") { id } }')
    assert missing == {"code": "not_found", "field": "handle"}


async def test_bad_catalog_input_is_a_user_error_naming_the_field(admin: Admin) -> None:
    clash = await admin.mutate("admin", PRODUCT_SAVE, input={
        "handle": "other-tee", "title": "Other", "variants": [{"sku": "TEE-M"}]})
    assert errors_of(clash) == [("conflict", "input.variants[0].sku")]
    assert clash["product"] is None
    twice = await admin.mutate("admin", PRODUCT_SAVE, input={
        "handle": "Bad Handle!", "title": "X", "variants": [{"sku": "A-1"}, {"sku": "A-1"}]})
    assert errors_of(twice) == [("invalid_input", "input.handle")]
    unknown = await admin.mutate("admin", PRICES_SET, prices=[
        {"sku": "TEE-M", "amount": {"amount": "9.00", "currency": "EUR"}},
        {"sku": "GHOST", "amount": {"amount": "9.00", "currency": "EUR"}}])
    assert errors_of(unknown) == [("not_found", "prices[1].sku")]
    assert unknown["count"] is None
    wrong_currency = await admin.mutate("admin", PRICES_SET, prices=[
        {"sku": "TEE-M", "amount": {"amount": "9.00", "currency": "GBP"}, "channel": "web"}])
    assert errors_of(wrong_currency) == [("invalid_input", "prices[0].amount")]
    # nothing was written: TEE-M keeps its price
    prices = await admin.commerce.catalog.prices_for(["TEE-M"], currency="EUR")
    assert str(prices["TEE-M"].amount.amount) == "19.90"


LOCATION_SAVE = """mutation($input: LocationInput!) { locationSave(input: $input) {
  location { code kind address { city postalCode } capabilities priority active hours }
  userErrors { field code } } }"""
CHANNEL_SAVE = """mutation($input: ChannelInput!) { channelSave(input: $input) {
  channel { code kind currency publicToken locations { location buffer priority } }
  userErrors { field code } } }"""


def _store(code: str) -> dict[str, object]:
    address = paris_address()
    return {"code": code, "name": code.title(), "kind": "store",
            "address": {"line1": address["line1"], "city": address["city"],
                        "postalCode": address["postal_code"], "country": "FR"},
            "geo": {"lat": 48.85, "lng": 2.35}, "timezone": "Europe/Paris",
            "hours": {"weekly": {"mon": [{"open": "10:00", "close": "19:00"}]}},
            "capabilities": ["pickup", "returns"], "priority": 40}


async def test_locations_and_channels_are_saved_within_the_key_scope(admin: Admin) -> None:
    saved = await admin.mutate("admin", LOCATION_SAVE, input=_store("opera"))
    location = saved["location"]
    assert saved["userErrors"] == [] and location["kind"] == "store"
    assert location["capabilities"] == ["pickup", "returns"]
    assert location["hours"] == {"weekly": {"mon": [{"open": "10:00", "close": "19:00"}]},
                                 "exceptions": []}
    bad = await admin.mutate("admin", LOCATION_SAVE, input={**_store("opera"),
                                                            "timezone": "Mars/Olympus"})
    assert errors_of(bad) == [("invalid_input", "input.timezone")]

    # the Paris associate may edit paris-1, not another store
    mine = await admin.mutate("paris", LOCATION_SAVE, input={**_store("paris-1"),
                                                             "name": "Paris Rivoli"})
    assert mine["userErrors"] == []
    theirs = await admin.mutate("paris", LOCATION_SAVE, input=_store("paris-2"))
    assert errors_of(theirs) == [("forbidden", "location")]
    assert (await admin.commerce.locations.get("paris-2")).priority != 40

    codes = [loc["code"] for loc in (await admin.data("paris", "{ locations { code } }"))
             ["locations"]]
    assert codes == ["paris-1"]
    every = (await admin.data("admin", "{ locations(activeOnly: true) { code } }"))["locations"]
    assert {"wh", "paris-1", "paris-2", "opera"} <= {loc["code"] for loc in every}

    channel = {"code": "pos-opera", "name": "Opera till", "kind": "store", "currency": "EUR",
               "locations": [{"location": "opera"}]}
    created = await admin.mutate("admin", CHANNEL_SAVE, input=channel)
    assert created["userErrors"] == []
    assert created["channel"]["publicToken"].startswith("pub_")
    assert created["channel"]["locations"] == [{"location": "opera", "buffer": 0, "priority": 0}]
    unknown = await admin.mutate("admin", CHANNEL_SAVE, input={
        **channel, "locations": [{"location": "opera"}, {"location": "atlantis"}]})
    assert errors_of(unknown) == [("not_found", "input.locations[1].location")]

    # a scoped key may not take over a channel of other stores, nor add them to its own
    steal = await admin.mutate("paris", CHANNEL_SAVE, input={
        **channel, "locations": [{"location": "paris-1"}]})
    assert errors_of(steal) == [("forbidden", "location")]
    widen = await admin.mutate("paris", CHANNEL_SAVE, input={
        "code": "pos-paris-1", "name": "Till", "kind": "store", "currency": "EUR",
        "locations": [{"location": "paris-1"}, {"location": "paris-2"}]})
    assert errors_of(widen) == [("forbidden", "location")]
    nowhere = await admin.mutate("paris", CHANNEL_SAVE, input={
        "code": "pos-ghost", "name": "Ghost", "kind": "store", "currency": "EUR"})
    assert errors_of(nowhere) == [("forbidden", "location")]
    own = await admin.mutate("paris", CHANNEL_SAVE, input={
        "code": "pos-paris-1", "name": "Rivoli till", "kind": "store", "currency": "EUR",
        "locations": [{"location": "paris-1", "buffer": 1}]})
    assert own["userErrors"] == [] and own["channel"]["locations"][0]["buffer"] == 1
    seen = (await admin.data("paris", "{ channels { code } }"))["channels"]
    assert [c["code"] for c in seen] == ["pos-paris-1"]


PROMOTION_CREATE = """mutation($input: PromotionInput!) { promotionCreate(input: $input) {
  promotion { id name kind target percent amounts buy get channels codes automatic active
              startsAt timesUsed }
  userErrors { field code message } } }"""


async def test_promotions_are_created_coded_listed_and_stopped(admin: Admin) -> None:
    created = await admin.mutate("admin", PROMOTION_CREATE, input={
        "name": "Summer", "kind": "percent_off", "percent": "15", "channels": ["web", "app"],
        "codes": ["summer15"], "automatic": False,
        "startsAt": "2026-03-01T00:00:00+00:00"})
    assert created["userErrors"] == []
    promotion = created["promotion"]
    assert (promotion["kind"], promotion["target"], promotion["percent"]) == (
        "percent_off", "line", "15")
    assert promotion["codes"] == ["SUMMER15"] and promotion["timesUsed"] == 0
    three_for_two = await admin.mutate("admin", PROMOTION_CREATE, input={
        "name": "3 for 2", "kind": "buy_x_get_y", "buy": 3, "get": 1})
    assert three_for_two["userErrors"] == []
    assert (three_for_two["promotion"]["buy"], three_for_two["promotion"]["get"]) == (3, 1)

    missing = await admin.mutate("admin", PROMOTION_CREATE, input={
        "name": "Broken", "kind": "fixed_off"})
    assert errors_of(missing) == [("invalid_input", "input.amounts")]
    taken = await admin.mutate("admin", PROMOTION_CREATE, input={
        "name": "Copy", "kind": "free_shipping", "codes": ["SUMMER15"]})
    assert errors_of(taken) == [("conflict", "input.codes[0]")]
    nowhere = await admin.mutate("admin", PROMOTION_CREATE, input={
        "name": "Nowhere", "kind": "free_shipping", "channels": ["atlantis"]})
    assert errors_of(nowhere) == [("not_found", "input.channels[0]")]

    add = """mutation($id: ID!, $codes: [String!]!) { promotionAddCodes(id: $id, codes: $codes,
      usageLimit: 1) { codes userErrors { field code } } }"""
    added = await admin.mutate("admin", add, id=promotion["id"], codes=["vip-1", "vip-2"])
    assert added == {"codes": ["VIP-1", "VIP-2"], "userErrors": []}
    again = await admin.mutate("admin", add, id=promotion["id"], codes=["VIP-3", "vip-1"])
    assert errors_of(again) == [("conflict", "codes[1]")]

    listed = await admin.data("admin", """{ web: promotions(channel: "web") { name codes }
      live: promotions(activeAt: "2026-02-01T00:00:00+00:00") { name } }""")
    assert {p["name"] for p in listed["web"]} == {"Summer", "3 for 2"}
    assert next(p for p in listed["web"] if p["name"] == "Summer")["codes"] == [
        "SUMMER15", "VIP-1", "VIP-2"]
    assert [p["name"] for p in listed["live"]] == ["3 for 2"]  # Summer starts in March
    assert await admin.error("admin", '{ promotions(activeAt: "2026-02-01T00:00:00") { id } }'
                             ) == {"code": "invalid_input", "field": "activeAt"}

    stop = """mutation($id: ID!) { promotionDeactivate(id: $id) {
      promotion { active } userErrors { field code } } }"""
    assert (await admin.mutate("admin", stop, id=promotion["id"]))["promotion"] == {
        "active": False}
    assert errors_of(await admin.mutate("admin", stop, id="promo_nope")) == [
        ("not_found", "promotionId")]
    one = await admin.data("admin", "query($id: ID!) { promotion(id: $id) { active codes } }",
                           id=promotion["id"])
    assert one["promotion"]["active"] is False
    assert (await admin.error("paris", "{ promotions { id } }"))["code"] == "forbidden"

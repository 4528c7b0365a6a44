"""Listings: put for a new SKU (one call per marketplace), patch for a change (one call for
all of them), INVALID issues kept per SKU. Every test runs for FR alone and for FR + BE."""

from __future__ import annotations

from typing import Any

import pytest
from amazon_fake import BE, FR, FakeAmazon
from amazon_world import SOCKS, build_world
from conftest import model, open_shop
from omnicore_amazon import AmazonPlugin, AmazonSettings

from omnicore import Commerce
from omnicore.testing import FakeClock, OpenApiDocument, RecordedRequest

pytestmark = pytest.mark.parametrize("marketplace_ids", [["FR"], ["FR", "BE"]],
                                     ids=["FR", "FR+BE"])
IDS = {"FR": FR, "BE": BE}
#: each marketplace's own language (Amazon.com.be: fr_BE, nl_BE; Amazon.fr: fr_FR)
LANGUAGE = {FR: "fr_FR", BE: "fr_BE"}


def ids_of(marketplace_ids: list[str]) -> list[str]:
    return [IDS[m] for m in marketplace_ids]


def sku_of(request: Any) -> str:
    return str(request.url.path.rsplit("/", 1)[-1])


async def test_new_skus_are_put_whole_with_price_and_quantity(
        db_url: str, clock: FakeClock, plugin: AmazonPlugin, amazon: FakeAmazon,
        amazon_settings: dict[str, Any], marketplace_ids: list[str]) -> None:
    commerce = await open_shop(db_url, clock, plugin, **amazon_settings)
    try:
        await build_world(commerce, deliver=False)
        await commerce.stock.receive("TEE-M", "wh", 10, source="erp")
        await commerce.outbox.drain()
    finally:
        await commerce.close()

    markets = ids_of(marketplace_ids)
    puts = {(sku_of(r), r.url.params["marketplaceIds"]): body
            for r, body in zip(amazon.calls["putListingsItem"],
                               amazon.bodies("putListingsItem"), strict=True)}
    # one put per SKU and marketplace; not the gift card: no product type
    assert set(puts) == {(sku, mp) for sku in ("TEE-M", "TEE-L", *SOCKS) for mp in markets}
    assert len(amazon.calls["putListingsItem"]) == len(puts)
    assert "patchListingsItem" not in amazon.calls
    for request in amazon.calls["putListingsItem"]:
        assert request.url.path.startswith("/listings/2021-08-01/items/A2EXAMPLESELLER/")
        marketplace = request.url.params["marketplaceIds"]  # one, never a list
        assert request.url.params["issueLocale"] == LANGUAGE[marketplace]
        assert request.headers["x-amz-access-token"].startswith("Atza|")
    for mp in markets:
        tee = puts[("TEE-M", mp)]
        assert tee["productType"] == "SHIRT"
        assert tee["requirements"] == "LISTING"
        attributes = tee["attributes"]
        # only this marketplace's entries, texts in its own language
        assert attributes["item_name"] == [
            {"value": "Classic tee - M", "language_tag": LANGUAGE[mp], "marketplace_id": mp}]
        assert attributes["brand"] == [
            {"value": "Maison Omni", "language_tag": LANGUAGE[mp], "marketplace_id": mp}]
        assert attributes["color"][0]["value"] == "Navy"
        assert attributes["material"][0]["value"] == "Cotton"
        assert attributes["externally_assigned_product_identifier"] == [
            {"type": "ean", "value": "3701234567891", "marketplace_id": mp}]
        assert attributes["condition_type"] == [{"value": "new_new", "marketplace_id": mp}]
        assert attributes["main_product_image_locator"] == [
            {"media_location": "https://cdn.example.com/tee-front.jpg", "marketplace_id": mp}]
        # the channel's own price, tax included
        assert attributes["purchasable_offer"] == [{
            "currency": "EUR", "marketplace_id": mp,
            "our_price": [{"schedule": [{"value_with_tax": 21.9}]}]}]
        # the Amazon channel's availability: 10 at the warehouse minus its buffer of 1
        assert attributes["fulfillment_availability"] == [
            {"fulfillment_channel_code": "DEFAULT", "quantity": 9}]
        assert puts[("TEE-L", mp)]["attributes"]["purchasable_offer"][0]["our_price"] == [
            {"schedule": [{"value_with_tax": 19.9}]}]
        assert puts[("TEE-L", mp)]["attributes"]["fulfillment_availability"][0][
            "quantity"] == 0
        assert puts[("SOCK-01", mp)]["productType"] == "SOCKS"


async def test_every_listings_request_conforms_to_amazons_model(
        db_url: str, clock: FakeClock, plugin: AmazonPlugin, amazon: FakeAmazon,
        amazon_settings: dict[str, Any], marketplace_ids: list[str]) -> None:
    """Puts and patches for one or two marketplaces, checked against the Listings Items
    2021-08-01 model as Amazon publishes it (read from its file, not copied here)."""
    listings_items = model("listingsItems_2021-08-01.json")
    document = OpenApiDocument(listings_items)
    operations = listings_items["paths"]["/listings/2021-08-01/items/{sellerId}/{sku}"]

    def limit(method: str) -> int | None:
        (marketplaces,) = [p for p in operations[method]["parameters"]
                           if p["name"] == "marketplaceIds"]
        return marketplaces.get("maxItems")

    commerce = await open_shop(db_url, clock, plugin, **amazon_settings)
    try:
        await build_world(commerce)
        await commerce.catalog.set_prices([{"sku": "TEE-M", "channel": "amazon-fr",
                                            "amount": {"amount": "18.00", "currency": "EUR"}}])
        await commerce.stock.receive("TEE-L", "paris-1", 1, source="erp")
        await commerce.outbox.drain()
        await plugin.started().stock.flush()
        await commerce.stock.sell("TEE-L", "paris-1", 1, source="pos")
        await commerce.outbox.drain()  # sold out: patched at once
    finally:
        await commerce.close()

    sent = [*amazon.calls["putListingsItem"], *amazon.calls["patchListingsItem"]]
    assert {r.method for r in sent} == {"PUT", "PATCH"}
    for request in sent:
        problems = document.check(RecordedRequest.of(request))
        assert problems == [], [str(p) for p in problems]
        count = len(request.url.params["marketplaceIds"].split(","))
        allowed = limit(request.method.lower())
        assert allowed is None or count <= allowed
    assert limit("put") == limit("delete") == 1  # what the model says, read above
    for request in amazon.calls["patchListingsItem"]:  # PATCH stays batched
        assert request.url.params["marketplaceIds"] == ",".join(ids_of(marketplace_ids))


async def test_languages_are_configurable_per_marketplace(
        db_url: str, clock: FakeClock, plugin: AmazonPlugin, amazon: FakeAmazon,
        amazon_settings: dict[str, Any], marketplace_ids: list[str]) -> None:
    options = {"BE": {"language_tag": "nl_BE", "issue_locale": "en_GB"}} \
        if "BE" in marketplace_ids else {"FR": {"issue_locale": "en_GB"}}
    commerce = await open_shop(db_url, clock, plugin, **{**amazon_settings,
                                                         "marketplaces": options})
    try:
        await build_world(commerce)
    finally:
        await commerce.close()

    puts = {r.url.params["marketplaceIds"]: (r, b) for r, b in zip(
        amazon.calls["putListingsItem"], amazon.bodies("putListingsItem"), strict=True)
        if sku_of(r) == "TEE-M"}
    request, body = puts[FR]
    assert body["attributes"]["item_name"][0]["language_tag"] == "fr_FR"
    if "BE" in marketplace_ids:
        assert request.url.params["issueLocale"] == "fr_FR"
        request, body = puts[BE]
        assert body["attributes"]["item_name"] == [
            {"value": "Classic tee - M", "language_tag": "nl_BE", "marketplace_id": BE}]
    assert request.url.params["issueLocale"] == "en_GB"
    settings = AmazonSettings(**{**amazon_settings, "marketplaces": options})
    assert settings.language_of(FR) == "fr_FR"


def test_marketplace_options_name_configured_marketplaces(
        amazon_settings: dict[str, Any]) -> None:
    from omnicore import InvalidInput

    for options, field in (({"DE": {"language_tag": "de_DE"}}, "marketplaces"),
                           ({"FR": {"language": "fr_FR"}}, "marketplaces.FR.language"),
                           ({"FR": {"issue_locale": "French"}}, "marketplaces.FR.issue_locale")):
        with pytest.raises(InvalidInput) as caught:
            AmazonSettings(**{**amazon_settings, "marketplaces": options})
        assert caught.value.field == field


async def test_a_sku_refused_in_one_marketplace_is_not_listed_until_all_accept(
        db_url: str, clock: FakeClock, plugin: AmazonPlugin, amazon: FakeAmazon,
        amazon_settings: dict[str, Any], marketplace_ids: list[str]) -> None:
    amazon.invalid_skus["TEE-L"] = INVALID_ISSUES
    amazon.invalid_in["TEE-L"] = {BE}
    commerce = await open_shop(db_url, clock, plugin, **amazon_settings)
    try:
        await build_world(commerce)
        problems = await plugin.started().listings.problems()
        if "BE" not in marketplace_ids:  # accepted where it was put
            assert problems == []
            return
        assert [(p.sku, p.status, p.listed) for p in problems] == [("TEE-L", "INVALID", False)]
        assert problems[0].issues == INVALID_ISSUES
        # fixed in BE: the next change puts it again, in every marketplace, and it lists
        amazon.invalid_in["TEE-L"] = set()
        amazon.calls.clear()
        await commerce.catalog.set_prices([{"sku": "TEE-L", "amount": {
            "amount": "17.90", "currency": "EUR"}}])
        await commerce.outbox.drain()
        assert sorted(r.url.params["marketplaceIds"] for r in amazon.calls["putListingsItem"]
                      ) == sorted([FR, BE])
        assert await plugin.started().listings.problems() == []
    finally:
        await commerce.close()


async def test_a_change_is_a_patch_of_the_changed_attributes_only(
        shop: Commerce, amazon: FakeAmazon, marketplace_ids: list[str]) -> None:
    await shop.catalog.save_product({
        "handle": "classic-tee", "title": "Classic organic tee", "family": "tees",
        "description": "Heavy cotton tee.", "attributes": {"brand": "Maison Omni"},
        "images": ["https://cdn.example.com/tee-front.jpg",
                   "https://cdn.example.com/tee-back.jpg"],
        "variants": [{"sku": "TEE-M", "title": "M", "barcode": "3701234567891",
                      "attributes": {"size": "M", "colour": "Navy"}},
                     {"sku": "TEE-L", "title": "L",
                      "attributes": {"size": "L", "colour": "Navy"}}]})
    await shop.outbox.drain()

    assert "putListingsItem" not in amazon.calls
    bodies = amazon.bodies("patchListingsItem")
    assert len(bodies) == 2  # one per SKU, for every marketplace at once
    markets = ids_of(marketplace_ids)
    assert bodies[0] == {"productType": "SHIRT", "patches": [{
        "op": "replace", "path": "/attributes/item_name",
        "value": [{"value": "Classic organic tee - M", "language_tag": LANGUAGE[mp],
                   "marketplace_id": mp} for mp in markets]}]}
    request = amazon.calls["patchListingsItem"][0]
    assert request.url.params["marketplaceIds"] == ",".join(markets)
    assert request.url.params["issueLocale"] == "fr_FR"

    # the same event again (at-least-once), or a save that changes nothing: no call
    amazon.calls.clear()
    await shop.catalog.save_product(await shop.catalog.product(handle="classic-tee"))
    await shop.outbox.drain()
    assert "patchListingsItem" not in amazon.calls


async def test_a_removed_attribute_is_deleted_by_its_selectors(
        shop: Commerce, amazon: FakeAmazon, marketplace_ids: list[str]) -> None:
    product = await shop.catalog.product(handle="classic-tee")
    await shop.catalog.save_product({
        "handle": product.handle, "title": product.title, "family": "tees",
        "description": product.description, "images": product.images,
        "variants": [{"sku": "TEE-L", "title": "L",
                      "attributes": {"size": "L", "colour": "Navy"}}]})  # no brand now
    await shop.outbox.drain()

    patched = [b for r, b in zip(amazon.calls["patchListingsItem"],
                                 amazon.bodies("patchListingsItem"), strict=True)
               if r.url.path.endswith("/TEE-L")]
    assert patched == [{"productType": "SHIRT", "patches": [{
        "op": "delete", "path": "/attributes/brand",
        "value": [{"marketplace_id": mp, "language_tag": LANGUAGE[mp]}
                  for mp in ids_of(marketplace_ids)]}]}]


async def test_a_price_change_for_the_channel_patches_the_offer(
        shop: Commerce, amazon: FakeAmazon, marketplace_ids: list[str]) -> None:
    await shop.catalog.set_prices([{"sku": "TEE-M", "channel": "amazon-fr",
                                    "amount": {"amount": "18.00", "currency": "EUR"}}])
    await shop.catalog.set_prices([{"sku": "TEE-L", "channel": "web",
                                    "amount": {"amount": "15.00", "currency": "EUR"}}])
    await shop.outbox.drain()

    assert amazon.bodies("patchListingsItem") == [{"productType": "SHIRT", "patches": [{
        "op": "replace", "path": "/attributes/purchasable_offer",
        "value": [{"currency": "EUR", "marketplace_id": mp,
                   "our_price": [{"schedule": [{"value_with_tax": 18}]}]}
                  for mp in ids_of(marketplace_ids)]}]}]
    assert amazon.calls["patchListingsItem"][0].url.path.endswith("/TEE-M")


INVALID_ISSUES = [
    {"code": "90220", "message": "'condition_type' is required but not supplied.",
     "severity": "ERROR", "attributeNames": ["condition_type"],
     "categories": ["MISSING_ATTRIBUTE"],
     "enforcements": {"actions": [{"action": "LISTING_SUPPRESSED"}],
                      "exemption": {"status": "NOT_EXEMPT"}}},
    {"code": "90000900", "message": "The attributes are invalid.", "severity": "ERROR",
     "attributeNames": ["fake_attribute"], "categories": []},
]


async def test_an_invalid_submission_answered_with_200_keeps_its_issues(
        db_url: str, clock: FakeClock, plugin: AmazonPlugin, amazon: FakeAmazon,
        amazon_settings: dict[str, Any], marketplace_ids: list[str]) -> None:
    amazon.invalid_skus["TEE-L"] = INVALID_ISSUES
    commerce = await open_shop(db_url, clock, plugin, **amazon_settings)
    try:
        await build_world(commerce)
        assert await commerce.outbox.counts() == {"delivered": await _delivered(commerce)}
        problems = await plugin.started().listings.problems()
        assert [(p.sku, p.status, p.listed) for p in problems] == [("TEE-L", "INVALID", False)]
        assert problems[0].issues == INVALID_ISSUES

        # fixed at Amazon's end: the next change of the product puts it again, and it lists
        del amazon.invalid_skus["TEE-L"]
        amazon.calls.clear()
        await commerce.catalog.set_prices([{"sku": "TEE-L", "amount": {
            "amount": "17.90", "currency": "EUR"}}])
        await commerce.outbox.drain()
        assert [sku_of(r) for r in amazon.calls["putListingsItem"]] == [
            "TEE-L"] * len(marketplace_ids)
        assert await plugin.started().listings.problems() == []
    finally:
        await commerce.close()


async def _delivered(commerce: Commerce) -> int:
    return (await commerce.outbox.counts()).get("delivered", 0)


async def test_a_refused_call_is_recorded_and_the_event_acknowledged(
        shop: Commerce, plugin: AmazonPlugin, amazon: FakeAmazon) -> None:
    from amazon_fake import error_response

    amazon.script("patchListingsItem", error_response(
        400, "InvalidInput", "Request has missing or invalid parameters and cannot be parsed.",
        "productType SHIRT is not valid for this SKU"))
    await shop.catalog.set_prices([{"sku": "TEE-M", "channel": "amazon-fr",
                                    "amount": {"amount": "18.00", "currency": "EUR"}}])
    await shop.outbox.drain()

    assert "pending" not in await shop.outbox.counts()
    problems = await plugin.started().listings.problems()
    assert [(p.sku, p.status) for p in problems] == [("TEE-M", "ERROR")]
    assert problems[0].issues == [{
        "code": "InvalidInput", "severity": "ERROR",
        "message": "Request has missing or invalid parameters and cannot be parsed."}]


async def test_listing_issues_are_visible_to_staff_on_the_admin_api(
        db_url: str, clock: FakeClock, plugin: AmazonPlugin, amazon: FakeAmazon,
        amazon_settings: dict[str, Any]) -> None:
    import httpx

    from omnicore.gateway import create_app

    amazon.invalid_skus["TEE-L"] = INVALID_ISSUES
    commerce = await open_shop(db_url, clock, plugin, **amazon_settings)
    try:
        await build_world(commerce)
        catalog = await commerce.auth.create_staff_key("merch", ["MANAGE_CATALOG"])
        stock = await commerce.auth.create_staff_key("stock", ["MANAGE_STOCK"])
        transport = httpx.ASGITransport(app=create_app(commerce))
        async with httpx.AsyncClient(transport=transport, base_url="http://shop") as client:
            anonymous = await client.get("/admin/amazon/status")
            forbidden = await client.get("/admin/amazon/status", headers={
                "Authorization": f"Bearer {stock.key}"})
            seen = await client.get("/admin/amazon/status", headers={
                "Authorization": f"Bearer {catalog.key}"})
        assert anonymous.status_code == 401 and forbidden.status_code == 403
        assert seen.status_code == 200
        problems = seen.json()["listings"]["problems"]
        assert [(p["sku"], p["status"]) for p in problems] == [("TEE-L", "INVALID")]
        assert problems[0]["issues"] == INVALID_ISSUES
        assert "client_secret" not in seen.text and "refresh_token" not in seen.text
    finally:
        await commerce.close()

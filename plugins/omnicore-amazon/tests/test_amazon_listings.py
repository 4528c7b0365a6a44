"""Listings: put for a new SKU, patch for a change, INVALID issues kept per SKU."""

from __future__ import annotations

from amazon_fake import FR, FakeAmazon
from amazon_world import SOCKS, build_world
from conftest import open_shop
from omnicore_amazon import AmazonPlugin

from omnicore import Commerce
from omnicore.testing import FakeClock


async def test_new_skus_are_put_whole_with_price_and_quantity(
        db_url: str, clock: FakeClock, plugin: AmazonPlugin, amazon: FakeAmazon) -> None:
    commerce = await open_shop(db_url, clock, plugin)
    try:
        await build_world(commerce, deliver=False)
        await commerce.stock.receive("TEE-M", "wh", 10, source="erp")
        await commerce.outbox.drain()
    finally:
        await commerce.close()

    puts = {r.url.path.rsplit("/", 1)[-1]: body
            for r, body in zip(amazon.calls["putListingsItem"],
                               amazon.bodies("putListingsItem"), strict=True)}
    assert set(puts) == {"TEE-M", "TEE-L", *SOCKS}  # not the gift card: no product type
    assert "patchListingsItem" not in amazon.calls
    request = amazon.calls["putListingsItem"][0]
    assert request.url.params["marketplaceIds"] == FR
    assert request.url.path.startswith("/listings/2021-08-01/items/A2EXAMPLESELLER/")
    tee = puts["TEE-M"]
    assert tee["productType"] == "SHIRT"
    assert tee["requirements"] == "LISTING"
    attributes = tee["attributes"]
    assert attributes["item_name"] == [
        {"value": "Classic tee - M", "language_tag": "fr_FR", "marketplace_id": FR}]
    assert attributes["brand"][0]["value"] == "Maison Omni"
    assert attributes["color"][0]["value"] == "Navy"
    assert attributes["material"][0]["value"] == "Cotton"
    assert attributes["externally_assigned_product_identifier"] == [
        {"type": "ean", "value": "3701234567891", "marketplace_id": FR}]
    assert attributes["condition_type"] == [{"value": "new_new", "marketplace_id": FR}]
    assert attributes["main_product_image_locator"] == [
        {"media_location": "https://cdn.example.com/tee-front.jpg", "marketplace_id": FR}]
    # the channel's own price, tax included
    assert attributes["purchasable_offer"] == [{
        "currency": "EUR", "marketplace_id": FR,
        "our_price": [{"schedule": [{"value_with_tax": 21.9}]}]}]
    # the Amazon channel's availability: 10 at the warehouse minus its buffer of 1
    assert attributes["fulfillment_availability"] == [
        {"fulfillment_channel_code": "DEFAULT", "quantity": 9}]
    assert puts["TEE-L"]["attributes"]["purchasable_offer"][0]["our_price"] == [
        {"schedule": [{"value_with_tax": 19.9}]}]
    assert puts["TEE-L"]["attributes"]["fulfillment_availability"][0]["quantity"] == 0
    assert puts["SOCK-01"]["productType"] == "SOCKS"
    for call in amazon.calls["putListingsItem"]:
        assert call.headers["x-amz-access-token"].startswith("Atza|")


async def test_a_change_is_a_patch_of_the_changed_attributes_only(
        shop: Commerce, amazon: FakeAmazon) -> None:
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
    assert len(bodies) == 2
    assert bodies[0] == {"productType": "SHIRT", "patches": [{
        "op": "replace", "path": "/attributes/item_name",
        "value": [{"value": "Classic organic tee - M", "language_tag": "fr_FR",
                   "marketplace_id": FR}]}]}

    # the same event again (at-least-once), or a save that changes nothing: no call
    amazon.calls.clear()
    await shop.catalog.save_product(await shop.catalog.product(handle="classic-tee"))
    await shop.outbox.drain()
    assert "patchListingsItem" not in amazon.calls


async def test_a_removed_attribute_is_deleted_by_its_selectors(
        shop: Commerce, amazon: FakeAmazon) -> None:
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
        "value": [{"marketplace_id": FR, "language_tag": "fr_FR"}]}]}]


async def test_a_price_change_for_the_channel_patches_the_offer(
        shop: Commerce, amazon: FakeAmazon) -> None:
    await shop.catalog.set_prices([{"sku": "TEE-M", "channel": "amazon-fr",
                                    "amount": {"amount": "18.00", "currency": "EUR"}}])
    await shop.catalog.set_prices([{"sku": "TEE-L", "channel": "web",
                                    "amount": {"amount": "15.00", "currency": "EUR"}}])
    await shop.outbox.drain()

    assert amazon.bodies("patchListingsItem") == [{"productType": "SHIRT", "patches": [{
        "op": "replace", "path": "/attributes/purchasable_offer",
        "value": [{"currency": "EUR", "marketplace_id": FR,
                   "our_price": [{"schedule": [{"value_with_tax": 18}]}]}]}]}]
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
        db_url: str, clock: FakeClock, plugin: AmazonPlugin, amazon: FakeAmazon) -> None:
    amazon.invalid_skus["TEE-L"] = INVALID_ISSUES
    commerce = await open_shop(db_url, clock, plugin)
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
        assert [r.url.path.rsplit("/", 1)[-1] for r in amazon.calls["putListingsItem"]] == [
            "TEE-L"]
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
        db_url: str, clock: FakeClock, plugin: AmazonPlugin, amazon: FakeAmazon) -> None:
    import httpx

    from omnicore.gateway import create_app

    amazon.invalid_skus["TEE-L"] = INVALID_ISSUES
    commerce = await open_shop(db_url, clock, plugin)
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

"""Admin API: customer search, the 360° view, merge, export, erase; the cart hand-off."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from test_gateway_admin import HOME, Admin, errors_of, open_admin

from omnicore.testing import FakeClock


@pytest.fixture
async def admin(db_url: str, clock: FakeClock) -> AsyncIterator[Admin]:
    async with open_admin(db_url, clock) as world:
        yield world


SEARCH = """query($email: String, $phone: String, $loyaltyCard: String) {
  customerSearch(email: $email, phone: $phone, loyaltyCard: $loyaltyCard) {
  id firstName email phone identities { kind value } } }"""
VIEW = """query($id: ID!) { customer(id: $id) {
  customer { id firstName lastName email status }
  consents { contactChannel granted source }
  openCarts { channel lineCount quantity }
  favourites { sku title }
  orders { number channel status total { amount currency } source }
  orderCount } }"""


async def ada(admin: Admin, email: str = "ada@example.com", **profile: Any) -> str:
    customer = await admin.commerce.customers.create(email=email, first_name="Ada",
                                                     last_name="Lovelace", **profile)
    return customer.id


async def test_an_associate_finds_a_customer_and_sees_the_360_view(admin: Admin) -> None:
    customers = admin.commerce.customers
    customer_id = await ada(admin, phone="+33612345678")
    await customers.add_identity(customer_id, "loyalty_card", "card 0042")
    await customers.set_consent(customer_id, "sms", True, source="pos-paris-1")
    await customers.set_consent(customer_id, "email", False, source="web")
    await customers.add_favourite(customer_id, "TEE-L", channel="app")
    await admin.place([{"sku": "TEE-M", "quantity": 2}], delivery=[HOME],
                      customer_id=customer_id)
    cart = await admin.commerce.carts.create("app", customer_id=customer_id)
    await admin.commerce.carts.add_lines(cart.id, [{"sku": "TEE-L", "quantity": 1}],
                                         version=cart.version)

    for search in ({"email": " ADA@example.com"}, {"phone": "06 12 34 56 78"},
                   {"loyaltyCard": "CARD0042"}):
        found = (await admin.data("paris", SEARCH, **search))["customerSearch"]
        assert [c["id"] for c in found] == [customer_id], search
    assert found[0]["identities"][0] == {"kind": "email", "value": "ada@example.com"}
    assert (await admin.data("paris", SEARCH, email="nobody@example.com"))[
        "customerSearch"] == []
    assert (await admin.error("paris", SEARCH, email="a@example.com", phone="0612"))[
        "code"] == "invalid_input"
    assert await admin.error("reports", SEARCH, email="ada@example.com") == {
        "code": "forbidden", "field": "permission"}

    view = (await admin.data("paris", VIEW, id=customer_id))["customer"]
    assert view["customer"] == {"id": customer_id, "firstName": "Ada", "lastName": "Lovelace",
                                "email": "ada@example.com", "status": "active"}
    assert view["consents"] == [
        {"contactChannel": "email", "granted": False, "source": "web"},
        {"contactChannel": "sms", "granted": True, "source": "pos-paris-1"}]
    assert view["openCarts"] == [{"channel": "app", "lineCount": 1, "quantity": 1}]
    assert view["favourites"] == [{"sku": "TEE-L", "title": "Classic tee"}]
    assert view["orderCount"] == 1
    assert view["orders"][0]["status"] == "authorized" and view["orders"][0]["source"] == ""
    assert view["orders"][0]["total"]["currency"] == "EUR"
    assert await admin.error("paris", VIEW, id="cus_nope") == {
        "code": "not_found", "field": "customerId"}


MERGE = """mutation($survivor: ID!, $merged: ID!) { customerMerge(survivorId: $survivor,
  mergedId: $merged) { merge { survivorId mergedId actor summary } customer { id email
  identities { kind value } } userErrors { field code } } }"""
ERASE = """mutation($id: ID!) { customerErase(id: $id) {
  erasure { customerId customerIds removed } userErrors { field code } } }"""
EXPORT = "query($id: ID!) { customerExport(id: $id) }"


async def test_duplicates_are_merged_exported_and_erased(admin: Admin) -> None:
    survivor = await ada(admin)
    duplicate = await admin.commerce.customers.create(phone="+33698765432", first_name="Ada",
                                                      source="pos")
    assert errors_of(await admin.mutate("paris", MERGE, survivor=survivor,
                                        merged=duplicate.id)) == [("forbidden", "permission")]
    merged = await admin.mutate("admin", MERGE, survivor=survivor, merged=duplicate.id)
    assert merged["userErrors"] == []
    key_id = (await admin.data("admin", "{ staffMe { id } }"))["staffMe"]["id"]
    assert merged["merge"]["actor"] == f"staff:{key_id}"
    assert {(i["kind"], i["value"]) for i in merged["customer"]["identities"]} == {
        ("email", "ada@example.com"), ("phone", "+33698765432")}
    same = await admin.mutate("admin", MERGE, survivor=survivor, merged=survivor)
    assert same["merge"] is None and errors_of(same) == [("invalid_input", "mergedId")]
    twice = await admin.mutate("admin", MERGE, survivor=survivor, merged=duplicate.id)
    assert errors_of(twice) == [("conflict", "mergedId")]
    # the merged id keeps resolving to the survivor
    view = (await admin.data("admin", VIEW, id=duplicate.id))["customer"]
    assert view["customer"]["id"] == survivor

    assert await admin.error("paris", EXPORT, id=survivor) == {
        "code": "forbidden", "field": "permission"}
    exported = (await admin.data("admin", EXPORT, id=survivor))["customerExport"]
    assert "ada@example.com" in str(exported) and "+33698765432" in str(exported)

    assert errors_of(await admin.mutate("paris", ERASE, id=survivor)) == [
        ("forbidden", "permission")]
    erased = await admin.mutate("admin", ERASE, id=survivor)
    assert erased["userErrors"] == []
    assert erased["erasure"]["customerId"] == survivor
    assert set(erased["erasure"]["customerIds"]) == {survivor, duplicate.id}
    assert (await admin.error("admin", VIEW, id=survivor))["code"] == "not_found"
    assert (await admin.data("admin", SEARCH, email="ada@example.com"))["customerSearch"] == []
    assert errors_of(await admin.mutate("admin", ERASE, id=survivor)) == [
        ("not_found", "customerId")]


TAKE_OVER = """mutation($channel: String!, $code: String, $cartId: ID) {
  cartTakeOver(channel: $channel, code: $code, cartId: $cartId) {
  cart { id channel version lines { sku quantity } trail { channel action actor } }
  userErrors { field code message } } }"""


async def test_an_associate_takes_a_cart_over_at_their_own_store_only(admin: Admin) -> None:
    carts = admin.commerce.carts
    cart = await carts.create("web")
    cart = await carts.add_lines(cart.id, [{"sku": "TEE-M", "quantity": 1}], version=cart.version)
    handoff = await carts.handoff_code(cart.id, version=cart.version)

    wrong_store = await admin.mutate("paris", TAKE_OVER, channel="pos-paris-2",
                                     code=handoff.code)
    assert errors_of(wrong_store) == [("forbidden", "location")]
    not_a_store = await admin.mutate("admin", TAKE_OVER, channel="web", code=handoff.code)
    assert errors_of(not_a_store) == [("forbidden", "channel")]
    unknown = await admin.mutate("admin", TAKE_OVER, channel="pos-nowhere", code=handoff.code)
    assert errors_of(unknown) == [("not_found", "channel")]
    assert errors_of(await admin.mutate("paris", TAKE_OVER, channel="pos-paris-1",
                                        code="ZZZZZZZZ")) == [("forbidden", "code")]
    assert errors_of(await admin.mutate("reports", TAKE_OVER, channel="pos-paris-1",
                                        code=handoff.code)) == [("forbidden", "permission")]
    assert (await carts.get(cart.id)).channel == "web"  # none of that touched the cart

    typed = f"{handoff.code[:4].lower()} {handoff.code[4:]}"
    taken = await admin.mutate("paris", TAKE_OVER, channel="pos-paris-1", code=typed)
    assert taken["userErrors"] == []
    key_id = (await admin.data("paris", "{ staffMe { id } }"))["staffMe"]["id"]
    assert taken["cart"]["channel"] == "pos-paris-1"
    assert taken["cart"]["trail"][-1] == {"channel": "pos-paris-1", "action": "handed_off",
                                          "actor": f"staff:{key_id}"}
    # the code is single use
    again = await admin.mutate("paris", TAKE_OVER, channel="pos-paris-1", code=handoff.code)
    assert errors_of(again) == [("forbidden", "code")]

    # without a code, only with the customer's consent
    other = await carts.create("app")
    denied = await admin.mutate("paris", TAKE_OVER, channel="pos-paris-1", cartId=other.id)
    assert errors_of(denied) == [("forbidden", "code")]
    await carts.allow_handoff(other.id, version=other.version)
    allowed = await admin.mutate("paris", TAKE_OVER, channel="pos-paris-1", cartId=other.id)
    assert allowed["userErrors"] == [] and allowed["cart"]["channel"] == "pos-paris-1"

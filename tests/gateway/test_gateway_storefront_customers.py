"""The storefront API for customers over the real ASGI app, on SQLite and PostgreSQL:
sign-up, tokens, ``me``, consents, favourites, activity, carts attached on sign-in — and
the lines a customer token must not cross."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator

import pytest
from test_gateway_storefront_support import CART_FIELDS, PASSWORD, Storefront, open_storefront

from omnicore.errors import NotFound
from omnicore.testing import FakeClock


@pytest.fixture
async def shop(db_url: str, clock: FakeClock) -> AsyncIterator[Storefront]:
    async with open_storefront(db_url, clock) as storefront:
        yield storefront


SIGN_UP = """mutation($email: String!, $password: String!, $first: String) {
  customerCreate(email: $email, password: $password, firstName: $first) {
    customer { id email firstName } userErrors { field code message } } }"""
SIGN_IN = """mutation($email: String!, $password: String!) {
  customerAccessTokenCreate(email: $email, password: $password) {
    customerAccessToken { accessToken expiresAt } userErrors { field code message } } }"""
SIGN_OUT = """mutation($t: String!) { customerAccessTokenDelete(customerAccessToken: $t) {
  deletedAccessToken userErrors { code } } }"""
ME = """{ me { id email firstName consents { contactChannel granted source }
  favourites { sku title } orders { number } openCart { id } activity { kind sku query } } }"""
CONSENT = """mutation($contact: String!, $granted: Boolean!) {
  customerConsentUpdate(contactChannel: $contact, granted: $granted) {
    consents { contactChannel granted source } userErrors { field code message } } }"""
FAVOURITE_ADD = """mutation($sku: String!) { favouriteAdd(sku: $sku) {
  favourites { sku title } userErrors { field code message } } }"""
FAVOURITE_REMOVE = """mutation($sku: String!) { favouriteRemove(sku: $sku) {
  removed favourites { sku } userErrors { field code message } } }"""
ACTIVITY = """mutation($kind: String!, $sku: String, $query: String) {
  activityRecord(kind: $kind, sku: $sku, query: $query) {
    activity { kind channel sku query } userErrors { field code message } } }"""
ATTACH = "mutation($id: ID!, $v: Int!) { cartBuyerIdentityUpdate(cartId: $id, version: $v) { " \
         "cart { " + CART_FIELDS + " } userErrors { field code message } } }"
READ_CART = "query($id: ID!) { cart(id: $id) { id customerId lines { sku quantity } } }"


async def test_sign_up_then_sign_in(shop: Storefront, clock: FakeClock) -> None:
    created = await shop.mutate(SIGN_UP, "customerCreate", email="Ada@Example.com",
                                password=PASSWORD, first="Ada")
    assert created["customer"]["email"] == "ada@example.com"
    assert created["customer"]["firstName"] == "Ada"
    signed = await shop.mutate(SIGN_IN, "customerAccessTokenCreate", email="ada@example.com",
                               password=PASSWORD)
    token = signed["customerAccessToken"]
    assert token["accessToken"].startswith("oct_")
    assert dt.datetime.fromisoformat(token["expiresAt"]) == clock.now + dt.timedelta(days=30)
    me = (await shop.data(ME, token=token["accessToken"]))["me"]
    assert me["id"] == created["customer"]["id"] and me["email"] == "ada@example.com"
    assert me["orders"] == [] and me["openCart"] is None and me["favourites"] == []


async def test_sign_up_refusals_write_nothing(shop: Storefront) -> None:
    weak = (await shop.data(SIGN_UP, email="bob@example.com", password="short"))["customerCreate"]
    assert weak["customer"] is None
    assert [(e["field"], e["code"]) for e in weak["userErrors"]] == [("password", "invalid_input")]
    with pytest.raises(NotFound):
        await shop.commerce.customers.find("email", "bob@example.com")
    bad = (await shop.data(SIGN_UP, email="not an e-mail", password=PASSWORD))["customerCreate"]
    assert bad["userErrors"][0]["code"] == "invalid_input"
    await shop.sign_up("carol@example.com")
    again = (await shop.data(SIGN_UP, email="carol@example.com",
                             password=PASSWORD))["customerCreate"]
    assert again["userErrors"][0]["code"] == "conflict"


async def test_a_wrong_password_reads_the_same_whether_or_not_the_email_exists(
    shop: Storefront,
) -> None:
    await shop.sign_up("ada@example.com")
    answers = []
    for email, password in (("ada@example.com", "wrong password!"),
                            ("nobody@example.com", PASSWORD), ("", PASSWORD)):
        payload = (await shop.data(SIGN_IN, email=email,
                                   password=password))["customerAccessTokenCreate"]
        assert payload["customerAccessToken"] is None
        answers.append(payload["userErrors"])
    assert answers[0] == answers[1] == answers[2] == [
        {"field": "password", "code": "forbidden", "message": "wrong e-mail or password"}]


async def test_me_without_a_token_is_a_clear_error(shop: Storefront) -> None:
    body = await shop.gql("{ me { id email } }")
    assert body["data"]["me"] is None
    assert body["errors"][0]["extensions"] == {"code": "forbidden", "field": "authorization"}
    assert "sign in" in body["errors"][0]["message"]


async def test_expired_revoked_and_forged_tokens_are_refused(
    shop: Storefront, clock: FakeClock
) -> None:
    token = await shop.sign_up("ada@example.com")
    forged = await shop.post("{ me { id } }", token="oct_forged")
    assert forged.status_code == 401
    assert (await shop.post("{ me { id } }", token="not-even-a-token")).status_code == 401
    # signing out revokes the token: it no longer opens anything, not even public queries
    other = (await shop.mutate(SIGN_IN, "customerAccessTokenCreate", email="ada@example.com",
                               password=PASSWORD))["customerAccessToken"]["accessToken"]
    out = await shop.mutate(SIGN_OUT, "customerAccessTokenDelete", token=other, t=other)
    assert out["deletedAccessToken"] == other
    revoked = await shop.post("{ channel { code } }", token=other)
    assert revoked.status_code == 401 and "revoked" in revoked.text
    assert (await shop.post("{ me { id } }", token=token)).status_code == 200
    clock.advance(days=30, seconds=1)
    expired = await shop.post("{ me { id } }", token=token)
    assert expired.status_code == 401 and "expired" in expired.text


async def test_consents_are_recorded_with_the_channel_as_source(shop: Storefront) -> None:
    token = await shop.sign_up("ada@example.com")
    done = await shop.mutate(CONSENT, "customerConsentUpdate", token=token, contact="email",
                             granted=True)
    assert done["consents"] == [{"contactChannel": "email", "granted": True,
                                 "source": "storefront:web"}]
    done = await shop.mutate(CONSENT, "customerConsentUpdate", token=token, contact="sms",
                             granted=False)
    assert [(c["contactChannel"], c["granted"]) for c in done["consents"]] == [
        ("email", True), ("sms", False)]
    assert await shop.commerce.customers.may_contact(
        (await shop.data("{ me { id } }", token=token))["me"]["id"], "email")
    fax = (await shop.data(CONSENT, token=token, contact="fax",
                           granted=True))["customerConsentUpdate"]
    assert fax["userErrors"][0]["code"] == "invalid_input"
    anonymous = (await shop.data(CONSENT, contact="email", granted=True))["customerConsentUpdate"]
    assert anonymous["userErrors"] == [{"field": "authorization", "code": "forbidden",
                                        "message": "sign in first: send a customer token"}]


async def test_favourites_and_activity(shop: Storefront) -> None:
    token = await shop.sign_up("ada@example.com")
    added = await shop.mutate(FAVOURITE_ADD, "favouriteAdd", token=token, sku="TEE-M")
    assert added["favourites"] == [{"sku": "TEE-M", "title": "Classic tee"}]
    unknown = (await shop.data(FAVOURITE_ADD, token=token, sku="NOPE"))["favouriteAdd"]
    assert unknown["userErrors"][0]["code"] == "not_found"
    removed = await shop.mutate(FAVOURITE_REMOVE, "favouriteRemove", token=token, sku="TEE-M")
    assert removed["removed"] is True and removed["favourites"] == []
    again = await shop.mutate(FAVOURITE_REMOVE, "favouriteRemove", token=token, sku="TEE-M")
    assert again["removed"] is False
    viewed = await shop.mutate(ACTIVITY, "activityRecord", token=token, kind="product_viewed",
                               sku="TEE-L")
    assert viewed["activity"] == {"kind": "product_viewed", "channel": "web", "sku": "TEE-L",
                                  "query": None}
    await shop.mutate(ACTIVITY, "activityRecord", token=token, kind="search", query="tee")
    wrong = (await shop.data(ACTIVITY, token=token, kind="favourite_added",
                             sku="TEE-M"))["activityRecord"]
    assert wrong["userErrors"][0]["field"] == "kind"
    missing = (await shop.data(ACTIVITY, token=token, kind="search"))["activityRecord"]
    assert missing["userErrors"][0]["code"] == "invalid_input"
    anonymous = (await shop.data(ACTIVITY, kind="search", query="tee"))["activityRecord"]
    assert anonymous["userErrors"][0]["code"] == "forbidden"
    me = (await shop.data(ME, token=token))["me"]
    assert [(a["kind"], a["sku"], a["query"]) for a in me["activity"]][:2] == [
        ("search", None, "tee"), ("product_viewed", "TEE-L", None)]


async def test_signing_in_attaches_the_cart_and_merges_with_the_open_one(
    shop: Storefront,
) -> None:
    token = await shop.sign_up("ada@example.com")
    mine = await shop.new_cart([{"sku": "TEE-M", "quantity": 1}], token=token)
    ada = (await shop.data("{ me { id openCart { id } } }", token=token))["me"]
    assert mine["customerId"] == ada["id"] and ada["openCart"] == {"id": mine["id"]}
    # on another device, before signing in
    anonymous = await shop.new_cart([{"sku": "TEE-M", "quantity": 1},
                                     {"sku": "TEE-L", "quantity": 1}], channel="app")
    needs_token = (await shop.data(ATTACH, id=anonymous["id"],
                                   v=anonymous["version"]))["cartBuyerIdentityUpdate"]
    assert needs_token["userErrors"][0]["code"] == "forbidden"
    merged = (await shop.mutate(ATTACH, "cartBuyerIdentityUpdate", channel="app", token=token,
                                id=anonymous["id"], v=anonymous["version"]))["cart"]
    assert merged["id"] == mine["id"] and merged["customerId"] == ada["id"]
    assert sorted((li["sku"], li["quantity"]) for li in merged["lines"]) == [
        ("TEE-L", 1), ("TEE-M", 2)]
    # the anonymous id now leads to the customer's cart: only their token reaches it
    assert (await shop.gql(READ_CART, id=anonymous["id"]))["data"]["cart"] is None
    assert (await shop.data(READ_CART, token=token, id=anonymous["id"]))["cart"]["id"] == mine["id"]


async def test_a_cart_without_an_open_one_simply_becomes_the_customers(shop: Storefront) -> None:
    token = await shop.sign_up("ada@example.com")
    cart = await shop.new_cart([{"sku": "TEE-M", "quantity": 1}])
    done = (await shop.mutate(ATTACH, "cartBuyerIdentityUpdate", token=token, id=cart["id"],
                              v=cart["version"]))["cart"]
    assert done["id"] == cart["id"] and done["customerId"] is not None
    stale = (await shop.data(ATTACH, token=token, id=cart["id"],
                             v=cart["version"]))["cartBuyerIdentityUpdate"]
    assert stale["userErrors"][0]["code"] == "conflict"


async def test_a_customer_token_reaches_only_its_own_profile_and_carts(shop: Storefront) -> None:
    ada = await shop.sign_up("ada@example.com")
    bob = await shop.sign_up("bob@example.com")
    await shop.mutate(FAVOURITE_ADD, "favouriteAdd", token=ada, sku="TEE-M")
    cart = await shop.new_cart([{"sku": "TEE-M", "quantity": 1}], token=ada)
    bob_me = (await shop.data(ME, token=bob))["me"]
    assert bob_me["email"] == "bob@example.com"
    assert bob_me["favourites"] == [] and bob_me["openCart"] is None
    # Bob (or anyone without Ada's token) cannot read, change or take Ada's cart
    for token in (bob, None):
        body = await shop.gql(READ_CART, token=token, id=cart["id"])
        assert body["data"]["cart"] is None
        assert body["errors"][0]["extensions"]["code"] == "not_found"
        for query in (
            "mutation($id: ID!, $v: Int!) { cartLinesAdd(cartId: $id, version: $v, lines: "
            "[{sku: \"TEE-L\", quantity: 1}]) { cart { id } userErrors { code } } }",
            "mutation($id: ID!, $v: Int!) { cartHandoffCode(cartId: $id, version: $v) { code "
            "userErrors { code } } }",
        ):
            answer = await shop.data(query, token=token, id=cart["id"], v=cart["version"])
            payload = next(iter(answer.values()))
            assert payload["userErrors"] == [{"code": "not_found"}]
    stolen = (await shop.data(ATTACH, token=bob, id=cart["id"],
                              v=cart["version"]))["cartBuyerIdentityUpdate"]
    assert stolen["cart"] is None and stolen["userErrors"][0]["code"] == "not_found"
    assert (await shop.data(READ_CART, token=ada, id=cart["id"]))["cart"]["lines"] == [
        {"sku": "TEE-M", "quantity": 1}]
    # profile fields take no customer id: there is nothing to point at somebody else
    body = await shop.gql('{ me(id: "x") { id } }', token=bob)
    assert "errors" in body

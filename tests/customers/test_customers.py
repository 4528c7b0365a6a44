"""``commerce.customers``: profiles, identities, addresses, consents, activity, favourites."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import func, select

from omnicore import Commerce, Conflict, InvalidInput, NotFound
from omnicore.customers import ActivityKind, ContactChannel, CustomerStatus, IdentityKind
from omnicore.store.tables import (
    customer_activity,
    customer_addresses,
    customer_consents,
    customer_favourites,
    customer_identities,
    customers,
    outbox_events,
)
from omnicore.testing import FakeClock, paris_address, seed_minimal

CUSTOMER_TABLES = (customers, customer_identities, customer_addresses, customer_consents,
                   customer_activity, customer_favourites)


@pytest.fixture
async def shop(commerce: Commerce) -> Commerce:
    await seed_minimal(commerce)
    return commerce


async def events(commerce: Commerce, topic: str) -> list[dict[str, Any]]:
    async with commerce.db.read() as conn:
        rows = await conn.execute(select(outbox_events.c.payload)
                                  .where(outbox_events.c.topic == topic)
                                  .order_by(outbox_events.c.id))
        return [json.loads(payload) for payload in rows.scalars()]


async def counts(commerce: Commerce) -> dict[str, int]:
    async with commerce.db.read() as conn:
        found = {}
        for table in (*CUSTOMER_TABLES, outbox_events):
            query = select(func.count()).select_from(table)
            found[table.name] = int((await conn.execute(query)).scalar_one())
        return found


# -- profiles and identities -----------------------------------------------------------------


async def test_create_normalises_the_profile_and_every_kind_of_identity(shop: Commerce) -> None:
    customer = await shop.customers.create(
        email="  Jean.Dupont@Example.COM ", phone="06 12 34 56 78", first_name="  Jean ",
        last_name="Dupont", language="fr_fr", preferred_store="paris-1",
        attributes={"tier": "gold", "sizes": ["M"]},
        identities=[
            {"kind": "loyalty_card", "value": "ab12 3456-789"},
            {"kind": "external", "source": "Amazon", "value": "A2BUYER9", "verified": True},
            {"kind": "external", "source": "square", "value": "SQ-CUST-7"},
        ],
        source="pos",
    )
    assert customer.id.startswith("cus_") and len(customer.id) > 20
    assert customer.status is CustomerStatus.ACTIVE
    assert (customer.first_name, customer.last_name) == ("Jean", "Dupont")
    assert customer.language == "fr-FR"
    assert customer.preferred_store == "paris-1"
    assert customer.attributes == {"tier": "gold", "sizes": ["M"]}
    assert customer.email == "jean.dupont@example.com"
    assert customer.phone == "+33612345678"
    assert [(i.kind, i.source, i.value, i.verified) for i in customer.identities] == [
        (IdentityKind.EMAIL, "", "jean.dupont@example.com", False),
        (IdentityKind.PHONE, "", "+33612345678", False),
        (IdentityKind.LOYALTY_CARD, "", "AB123456789", False),
        (IdentityKind.EXTERNAL, "amazon", "A2BUYER9", True),
        (IdentityKind.EXTERNAL, "square", "SQ-CUST-7", False),
    ]
    assert await shop.customers.get(customer.id) == customer
    created = await events(shop, "customer.created")
    assert [(e["customer"]["id"], e["source"]) for e in created] == [(customer.id, "pos")]
    assert created[0]["customer"]["identities"][0]["value"] == "jean.dupont@example.com"


async def test_find_normalises_the_value_like_create(shop: Commerce) -> None:
    jean = await shop.customers.create(
        email="jean@example.com", phone="+33 6 12 34 56 78",
        identities=[{"kind": "external", "source": "amazon", "value": "A2BUYER9"},
                    {"kind": "loyalty_card", "value": "CARD-0042"}],
    )
    assert (await shop.customers.find("email", " JEAN@Example.com")).id == jean.id
    assert (await shop.customers.find(IdentityKind.PHONE, "06 12 34 56 78")).id == jean.id
    assert (await shop.customers.find("phone", "0033612345678")).id == jean.id
    assert (await shop.customers.find("external", "A2BUYER9", source="Amazon")).id == jean.id
    assert (await shop.customers.find("loyalty_card", "card 0042")).id == jean.id
    with pytest.raises(NotFound) as missing:
        await shop.customers.find("external", "A2BUYER9", source="square")
    assert missing.value.field == "external"
    with pytest.raises(NotFound) as nobody:
        await shop.customers.find("email", "nobody@example.com")
    assert nobody.value.field == "email"
    with pytest.raises(InvalidInput) as bad:
        await shop.customers.find("email", "not-an-address")
    assert bad.value.field == "email"
    with pytest.raises(InvalidInput) as kind:
        await shop.customers.find("fax", "0123")
    assert kind.value.field == "kind"


async def test_phone_numbers_use_the_configured_default_region(db_url: str) -> None:
    async with Commerce.open(db_url, dispatch=False, load_entry_points=False, auto_migrate=True,
                             config={"customers": {"default_region": "gb"}}) as commerce:
        assert commerce.customers.default_region == "GB"
        customer = await commerce.customers.create(phone="07400 123456")
        assert customer.phone == "+447400123456"
        with pytest.raises(InvalidInput) as french:  # a French national number is not British
            await commerce.customers.create(phone="06 12 34 56 78")
        assert french.value.field == "phone"
        # an international number is fine whatever the region
        assert (await commerce.customers.create(phone="+33 6 12 34 56 78")).phone == "+33612345678"
    with pytest.raises(InvalidInput) as region:
        await Commerce.open(db_url, dispatch=False, load_entry_points=False,
                            config={"customers": {"default_region": "Frankreich"}})
    assert region.value.field == "customers.default_region"
    with pytest.raises(InvalidInput) as misspelt:
        await Commerce.open(db_url, dispatch=False, load_entry_points=False,
                            config={"customers": {"default_regoin": "GB"}})
    assert misspelt.value.field == "customers.default_regoin"


async def test_an_identity_belongs_to_one_customer_only(shop: Commerce) -> None:
    jean = await shop.customers.create(email="jean@example.com", phone="0612345678")
    marie = await shop.customers.create(email="marie@example.com")
    before = await counts(shop)

    with pytest.raises(Conflict) as same_email:
        await shop.customers.create(email="JEAN@example.com", first_name="Other")
    assert same_email.value.field == "email"
    with pytest.raises(Conflict) as same_phone:
        await shop.customers.create(identities=[{"kind": "phone", "value": "+33612345678"}])
    assert same_phone.value.field == "identities[0]"
    with pytest.raises(Conflict) as taken:
        await shop.customers.add_identity(marie.id, "phone", "06 12 34 56 78")
    assert taken.value.field == "phone"
    assert await counts(shop) == before  # nothing half-written

    # the same value in another kind or another external system is another identity
    await shop.customers.add_identity(jean.id, "external", "42", source="amazon")
    await shop.customers.add_identity(marie.id, "external", "42", source="square")
    assert (await shop.customers.find("external", "42", source="square")).id == marie.id


async def test_add_verify_and_remove_identities(shop: Commerce) -> None:
    jean = await shop.customers.create(first_name="Jean")
    updated = await shop.customers.add_identity(jean.id, "phone", "06 12 34 56 78")
    assert updated.identity("phone") is not None
    assert updated.identity("phone").verified is False  # type: ignore[union-attr]
    added = await events(shop, "customer.identity_added")
    assert added == [{"customer_id": jean.id, "kind": "phone", "source": "",
                      "value": "+33612345678", "verified": False}]

    # adding it again changes nothing and emits nothing
    await shop.customers.add_identity(jean.id, "phone", "+33612345678")
    assert len(await events(shop, "customer.identity_added")) == 1

    verified = await shop.customers.verify_identity(jean.id, "phone", "0612345678")
    assert verified.identity("phone").verified is True  # type: ignore[union-attr]
    assert (await events(shop, "customer.updated"))[-1]["changed"] == ["identities"]

    removed = await shop.customers.remove_identity(jean.id, "phone", "+33 6 12 34 56 78")
    assert removed.identities == []
    with pytest.raises(NotFound):
        await shop.customers.find("phone", "0612345678")
    with pytest.raises(NotFound) as again:
        await shop.customers.remove_identity(jean.id, "phone", "0612345678")
    assert again.value.field == "phone"
    with pytest.raises(NotFound):
        await shop.customers.verify_identity(jean.id, "email", "jean@example.com")
    # a freed identity can go to someone else
    marie = await shop.customers.create(phone="0612345678")
    assert (await shop.customers.find("phone", "0612345678")).id == marie.id


async def test_update_changes_profile_fields_and_reports_them(shop: Commerce) -> None:
    jean = await shop.customers.create(first_name="Jean", attributes={"tier": "gold"})
    updated = await shop.customers.update(
        jean.id, first_name="Jean-Pierre", language="EN-gb", preferred_store="wh",
        attributes={"tier": "silver"},
    )
    assert updated.first_name == "Jean-Pierre"
    assert updated.language == "en-GB"
    assert updated.preferred_store == "wh"
    assert updated.attributes == {"tier": "silver"}
    assert updated.updated_at == shop.clock()
    last = (await events(shop, "customer.updated"))[-1]
    assert last["changed"] == ["first_name", "language", "preferred_store", "attributes"]
    assert last["customer"]["first_name"] == "Jean-Pierre"

    cleared = await shop.customers.update(jean.id, preferred_store=None, attributes=None)
    assert (cleared.preferred_store, cleared.attributes) == (None, {})
    # setting a value it already has emits nothing
    quiet = len(await events(shop, "customer.updated"))
    await shop.customers.update(jean.id, first_name="Jean-Pierre")
    assert len(await events(shop, "customer.updated")) == quiet


BAD_UPDATES: list[tuple[dict[str, Any], type[Exception], str]] = [
    ({"preferred_store": "nowhere"}, NotFound, "preferred_store"),
    ({"language": "not a tag"}, InvalidInput, "language"),
    ({"first_name": 42}, InvalidInput, "first_name"),
    ({"attributes": {"when": object()}}, InvalidInput, "attributes"),
    ({"email": "x@example.com"}, InvalidInput, "email"),
]


async def test_update_refuses_bad_fields(shop: Commerce) -> None:
    jean = await shop.customers.create(first_name="Jean", language="fr")
    for fields, error, field in BAD_UPDATES:
        with pytest.raises(error) as caught:
            await shop.customers.update(jean.id, **fields)
        assert caught.value.field == field, fields  # type: ignore[attr-defined]
    assert await shop.customers.get(jean.id) == jean
    assert await events(shop, "customer.updated") == []


BAD_CREATES: list[tuple[dict[str, Any], type[Exception], str]] = [
    ({"email": "jean@"}, InvalidInput, "email"),
    ({"email": "jean@example..com"}, InvalidInput, "email"),
    ({"phone": "12"}, InvalidInput, "phone"),
    ({"phone": "call me"}, InvalidInput, "phone"),
    ({"language": "français"}, InvalidInput, "language"),
    ({"preferred_store": "nowhere"}, NotFound, "preferred_store"),
    ({"identities": [{"kind": "fax", "value": "1"}]}, InvalidInput, "identities[0].kind"),
    ({"identities": [{"kind": "external", "value": "1"}]}, InvalidInput, "identities[0].source"),
    ({"identities": [{"kind": "email", "value": "@@"}]}, InvalidInput, "identities[0].value"),
    ({"identities": [{"kind": "email", "source": "x", "value": "a@example.com"}]}, InvalidInput,
     "identities[0].source"),
    ({"identities": [{"kind": "loyalty_card", "value": "#!"}]}, InvalidInput,
     "identities[0].value"),
    ({"identities": {"kind": "email"}}, InvalidInput, "identities"),
    ({"attributes": {"a": {1, 2}}}, InvalidInput, "attributes"),
    ({"attributes": ["tier", "gold"]}, InvalidInput, "attributes"),
    ({"source": ""}, InvalidInput, "source"),
]


async def test_create_refuses_bad_input_and_writes_nothing(shop: Commerce) -> None:
    before = await counts(shop)
    for kwargs, error, field in BAD_CREATES:
        with pytest.raises(error) as caught:
            await shop.customers.create(**{"email": "ok@example.com", **kwargs})
        assert caught.value.field == field, kwargs  # type: ignore[attr-defined]
    assert await counts(shop) == before


async def test_unknown_customers_are_not_found(shop: Commerce) -> None:
    for call in (
        shop.customers.get("cus_nope"),
        shop.customers.update("cus_nope", first_name="X"),
        shop.customers.add_identity("cus_nope", "email", "x@example.com"),
        shop.customers.set_consent("cus_nope", "email", True, source="web"),
        shop.customers.record_activity("cus_nope", "search", channel="web", query="tee"),
        shop.customers.view("cus_nope"),
    ):
        with pytest.raises(NotFound) as missing:
            await call
        assert missing.value.field == "customer_id"


async def test_find_or_create_by_identity_finds_on_the_second_import(shop: Commerce) -> None:
    first = await shop.customers.find_or_create_by_identity(
        "external", "A2BUYER9", source="amazon", first_name="Jean", email="jean@example.com"
    )
    assert first.identity("external", "amazon").value == "A2BUYER9"  # type: ignore[union-attr]
    assert first.email == "jean@example.com" and first.first_name == "Jean"
    again = await shop.customers.find_or_create_by_identity(
        "external", "A2BUYER9", source="amazon", first_name="Someone else"
    )
    assert again == first  # found, not changed
    assert (await counts(shop))["customers"] == 1
    assert [e["source"] for e in await events(shop, "customer.created")] == ["amazon"]
    with pytest.raises(InvalidInput) as unknown:
        await shop.customers.find_or_create_by_identity("email", "x@example.com", nickname="X")
    assert unknown.value.field == "nickname"


# -- addresses --------------------------------------------------------------------------------


async def test_the_address_book_keeps_one_default(shop: Commerce) -> None:
    jean = await shop.customers.create(first_name="Jean")
    home = await shop.customers.add_address(jean.id, paris_address(), label="home")
    assert home.default is True  # the first address becomes the default
    work = await shop.customers.add_address(jean.id, paris_address("8 rue de la Paix", "75002"),
                                            label="work")
    assert work.default is False
    other = await shop.customers.add_address(
        jean.id, {"line1": "2 quai Saint-Antoine", "city": "Lyon", "postal_code": "69002",
                  "country": "FR"}, default=True)
    book = await shop.customers.addresses(jean.id)
    assert [(a.id, a.default) for a in book] == [(other.id, True), (home.id, False),
                                                 (work.id, False)]
    assert book[0].address.city == "Lyon"

    await shop.customers.remove_address(jean.id, other.id)
    book = await shop.customers.addresses(jean.id)
    assert [(a.label, a.default) for a in book] == [("home", True), ("work", False)]
    with pytest.raises(NotFound) as missing:
        await shop.customers.remove_address(jean.id, other.id)
    assert missing.value.field == "address_id"
    with pytest.raises(InvalidInput) as bad:
        await shop.customers.add_address(jean.id, {**paris_address(), "country": "France"})
    assert bad.value.field == "address.country"
    assert len(await shop.customers.addresses(jean.id)) == 2


# -- consents ---------------------------------------------------------------------------------


async def test_nothing_may_be_sent_without_a_current_consent(
    shop: Commerce, clock: FakeClock
) -> None:
    jean = await shop.customers.create(email="jean@example.com")
    for channel in ContactChannel:
        assert await shop.customers.may_contact(jean.id, channel) is False

    granted = await shop.customers.set_consent(jean.id, "email", True, source="web-signup")
    assert granted.recorded_at == clock.now
    assert await shop.customers.may_contact(jean.id, "email") is True
    assert await shop.customers.may_contact(jean.id, "sms") is False
    clock.advance(3600)
    await shop.customers.set_consent(jean.id, "email", False, source="unsubscribe-link")
    await shop.customers.set_consent(jean.id, "push", True, source="app")
    assert await shop.customers.may_contact(jean.id, "email") is False
    assert await shop.customers.may_contact(jean.id, "push") is True

    consents = await shop.customers.consents(jean.id)
    assert set(consents.current) == {ContactChannel.EMAIL, ContactChannel.PUSH}
    email = consents.current[ContactChannel.EMAIL]
    assert (email.granted, email.source, email.recorded_at) == (False, "unsubscribe-link",
                                                               clock.now)
    assert [(d.contact_channel.value, d.granted, d.source) for d in consents.history] == [
        ("email", True, "web-signup"), ("email", False, "unsubscribe-link"),
        ("push", True, "app"),
    ]
    changed = await events(shop, "consent.changed")
    assert [(e["contact_channel"], e["granted"], e["previous"]) for e in changed] == [
        ("email", True, None), ("email", False, True), ("push", True, None),
    ]
    assert changed[0]["customer_id"] == jean.id and changed[0]["source"] == "web-signup"


async def test_bad_consents_are_refused(shop: Commerce) -> None:
    jean = await shop.customers.create(email="jean@example.com")
    cases: list[tuple[tuple[Any, ...], str, str]] = [
        (("fax", True), "web", "contact_channel"),
        (("email", "yes"), "web", "granted"),
        (("email", True), " ", "source"),
    ]
    for args, source, field in cases:
        with pytest.raises(InvalidInput) as caught:
            await shop.customers.set_consent(jean.id, *args, source=source)
        assert caught.value.field == field, args
    assert (await shop.customers.consents(jean.id)).history == []
    assert await events(shop, "consent.changed") == []
    with pytest.raises(InvalidInput) as unknown:
        await shop.customers.may_contact(jean.id, "pigeon")
    assert unknown.value.field == "contact_channel"


# -- activity and favourites ------------------------------------------------------------------


async def test_activity_is_recorded_per_channel(shop: Commerce, clock: FakeClock) -> None:
    jean = await shop.customers.create(email="jean@example.com")
    viewed = await shop.customers.record_activity(jean.id, "product_viewed", channel="web",
                                                  sku="TEE-M", data={"referrer": "newsletter"})
    assert (viewed.kind, viewed.sku, viewed.channel) == (ActivityKind.PRODUCT_VIEWED, "TEE-M",
                                                         "web")
    clock.advance(60)
    await shop.customers.record_activity(jean.id, "search", channel="web", query=" red tee ",
                                         category="tops")
    clock.advance(60)
    await shop.customers.record_activity(jean.id, ActivityKind.STORE_VISIT, channel="web",
                                         location="paris-1")
    clock.advance(60)
    await shop.customers.record_activity(jean.id, "cart_event", channel="web",
                                         data={"cart_id": "crt_1", "action": "line_added"})
    found = await shop.customers.activity(jean.id)
    assert [a.kind.value for a in found] == ["cart_event", "store_visit", "search",
                                             "product_viewed"]
    assert found[0].data == {"cart_id": "crt_1", "action": "line_added"}
    assert found[1].location == "paris-1"
    assert (found[2].query, found[2].category, found[2].data) == ("red tee", "tops", {})
    assert found[3].data == {"referrer": "newsletter"}
    assert found[3].occurred_at == viewed.occurred_at
    searches = await shop.customers.activity(jean.id, kind="search")
    assert [a.query for a in searches] == ["red tee"]
    assert len(await shop.customers.activity(jean.id, limit=2)) == 2
    with pytest.raises(InvalidInput) as kind:
        await shop.customers.activity(jean.id, kind="clicked")
    assert kind.value.field == "kind"
    with pytest.raises(InvalidInput) as limit:
        await shop.customers.activity(jean.id, limit=0)
    assert limit.value.field == "limit"


BAD_ACTIVITY: list[tuple[str, dict[str, Any], type[Exception], str]] = [
    ("clicked", {"channel": "web"}, InvalidInput, "kind"),
    ("search", {"channel": "nowhere", "query": "tee"}, NotFound, "channel"),
    ("product_viewed", {"channel": "web", "sku": "NOPE"}, NotFound, "sku"),
    ("product_viewed", {"channel": "web"}, InvalidInput, "sku"),
    ("search", {"channel": "web"}, InvalidInput, "query"),
    ("store_visit", {"channel": "web"}, InvalidInput, "location"),
    ("store_visit", {"channel": "web", "location": "atlantis"}, NotFound, "location"),
    ("cart_event", {"channel": "web", "data": ["not", "a", "mapping"]}, InvalidInput, "data"),
]


async def test_bad_activity_is_refused_and_not_recorded(shop: Commerce) -> None:
    jean = await shop.customers.create(email="jean@example.com")
    for kind, kwargs, error, field in BAD_ACTIVITY:
        with pytest.raises(error) as caught:
            await shop.customers.record_activity(jean.id, kind, **kwargs)
        assert caught.value.field == field, (kind, kwargs)  # type: ignore[attr-defined]
    assert await shop.customers.activity(jean.id) == []


async def test_favourites_are_a_set_and_leave_a_trail(shop: Commerce, clock: FakeClock) -> None:
    jean = await shop.customers.create(email="jean@example.com")
    first = await shop.customers.add_favourite(jean.id, "TEE-M", channel="web")
    assert (first.sku, first.title, first.added_at) == ("TEE-M", "Classic tee", clock.now)
    clock.advance(60)
    again = await shop.customers.add_favourite(jean.id, "TEE-M", channel="web")
    assert again == first  # once only, added_at unchanged
    await shop.customers.add_favourite(jean.id, "TEE-L", channel="web")
    assert [f.sku for f in await shop.customers.favourites(jean.id)] == ["TEE-L", "TEE-M"]

    assert await shop.customers.remove_favourite(jean.id, "TEE-M", channel="web") is True
    assert await shop.customers.remove_favourite(jean.id, "TEE-M", channel="web") is False
    assert [f.sku for f in await shop.customers.favourites(jean.id)] == ["TEE-L"]
    trail = [(a.kind.value, a.sku) for a in await shop.customers.activity(jean.id)]
    assert trail == [("favourite_removed", "TEE-M"), ("favourite_added", "TEE-L"),
                     ("favourite_added", "TEE-M")]

    with pytest.raises(NotFound) as sku:
        await shop.customers.add_favourite(jean.id, "NOPE", channel="web")
    assert sku.value.field == "sku"
    with pytest.raises(NotFound) as channel:
        await shop.customers.add_favourite(jean.id, "TEE-M", channel="nowhere")
    assert channel.value.field == "channel"
    assert [f.sku for f in await shop.customers.favourites(jean.id)] == ["TEE-L"]
    assert len(await shop.customers.activity(jean.id)) == 3

"""Privacy requests: ``export`` returns everything held, ``erase`` leaves nothing personal."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import insert, select

from omnicore import Commerce, InvalidInput, NotFound
from omnicore.customers import Customer
from omnicore.store.tables import (
    cart_lines,
    carts,
    customer_activity,
    customer_addresses,
    customer_consents,
    customer_favourites,
    customer_identities,
    customer_merges,
    customers,
    outbox_events,
)
from omnicore.store.uow import Tx
from omnicore.testing import FakeClock, seed_minimal

CUSTOMER_TABLES = (customers, customer_identities, customer_addresses, customer_consents,
                   customer_activity, customer_favourites, customer_merges)

#: Every piece of personal data the scenario stores, as it could appear in a row.
SECRETS = ("gwen.kerbrat@example.com", "Gwendoline", "Kerbrat", "+33612345678", "612345678",
           "CARD4242", "SQ-SECRET-77", "12 rue Secrete", "cadeau pour Maelys",
           "ysolde@example.org", "Ysolde", "Quillivic", "shoe_size", "birthday")


@pytest.fixture
async def shop(commerce: Commerce) -> Commerce:
    await seed_minimal(commerce)
    return commerce


async def person(shop: Commerce, clock: FakeClock) -> tuple[Customer, Customer]:
    """Gwendoline, with a duplicate profile (Ysolde's POS account) merged into her."""
    gwen = await shop.customers.create(
        email="Gwen.Kerbrat@example.com", phone="06 12 34 56 78", first_name="Gwendoline",
        last_name="Kerbrat", language="br", preferred_store="paris-1",
        attributes={"birthday": "1990-05-04"},
        identities=[{"kind": "loyalty_card", "value": "CARD4242"}],
    )
    pos = await shop.customers.create(
        email="ysolde@example.org", first_name="Ysolde", last_name="Quillivic",
        attributes={"shoe_size": "38"},
        identities=[{"kind": "external", "source": "square", "value": "SQ-SECRET-77"}],
    )
    await shop.customers.add_address(gwen.id, {"line1": "12 rue Secrete", "city": "Brest",
                                               "postal_code": "29200", "country": "FR"})
    await shop.customers.set_consent(gwen.id, "email", True, source="web-signup")
    clock.advance(60)
    await shop.customers.set_consent(gwen.id, "email", False, source="unsubscribe-link")
    await shop.customers.set_consent(pos.id, "sms", True, source="pos")
    await shop.customers.record_activity(gwen.id, "search", channel="web",
                                         query="cadeau pour Maelys")
    await shop.customers.record_activity(gwen.id, "product_viewed", channel="web", sku="TEE-M")
    await shop.customers.add_favourite(pos.id, "TEE-L", channel="web")
    now = shop.clock()
    async with shop.db.transaction() as conn:
        await conn.execute(insert(carts).values(
            id="cart-gwen", channel_code="web", currency="EUR", customer_id=pos.id,
            status="open", version=3, attributes={}, discount_codes=["WELCOME"],
            handoff_consent=False, created_at=now, updated_at=now,
        ))
        await conn.execute(insert(cart_lines).values(
            id="line-1", cart_id="cart-gwen", sku="TEE-M", quantity=2, fulfilment="pickup",
            pickup_location="paris-1", position=0, added_at=now,
        ))
    await shop.customers.merge(gwen.id, pos.id, actor="staff:ana")
    return gwen, pos


async def test_export_holds_everything(shop: Commerce, clock: FakeClock) -> None:
    gwen, pos = await person(shop, clock)

    async def orders(tx: Tx, customer_id: str) -> list[dict[str, str]]:
        return [{"id": "ord-1", "customer": customer_id}]

    shop.customers.export_sections["orders"] = orders
    data = await shop.customers.export(pos.id)  # via the merged id: the same person
    text = json.dumps(data)  # JSON-ready as it is
    for secret in SECRETS:
        assert secret.lower() in text.lower(), secret

    assert data["customer"]["id"] == gwen.id
    assert data["customer"]["first_name"] == "Gwendoline"
    assert {(i["kind"], i["value"]) for i in data["customer"]["identities"]} == {
        ("email", "gwen.kerbrat@example.com"), ("phone", "+33612345678"),
        ("loyalty_card", "CARD4242"), ("email", "ysolde@example.org"),
        ("external", "SQ-SECRET-77"),
    }
    assert data["consents"]["current"]["email"]["granted"] is False
    assert data["consents"]["current"]["sms"]["source"] == "pos"
    assert [d["source"] for d in data["consents"]["history"]] == [
        "web-signup", "unsubscribe-link", "pos"]
    assert data["addresses"][0]["address"]["line1"] == "12 rue Secrete"
    assert sorted(a["kind"] for a in data["activity"]) == [
        "favourite_added", "product_viewed", "search"]
    assert [f["sku"] for f in data["favourites"]] == ["TEE-L"]
    assert data["carts"] == [{
        "id": "cart-gwen", "channel_code": "web", "currency": "EUR", "status": "open",
        "merged_into": None, "version": 3, "note": None, "attributes": {},
        "discount_codes": ["WELCOME"], "delivery": None, "handoff_consent": False,
        "created_at": clock.now.isoformat(), "updated_at": clock.now.isoformat(),
        "abandoned_at": None,
        "lines": [{"id": "line-1", "sku": "TEE-M", "quantity": 2, "fulfilment": "pickup",
                   "pickup_location": "paris-1", "position": 0,
                   "added_at": clock.now.isoformat()}],
    }]
    assert [(p["id"], p["first_name"], p["merged_into"]) for p in data["merged_profiles"]] == [
        (pos.id, "Ysolde", gwen.id)]
    assert [(m["survivor_id"], m["merged_id"], m["actor"]) for m in data["merges"]] == [
        (gwen.id, pos.id, "staff:ana")]
    assert data["orders"] == [{"id": "ord-1", "customer": gwen.id}]
    assert data["exported_at"] == clock.now.isoformat()


async def everything_stored(shop: Commerce) -> str:
    async with shop.db.read() as conn:
        dumped: list[str] = []
        for table in (*CUSTOMER_TABLES, outbox_events):
            dumped.extend(repr(tuple(row)) for row in await conn.execute(select(table)))
    return "\n".join(dumped).lower()


async def test_erase_leaves_nothing_personal(shop: Commerce, clock: FakeClock) -> None:
    gwen, pos = await person(shop, clock)
    before = await everything_stored(shop)
    assert all(secret.lower() in before for secret in SECRETS)
    called: list[str] = []

    async def forget_orders(tx: Tx, customer_id: str) -> dict[str, int]:
        called.append(customer_id)
        return {"orders_anonymised": 0}

    shop.customers.erase_steps.append(forget_orders)
    clock.advance(60)
    erasure = await shop.customers.erase(gwen.id, actor="privacy:req-42")

    assert called == [gwen.id]
    assert erasure.customer_id == gwen.id
    assert erasure.customer_ids == [gwen.id, pos.id]
    assert erasure.removed == {"identities": 5, "addresses": 1, "consents": 3, "activity": 3,
                               "favourites": 1, "carts_detached": 1, "orders_anonymised": 0,
                               "events_redacted": 3}
    assert erasure.steps == {"forget_orders": {"orders_anonymised": 0}}

    stored = await everything_stored(shop)
    leaks = [secret for secret in SECRETS if secret.lower() in stored]
    assert leaks == []

    for customer_id in (gwen.id, pos.id):
        with pytest.raises(NotFound):
            await shop.customers.get(customer_id)
    with pytest.raises(NotFound):
        await shop.customers.find("email", "gwen.kerbrat@example.com")
    async with shop.db.read() as conn:
        rows = {r.id: r for r in await conn.execute(select(customers))}
        cart = (await conn.execute(select(carts))).one()
        lines = (await conn.execute(select(cart_lines))).all()
        erased = [json.loads(p) for p in (await conn.execute(
            select(outbox_events.c.payload).where(outbox_events.c.topic == "customer.erased")
        )).scalars()]
    assert {rows[gwen.id].status, rows[pos.id].status} == {"erased"}
    assert rows[gwen.id].first_name is None and rows[gwen.id].language is None
    # what remains: an anonymous erasure note, consent decisions as counts
    assert rows[gwen.id].attributes == {"erasure": {
        "at": clock.now.isoformat(), "actor": "privacy:req-42", "removed": erasure.removed,
        "consent_decisions": {"email": {"granted": 1, "withdrawn": 1}, "sms": {"granted": 1}},
    }}
    assert rows[pos.id].attributes == {}
    assert cart.customer_id is None and len(lines) == 1  # the cart stays, detached
    assert erased == [{"customer_id": gwen.id, "customer_ids": [gwen.id, pos.id],
                       "actor": "privacy:req-42", "removed": erasure.removed}]

    # the e-mail address is free again: a new sign-up is a new customer
    again = await shop.customers.create(email="gwen.kerbrat@example.com")
    assert again.id not in (gwen.id, pos.id)
    with pytest.raises(NotFound):
        await shop.customers.erase(gwen.id, actor="privacy:req-42")


async def test_a_refused_erasure_changes_nothing(shop: Commerce, clock: FakeClock) -> None:
    gwen, _ = await person(shop, clock)
    before = await everything_stored(shop)

    async def broken(tx: Tx, customer_id: str) -> dict[str, Any]:
        raise RuntimeError("orders are unreachable")

    with pytest.raises(InvalidInput) as no_actor:
        await shop.customers.erase(gwen.id, actor="")
    assert no_actor.value.field == "actor"
    shop.customers.erase_steps.append(broken)
    with pytest.raises(RuntimeError):
        await shop.customers.erase(gwen.id, actor="privacy:req-42")
    assert await everything_stored(shop) == before
    assert (await shop.customers.get(gwen.id)).first_name == "Gwendoline"

"""Merging duplicate customers: everything moves, in one transaction, with an audit."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from sqlalchemy import func, insert, select

from omnicore import Commerce, Conflict, InvalidInput, NotFound
from omnicore.customers import Customer, CustomerStatus
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
    promotion_redemptions,
)
from omnicore.store.uow import Tx
from omnicore.testing import FakeClock, paris_address, seed_minimal


@pytest.fixture
async def shop(commerce: Commerce) -> Commerce:
    await seed_minimal(commerce)
    return commerce


async def add_cart(commerce: Commerce, cart_id: str, customer_id: str | None,
                   skus: list[str], *, status: str = "open") -> None:
    """A cart row as the carts service writes it (that service is built separately)."""
    now = commerce.clock()
    async with commerce.db.transaction() as conn:
        await conn.execute(insert(carts).values(
            id=cart_id, channel_code="web", currency="EUR", customer_id=customer_id,
            status=status, version=1, attributes={}, discount_codes=[], handoff_consent=False,
            created_at=now, updated_at=now,
        ))
        for position, sku in enumerate(skus):
            await conn.execute(insert(cart_lines).values(
                id=f"{cart_id}-{position}", cart_id=cart_id, sku=sku, quantity=position + 1,
                fulfilment="ship", position=position, added_at=now,
            ))


async def rows_of(commerce: Commerce, table: Any, customer_id: str) -> int:
    async with commerce.db.read() as conn:
        query = select(func.count()).select_from(table).where(table.c.customer_id == customer_id)
        return int((await conn.execute(query)).scalar_one())


async def events(commerce: Commerce, topic: str) -> list[dict[str, Any]]:
    async with commerce.db.read() as conn:
        rows = await conn.execute(select(outbox_events.c.payload)
                                  .where(outbox_events.c.topic == topic))
        return [json.loads(p) for p in rows.scalars()]


async def two_profiles(shop: Commerce, clock: FakeClock) -> tuple[Customer, Customer]:
    """Anne signed up on the web; 'A. Martin' was created at the till and by Square."""
    anne = await shop.customers.create(email="anne@example.com", first_name="Anne",
                                       attributes={"tier": "gold"})
    till = await shop.customers.create(
        phone="06 12 34 56 78", first_name="A.", last_name="Martin", language="fr",
        preferred_store="paris-1", attributes={"tier": "silver", "shoe_size": "38"},
        identities=[{"kind": "external", "source": "square", "value": "SQ-77"},
                    {"kind": "loyalty_card", "value": "CARD-9"}],
    )
    await shop.customers.add_address(anne.id, paris_address(), label="home")
    await shop.customers.add_address(till.id, paris_address("8 rue de la Paix", "75002"),
                                     label="office")
    await shop.customers.set_consent(anne.id, "email", True, source="web-signup")
    await shop.customers.add_favourite(till.id, "TEE-M", channel="web")  # the earlier one
    clock.advance(60)
    await shop.customers.add_favourite(anne.id, "TEE-M", channel="web")
    await shop.customers.add_favourite(till.id, "TEE-L", channel="web")
    await shop.customers.set_consent(till.id, "email", False, source="pos")  # later: wins
    await shop.customers.set_consent(till.id, "sms", True, source="pos")
    await shop.customers.record_activity(till.id, "store_visit", channel="web",
                                         location="paris-1")
    await add_cart(shop, "cart-web", anne.id, ["TEE-M"])
    await add_cart(shop, "cart-till", till.id, ["TEE-M", "TEE-L"])
    async with shop.db.transaction() as conn:
        await conn.execute(insert(promotion_redemptions).values(
            promotion_id="promo_1", customer_id=till.id, order_ref="ord-1",
            redeemed_at=clock.now))
    return anne, till


async def test_merge_moves_everything_to_the_survivor(shop: Commerce, clock: FakeClock) -> None:
    anne, till = await two_profiles(shop, clock)
    seen: list[tuple[str, str, int]] = []

    async def move_orders(tx: Tx, survivor_id: str, merged_id: str) -> dict[str, Any]:
        # runs inside the merge's transaction: the merged customer's identities already moved
        moved = await tx.conn.execute(select(func.count()).select_from(customer_identities)
                                      .where(customer_identities.c.customer_id == survivor_id))
        seen.append((survivor_id, merged_id, int(moved.scalar_one())))
        return {"moved": 2}

    shop.customers.merge_steps.append(move_orders)
    clock.advance(60)
    merge = await shop.customers.merge(anne.id, till.id, actor="staff:ana")

    assert seen == [(anne.id, till.id, 4)]
    assert (merge.survivor_id, merge.merged_id, merge.actor) == (anne.id, till.id, "staff:ana")
    assert merge.summary == {
        "identities": {"moved": 3, "kinds": ["external:square", "loyalty_card", "phone"]},
        "consents": {"moved": 2, "current_from": {"email": "merged", "sms": "merged"}},
        "addresses": {"moved": 1},
        "activity": {"moved": 3},
        "favourites": {"moved": 1, "already_favourite": 1},
        "carts": {"moved": 1},
        "orders": {"moved": 0},
        "promotion_redemptions": {"moved": 1},
        "profile": {"filled": ["language", "last_name", "preferred_store"],
                    "attributes_added": 1},
        "steps": {"move_orders": {"moved": 2}},
    }

    survivor = await shop.customers.get(anne.id)
    # the survivor's non-empty values win, the merged profile fills the gaps
    assert (survivor.first_name, survivor.last_name) == ("Anne", "Martin")
    assert (survivor.language, survivor.preferred_store) == ("fr", "paris-1")
    assert survivor.attributes == {"tier": "gold", "shoe_size": "38"}
    assert survivor.updated_at == clock.now
    assert {(i.kind.value, i.value) for i in survivor.identities} == {
        ("email", "anne@example.com"), ("phone", "+33612345678"), ("external", "SQ-77"),
        ("loyalty_card", "CARD9"),
    }
    # consents: the most recent decision per channel is current; both histories are kept
    consents = await shop.customers.consents(anne.id)
    assert await shop.customers.may_contact(anne.id, "email") is False
    assert await shop.customers.may_contact(anne.id, "sms") is True
    assert [(d.contact_channel.value, d.source) for d in consents.history] == [
        ("email", "web-signup"), ("email", "pos"), ("sms", "pos")]
    # addresses: both, the survivor's default stays the only default
    book = await shop.customers.addresses(anne.id)
    assert [(a.label, a.default) for a in book] == [("home", True), ("office", False)]
    # favourites: the union, the earlier added_at kept
    favourites = {f.sku: f.added_at for f in await shop.customers.favourites(anne.id)}
    assert favourites == {"TEE-M": clock.now - dt.timedelta(seconds=120),
                          "TEE-L": clock.now - dt.timedelta(seconds=60)}
    kinds = [a.kind.value for a in await shop.customers.activity(anne.id)]
    assert sorted(kinds) == ["favourite_added"] * 3 + ["store_visit"]
    async with shop.db.read() as conn:
        owners = dict((await conn.execute(select(carts.c.id, carts.c.customer_id))).all())
        merged_row = (await conn.execute(select(customers)
                                         .where(customers.c.id == till.id))).one()
        audit = (await conn.execute(select(customer_merges))).one()
        redemption = (await conn.execute(select(promotion_redemptions.c.customer_id))).scalar()
    assert owners == {"cart-web": anne.id, "cart-till": anne.id}
    assert redemption == anne.id
    assert (merged_row.status, merged_row.merged_into) == ("merged", anne.id)
    assert merged_row.last_name == "Martin"  # the merged profile is kept for the record
    assert (audit.survivor_id, audit.merged_id, audit.actor) == (anne.id, till.id, "staff:ana")
    assert audit.summary == merge.summary and audit.merged_at == clock.now
    for table in (customer_identities, customer_addresses, customer_consents,
                  customer_activity, customer_favourites):
        assert await rows_of(shop, table, till.id) == 0, table.name
    assert await events(shop, "customer.merged") == [{
        "survivor_id": anne.id, "merged_id": till.id, "actor": "staff:ana",
        "summary": merge.summary,
    }]
    assert await shop.customers.merges(till.id) == [merge]


async def test_the_merged_id_resolves_to_the_survivor_through_chains(
    shop: Commerce, clock: FakeClock
) -> None:
    anne, till = await two_profiles(shop, clock)
    await shop.customers.merge(anne.id, till.id, actor="staff:ana")
    assert (await shop.customers.get(till.id)).id == anne.id
    assert (await shop.customers.find("phone", "0612345678")).id == anne.id
    assert (await shop.customers.find("external", "SQ-77", source="square")).id == anne.id
    assert (await shop.customers.view(till.id)).customer.id == anne.id

    # acting through the old id (a stale session on the app) acts on the survivor
    await shop.customers.add_identity(till.id, "email", "a.martin@example.com")
    await shop.customers.record_activity(till.id, "search", channel="web", query="tee")
    assert (await shop.customers.find("email", "a.martin@example.com")).id == anne.id
    assert await rows_of(shop, customer_identities, till.id) == 0

    # a chain: Anne herself is merged into a newer profile later
    newest = await shop.customers.create(email="anne.martin@example.com")
    second = await shop.customers.merge(newest.id, anne.id, actor="dedup-job")
    assert (await shop.customers.get(till.id)).id == newest.id
    assert (await shop.customers.find("loyalty_card", "CARD-9")).id == newest.id
    assert second.summary["identities"]["moved"] == 5
    assert [m.merged_id for m in await shop.customers.merges(newest.id)] == [till.id, anne.id]


async def test_merge_refuses_impossible_merges(shop: Commerce, clock: FakeClock) -> None:
    anne, till = await two_profiles(shop, clock)
    other = await shop.customers.create(email="other@example.com")
    gone = await shop.customers.create(email="gone@example.com")
    await shop.customers.erase(gone.id, actor="privacy")
    with pytest.raises(InvalidInput) as itself:
        await shop.customers.merge(anne.id, anne.id, actor="staff:ana")
    assert itself.value.field == "merged_id"
    with pytest.raises(InvalidInput) as no_actor:
        await shop.customers.merge(anne.id, till.id, actor=" ")
    assert no_actor.value.field == "actor"
    with pytest.raises(NotFound) as unknown:
        await shop.customers.merge(anne.id, "cus_nope", actor="staff:ana")
    assert unknown.value.field == "merged_id"
    with pytest.raises(Conflict) as erased:
        await shop.customers.merge(anne.id, gone.id, actor="staff:ana")
    assert erased.value.field == "merged_id"

    await shop.customers.merge(anne.id, till.id, actor="staff:ana")
    with pytest.raises(Conflict) as twice:
        await shop.customers.merge(anne.id, till.id, actor="staff:ana")
    assert twice.value.field == "merged_id"
    with pytest.raises(Conflict) as from_merged:
        await shop.customers.merge(till.id, other.id, actor="staff:ana")
    assert from_merged.value.field == "survivor_id"
    assert len(await shop.customers.merges(anne.id)) == 1
    assert (await shop.customers.get(other.id)).status is CustomerStatus.ACTIVE


async def test_a_failing_merge_step_rolls_everything_back(
    shop: Commerce, clock: FakeClock
) -> None:
    anne, till = await two_profiles(shop, clock)

    async def broken(tx: Tx, survivor_id: str, merged_id: str) -> dict[str, Any]:
        raise RuntimeError("the orders table is on fire")

    shop.customers.merge_steps.append(broken)
    with pytest.raises(RuntimeError):
        await shop.customers.merge(anne.id, till.id, actor="staff:ana")
    assert await shop.customers.get(till.id) == till
    assert (await shop.customers.get(anne.id)).last_name is None
    assert await rows_of(shop, customer_identities, till.id) == 3
    assert await rows_of(shop, customer_favourites, till.id) == 2
    assert await rows_of(shop, carts, till.id) == 1
    assert await shop.customers.merges(anne.id) == []
    assert await events(shop, "customer.merged") == []


async def test_the_survivors_later_consent_wins(shop: Commerce, clock: FakeClock) -> None:
    web = await shop.customers.create(email="jo@example.com")
    app = await shop.customers.create(phone="0611111111")
    await shop.customers.set_consent(app.id, "email", False, source="app")
    await shop.customers.set_consent(app.id, "push", True, source="app")
    clock.advance(60)
    await shop.customers.set_consent(web.id, "email", True, source="newsletter-form")
    merge = await shop.customers.merge(web.id, app.id, actor="staff:ana")
    assert merge.summary["consents"]["current_from"] == {"email": "survivor", "push": "merged"}
    current = (await shop.customers.consents(web.id)).current
    assert {c.value: d.granted for c, d in current.items()} == {"email": True, "push": True}
    assert current["email"].source == "newsletter-form"  # type: ignore[index]

"""Admin API: stock levels, ledger, receipts, adjustments, counts, transfers — within scope."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from test_gateway_admin import Admin, errors_of, open_admin

from omnicore.auth import Permission
from omnicore.testing import FakeClock


@pytest.fixture
async def admin(db_url: str, clock: FakeClock) -> AsyncIterator[Admin]:
    async with open_admin(db_url, clock) as world:
        yield world


LEVELS = """query($sku: String!, $locations: [String!]) { stockLevels(sku: $sku,
  locations: $locations) { location onHand safetyStock reserved available } }"""
LEVEL = "level { location onHand safetyStock available }"
RECEIVE = f"""mutation($location: String!, $quantity: Int!, $externalId: String) {{
  stockReceive(sku: "TEE-M", location: $location, quantity: $quantity, externalId: $externalId,
  note: "delivery 42") {{ {LEVEL} userErrors {{ field code message }} }} }}"""
ADJUST = f"""mutation($location: String!, $delta: Int!) {{ stockAdjust(sku: "TEE-M",
  location: $location, delta: $delta, note: "damaged") {{ {LEVEL} userErrors {{ field code }}
  }} }}"""
COUNT = f"""mutation($location: String!, $quantity: Int!) {{ stockCount(sku: "TEE-M",
  location: $location, quantity: $quantity) {{ {LEVEL} userErrors {{ field code }} }} }}"""
SAFETY = f"""mutation($location: String!, $quantity: Int!) {{ stockSetSafetyStock(sku: "TEE-M",
  location: $location, quantity: $quantity) {{ {LEVEL} userErrors {{ field code }} }} }}"""


async def on_hand(admin: Admin, location: str, sku: str = "TEE-M") -> int:
    return (await admin.commerce.stock.level(sku, location)).on_hand


async def test_levels_show_what_the_key_may_see(admin: Admin) -> None:
    every = (await admin.data("admin", LEVELS, sku="TEE-M"))["stockLevels"]
    by_location = {row["location"]: row["onHand"] for row in every}
    assert by_location["wh"] == 10 and by_location["paris-1"] == 3
    assert by_location["paris-2"] == 2 and by_location["lyon-1"] == 0
    mine = (await admin.data("paris", LEVELS, sku="TEE-M"))["stockLevels"]
    assert mine == [{"location": "paris-1", "onHand": 3, "safetyStock": 0, "reserved": 0,
                     "available": 3}]
    assert await admin.error("paris", LEVELS, sku="TEE-M", locations=["paris-2"]) == {
        "code": "forbidden", "field": "location"}
    assert await admin.error("admin", LEVELS, sku="GHOST") == {
        "code": "not_found", "field": "sku"}
    assert await admin.error("reports", LEVELS, sku="TEE-M") == {
        "code": "forbidden", "field": "permission"}


async def test_receive_adjust_count_and_safety_stock_write_the_ledger(admin: Admin) -> None:
    received = await admin.mutate("paris", RECEIVE, location="paris-1", quantity=5,
                                  externalId="asn-1")
    assert received == {"level": {"location": "paris-1", "onHand": 8, "safetyStock": 0,
                                  "available": 8}, "userErrors": []}
    replay = await admin.mutate("paris", RECEIVE, location="paris-1", quantity=5,
                                externalId="asn-1")
    assert replay["level"]["onHand"] == 8  # the same receipt again changes nothing
    adjusted = await admin.mutate("paris", ADJUST, location="paris-1", delta=-2)
    assert adjusted["level"]["onHand"] == 6
    counted = await admin.mutate("paris", COUNT, location="paris-1", quantity=4)
    assert counted["level"]["onHand"] == 4
    safety = await admin.mutate("paris", SAFETY, location="paris-1", quantity=1)
    assert safety["level"] == {"location": "paris-1", "onHand": 4, "safetyStock": 1,
                               "available": 3}

    ledger = """query($location: String!) { stockLedger(sku: "TEE-M", location: $location) {
      delta kind source externalId note } }"""
    moves = (await admin.data("paris", ledger, location="paris-1"))["stockLedger"]
    key_id = (await admin.data("paris", "{ staffMe { id } }"))["staffMe"]["id"]
    staff = f"staff:{key_id}"
    assert [(m["kind"], m["delta"], m["source"]) for m in moves if m["source"] != "seed"] == [
        ("receipt", 5, staff), ("adjustment", -2, staff), ("count", -2, staff)]
    assert moves[-3]["externalId"] == "asn-1" and moves[-3]["note"] == "delivery 42"
    assert await admin.error("paris", ledger, location="wh") == {
        "code": "forbidden", "field": "location"}

    # bad input: a typed user error, nothing written
    too_many = await admin.mutate("paris", ADJUST, location="paris-1", delta=-40)
    assert errors_of(too_many) == [("invalid_input", "delta")] and too_many["level"] is None
    assert errors_of(await admin.mutate("paris", RECEIVE, location="paris-1",
                                        quantity=0)) == [("invalid_input", "quantity")]
    assert errors_of(await admin.mutate("admin", COUNT, location="atlantis",
                                        quantity=1)) == [("not_found", "location")]
    assert await on_hand(admin, "paris-1") == 4


async def test_a_store_key_cannot_touch_another_store(admin: Admin) -> None:
    for query, variables in ((RECEIVE, {"quantity": 5}), (ADJUST, {"delta": -1}),
                             (COUNT, {"quantity": 0}), (SAFETY, {"quantity": 2})):
        for location in ("paris-2", "wh"):
            refused = await admin.mutate("paris", query, location=location, **variables)
            assert errors_of(refused) == [("forbidden", "location")], (query, location)
            assert refused["level"] is None
    assert (await on_hand(admin, "paris-2"), await on_hand(admin, "wh")) == (2, 10)
    no_permission = await admin.mutate("reports", RECEIVE, location="wh", quantity=1)
    assert errors_of(no_permission) == [("forbidden", "permission")]

    # a revoked key is refused before anything runs
    issued = await admin.commerce.auth.create_staff_key("temp", [Permission.MANAGE_STOCK],
                                                        locations=["paris-1"])
    assert (await admin.mutate(issued.key, RECEIVE, location="paris-1",
                               quantity=1))["userErrors"] == []
    await admin.commerce.auth.revoke_staff_key(issued.id)
    refused = await admin.post(issued.key, RECEIVE, location="paris-1", quantity=1)
    assert refused.status_code == 401
    assert await on_hand(admin, "paris-1") == 4


SEND = """mutation($from: String!, $to: String!, $quantity: Int!) { stockTransfer(sku: "TEE-M",
  fromLocation: $from, toLocation: $to, quantity: $quantity, note: "rebalance") {
  transfer { id fromLocation toLocation quantity status } userErrors { field code } } }"""
ARRIVE = """mutation($id: ID!) { stockTransferReceive(sku: "TEE-M", transferId: $id) {
  transfer { id status receivedAt } userErrors { field code } } }"""
IN_TRANSIT = '{ stockTransfers(sku: "TEE-M") { id fromLocation toLocation } }'


async def test_transfers_are_sent_and_received_by_the_right_stores(admin: Admin) -> None:
    sent = await admin.mutate("paris", SEND, **{"from": "paris-1", "to": "paris-2",
                                                "quantity": 2})
    assert sent["userErrors"] == []
    transfer = sent["transfer"]
    assert (transfer["fromLocation"], transfer["toLocation"], transfer["status"]) == (
        "paris-1", "paris-2", "in_transit")
    assert await on_hand(admin, "paris-1") == 1
    # the Paris key may not send another store's units, nor send more than are free
    theirs = await admin.mutate("paris", SEND, **{"from": "paris-2", "to": "paris-1",
                                                  "quantity": 1})
    assert errors_of(theirs) == [("forbidden", "location")]
    short = await admin.mutate("paris", SEND, **{"from": "paris-1", "to": "wh", "quantity": 5})
    assert errors_of(short) == [("out_of_stock", "quantity")]

    assert [t["id"] for t in (await admin.data("paris", IN_TRANSIT))["stockTransfers"]] == [
        transfer["id"]]
    # paris-2 receives it, not paris-1
    denied = await admin.mutate("paris", ARRIVE, id=transfer["id"])
    assert errors_of(denied) == [("forbidden", "location")]
    arrived = await admin.mutate("admin", ARRIVE, id=transfer["id"])
    assert arrived["transfer"]["status"] == "received"
    assert await on_hand(admin, "paris-2") == 4
    again = await admin.mutate("admin", ARRIVE, id=transfer["id"])
    assert errors_of(again) == [("not_found", "transferId")]
    assert (await admin.data("admin", IN_TRANSIT))["stockTransfers"] == []

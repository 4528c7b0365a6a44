"""The store locator reads stock nearest first, in chunks (``omnicore.stock._locator``).

``nearby`` reads the figures of the nearest ``limit x 3`` candidates first and goes
further only while fewer than ``limit`` of those read serve every SKU. These tests
put the stock where stopping too early would change the answer, and compare many
calls with a brute-force reference, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from helpers.stock_world import WEEKDAYS_10_19, location

from omnicore import Commerce
from omnicore.errors import NotFound
from omnicore.network import GeoPoint, distance_km
from omnicore.stock._locator import nearby
from omnicore.store.uow import Tx

CENTRE = {"lat": 48.85, "lng": 2.30}
STORES = 40
SKUS = ("A", "B")


def _code(i: int) -> str:
    return f"store-{i:02d}"


async def _world(commerce: Commerce, *, buffers: dict[int, int] | None = None) -> None:
    """``STORES`` stores due east of ``CENTRE``, store-00 nearest, each ~0.73 km further,
    open at the test clock's time (Monday 10:30 in Paris); channel ``locator`` sells
    from all of them; SKUs A and B, no stock anywhere yet."""
    buffers = buffers or {}
    for i in range(STORES):
        await commerce.locations.save(location(
            _code(i), "store", CENTRE["lat"], CENTRE["lng"] + 0.002 + 0.01 * i,
            capabilities=["pickup"], hours=WEEKDAYS_10_19))
    await commerce.channels.save({
        "code": "locator", "name": "Locator", "kind": "app", "currency": "EUR",
        "locations": [{"location": _code(i), "buffer": buffers.get(i, 0)}
                      for i in range(STORES)],
    })
    await commerce.catalog.save_product({
        "handle": "ab", "title": "A and B", "variants": [{"sku": s} for s in SKUS]})


async def _stock(commerce: Commerce, on_hand: dict[tuple[str, int], int]) -> None:
    await commerce.stock.set_levels(
        [{"sku": sku, "location": _code(i), "on_hand": n} for (sku, i), n in on_hand.items()],
        source="test")


def _codes(found: list[Any]) -> list[str]:
    return [n.location.code for n in found]


async def test_a_second_chunk_is_read_when_the_nearest_have_no_stock(
    commerce: Commerce,
) -> None:
    await _world(commerce, buffers={4: 1})
    # The 6 nearest (the first chunk for limit 2) have nothing a shopper can take:
    # no units, or (store-04) one unit hidden by the channel's buffer.
    await _stock(commerce, {("A", i): 0 for i in range(6)} | {("A", 4): 1,
                                                                ("A", 7): 2, ("A", 10): 5})
    found = await commerce.stock.nearby(["A"], near=CENTRE, channel="locator", limit=2)
    assert _codes(found) == ["store-07", "store-10"]
    assert [n.quantities for n in found] == [{"A": 2}, {"A": 5}]


async def test_a_farther_store_with_every_sku_beats_nearer_partial_ones(
    commerce: Commerce,
) -> None:
    await _world(commerce)
    # The 6 nearest have A only; store-12, beyond the first chunk, has A and B.
    await _stock(commerce, {("A", i): 1 for i in range(8)} | {("A", 12): 3, ("B", 12): 1})
    found = await commerce.stock.nearby(["A", "B"], near=CENTRE, channel="locator", limit=2)
    assert _codes(found) == ["store-12", "store-00"]
    assert [(n.serves_all, n.pickup_today) for n in found] == [(True, True), (False, False)]
    assert found[0].quantities == {"A": 3, "B": 1}


async def test_require_all_reads_further_chunks_until_one_serves(commerce: Commerce) -> None:
    await _world(commerce)
    # limit 1: chunks of 3, 12 and 48 candidates; only store-20 (third chunk) has both.
    await _stock(commerce, {("A", i): 1 for i in range(20)} | {("A", 20): 1, ("B", 20): 1})
    found = await commerce.stock.nearby(["A", "B"], near=CENTRE, channel="locator", limit=1,
                                        require_all=True)
    assert _codes(found) == ["store-20"]
    assert await commerce.stock.nearby(["B"], near=CENTRE, channel="locator", limit=1,
                                       radius_km=10) == []  # store-20 is ~14.7 km away


async def test_answers_match_a_brute_force_reference(commerce: Commerce) -> None:
    rng = random.Random(20260302)
    buffers = {i: rng.choice([0, 0, 1]) for i in range(STORES)}
    await _world(commerce, buffers=buffers)
    on_hand = {(sku, i): rng.choice([0, 0, 0, 1, 2]) for sku in SKUS for i in range(STORES)}
    await _stock(commerce, on_hand)
    for _ in range(12):
        near = {"lat": CENTRE["lat"] + rng.uniform(-0.05, 0.05),
                "lng": CENTRE["lng"] + rng.uniform(-0.05, 0.35)}
        skus = rng.choice([["A"], ["B"], ["A", "B"]])
        limit, radius = rng.choice([1, 2, 5, 30]), rng.choice([5, 15, 40])
        require_all = rng.random() < 0.5
        expected = []
        for i in range(STORES):
            distance = distance_km(GeoPoint(**near), GeoPoint(CENTRE["lat"],
                                                              CENTRE["lng"] + 0.002 + 0.01 * i))
            quantities = {s: max(0, on_hand[(s, i)] - buffers[i]) for s in skus}
            serves_all = all(quantities.values())
            if distance <= radius and any(quantities.values()) and (
                    serves_all or not require_all):
                expected.append((not serves_all, distance, _code(i), quantities))
        expected.sort(key=lambda e: (e[0], e[1], e[2]))
        found = await commerce.stock.nearby(skus, near=near, channel="locator", limit=limit,
                                            radius_km=radius, require_all=require_all)
        assert [(n.location.code, n.quantities, n.distance_km) for n in found] == [
            (code, quantities, round(distance, 3))
            for _, distance, code, quantities in expected[:limit]]


async def test_a_channel_code_is_checked(commerce: Commerce, clock: Any) -> None:
    await _world(commerce)
    await _stock(commerce, {("A", 3): 4})
    async with commerce.db.read() as conn:
        tx = Tx(conn, clock())
        found = await nearby(tx, "locator", ["A"], GeoPoint(**CENTRE), radius_km=25, limit=3,
                             require_all=False)
        assert _codes(found) == ["store-03"]
        far = GeoPoint(45.0, 5.0)  # no store of the channel within 1 km: still a channel
        assert await nearby(tx, "locator", ["A"], far, radius_km=1, limit=3,
                            require_all=False) == []
        with pytest.raises(NotFound) as info:
            await nearby(tx, "nope", ["A"], far, radius_km=1, limit=3, require_all=False)
    assert info.value.field == "channel"

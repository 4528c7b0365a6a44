"""Checkouts racing for the last units, on PostgreSQL, from several Commerce instances."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable

import pytest
from helpers.cart_world import build_world
from helpers.gateways import FakeGateway, GatewayPlugin
from helpers.stock_world import invariant_violations
from sqlalchemy import func, select

from omnicore import Commerce
from omnicore.errors import OutOfStock
from omnicore.orders import Order
from omnicore.store.order_tables import orders
from omnicore.store.tables import stock_levels
from omnicore.testing import FakeClock

HOME = {"key": "home", "kind": "ship", "method": "express",
        "address": {"line1": "3 rue de Rivoli", "city": "Paris", "postal_code": "75004",
                    "country": "FR"}}
SHOPPERS = 64
UNITS = 20
INSTANCES = 4


@pytest.mark.postgres
async def test_64_checkouts_of_the_last_20_units_make_exactly_20_orders(
    postgres_url: str, clock: FakeClock, pool_size_for: Callable[[str, int, int], int]
) -> None:
    gateway = FakeGateway()
    shops = [await Commerce.open(postgres_url, clock=clock, dispatch=False,
                                 load_entry_points=False, plugins=[GatewayPlugin(gateway)],
                                 config={"database": {
                                     "pool_size": pool_size_for(postgres_url, INSTANCES, 16)}})
             for _ in range(INSTANCES)]
    try:
        first = shops[0]
        await build_world(first)
        await first.catalog.save_product({"handle": "last", "title": "Last units",
                                          "variants": [{"sku": "LAST", "title": "One size"}]})
        await first.catalog.set_prices([{"sku": "LAST",
                                         "amount": {"amount": "50.00", "currency": "EUR"}}])
        await first.stock.receive("LAST", "wh", SHOPPERS, source="seed")
        carts = []
        for _ in range(SHOPPERS):
            cart = await first.carts.create("web")
            cart = await first.carts.add_lines(cart.id, [{"sku": "LAST", "quantity": 1}],
                                               version=cart.version)
            cart = await first.carts.set_delivery(cart.id, [HOME], version=cart.version)
            carts.append(cart.id)
        # every cart hold expires, then the shelf count finds only the last 20 units
        clock.advance(hours=2)
        await first.stock.count("LAST", "wh", UNITS, source="inventory")

        async def attempt(index: int) -> Order | BaseException:
            shop = shops[index % INSTANCES]
            try:
                return await shop.checkout(carts[index], payments=[{"gateway": "fake"}],
                                           idempotency_key=f"race-{index}")
            except OutOfStock as exc:
                return exc

        results = await asyncio.gather(*(attempt(i) for i in range(SHOPPERS)))
        placed = [r for r in results if isinstance(r, Order)]
        refused = [r for r in results if isinstance(r, OutOfStock)]
        assert len(placed) == UNITS and len(refused) == SHOPPERS - UNITS, Counter(
            type(r).__name__ for r in results)
        assert len({o.number for o in placed}) == UNITS
        async with first.db.read() as conn:
            assert (await conn.execute(select(func.count()).select_from(orders))).scalar() == UNITS
            level = (await conn.execute(select(stock_levels).where(
                stock_levels.c.sku == "LAST", stock_levels.c.location_code == "wh"))).one()
            assert await invariant_violations(conn, clock()) == []
        assert level.on_hand == UNITS and level.reserved == UNITS  # sold out, not oversold
        # no double charge: one live authorization per order, every other one voided
        assert len(gateway.held()) == UNITS
        assert sorted(i.reference for i in gateway.held()) == sorted(
            o.payments[0].reference for o in placed)
    finally:
        for shop in shops:
            await shop.close()

"""The demo retailer (omnicore.demo) on a SQLite file and on PostgreSQL."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from omnicore import Commerce
from omnicore.demo import WAREHOUSE, create_demo, demo_present, demo_size, ean13
from omnicore.store.tables import outbox_events, prices, stock_levels, stock_movements
from omnicore.validators import gtin_is_valid

# Île-de-France, generously: Rambouillet to Provins, Étampes to the Oise border.
IDF_LAT, IDF_LNG = (48.1, 49.25), (1.4, 3.6)


async def _scalar(commerce: Any, statement: Any) -> Any:
    async with commerce.db.read() as conn:
        return (await conn.execute(statement)).scalar_one()


async def _all_products(commerce: Any) -> list[Any]:
    found, after = [], None
    while True:
        page = await commerce.catalog.products(first=250, after=after)
        found += page.items
        if not page.has_next_page:
            return found
        after = page.end_cursor


def test_ean13_check_digit() -> None:
    assert ean13("400638133393") == "4006381333931"
    assert ean13("200000000001") == "2000000000015"


async def test_demo_is_complete_and_idempotent(commerce: Any) -> None:
    assert not await demo_present(commerce)
    written: list[int] = []
    first = await create_demo(commerce, progress=written.append)
    assert first.created and await demo_present(commerce)
    # the progress counts every row written in bulk, to the announced total
    assert len(written) > 10 and sum(written) == demo_size() > 1000
    assert first.stores >= 12 and first.products >= 200 and first.skus > first.products
    events = await _scalar(commerce, select(func.count()).select_from(outbox_events))
    movements = await _scalar(commerce, select(func.count()).select_from(stock_movements))

    second = await create_demo(commerce)
    assert not second.created
    assert (second.stores, second.products, second.skus) == (
        first.stores, first.products, first.skus)
    assert second.channels == first.channels
    assert all(c.public_token.startswith("pub_") for c in second.channels)
    # nothing was written the second time
    assert await _scalar(commerce, select(func.count()).select_from(outbox_events)) == events
    assert await _scalar(commerce, select(func.count()).select_from(stock_movements)) == movements
    await _check_contents(commerce, second)


async def _check_contents(commerce: Any, summary: Any) -> None:
    locations = await commerce.locations.list()
    stores = [loc for loc in locations if loc.kind.value == "store"]
    warehouse = await commerce.locations.get(WAREHOUSE)
    assert len(stores) == summary.stores >= 12
    assert {c.value for c in warehouse.capabilities} == {"ship"}
    christmas, sunday = dt.date(2026, 12, 25), dt.date(2026, 3, 8)
    for loc in [warehouse, *stores]:
        assert IDF_LAT[0] < loc.geo.lat < IDF_LAT[1] and IDF_LNG[0] < loc.geo.lng < IDF_LNG[1]
        assert loc.timezone == "Europe/Paris" and loc.address.country == "FR"
    for store in stores:
        assert {"pickup", "returns"} <= {c.value for c in store.capabilities}
        monday = store.hours.intervals_on(dt.date(2026, 3, 2))
        assert [(i.open, i.close) for i in monday] == [(dt.time(10), dt.time(20))]
        assert store.hours.intervals_on(christmas) == []
    assert 0 < sum(bool(s.hours.intervals_on(sunday)) for s in stores) < len(stores)
    # a store is open on a Saturday afternoon in Paris, closed at night
    store = stores[0]
    assert store.hours.is_open(dt.datetime(2026, 3, 7, 14, tzinfo=dt.UTC), store.timezone)
    assert not store.hours.is_open(dt.datetime(2026, 3, 7, 22, tzinfo=dt.UTC), store.timezone)

    channels = {c.code: c for c in await commerce.channels.list()}
    assert {"web", "app", "amazon-fr"} <= set(channels)
    assert len([code for code in channels if code.startswith("store-")]) >= 2
    assert {c.currency for c in channels.values()} == {"EUR"}
    amazon = channels["amazon-fr"]
    assert [(link.location, link.buffer) for link in amazon.locations] == [(WAREHOUSE, 2)]
    shipping = {s.code for s in stores if "ship_from_store" in {c.value for c in s.capabilities}}
    web = channels["web"]
    assert {link.location for link in web.locations} == {WAREHOUSE, *shipping}
    assert all(link.buffer > 0 for link in web.locations if link.location != WAREHOUSE)
    for code, channel in channels.items():
        if code.startswith("store-"):
            assert [link.location for link in channel.locations] == [code.removeprefix("store-")]

    products = await _all_products(commerce)
    barcodes = [v.barcode for p in products for v in p.variants]
    skus = [v.sku for p in products for v in p.variants]
    assert len(products) == summary.products and len(skus) == summary.skus
    assert all(b is not None and len(b) == 13 and gtin_is_valid(b) for b in barcodes)
    assert len(set(barcodes)) == len(barcodes) == len(set(skus))
    assert len({p.handle for p in products}) == len(products)
    default = await commerce.catalog.prices_for(skus, currency="EUR")
    marketplace = await commerce.catalog.prices_for(skus, currency="EUR", channel="amazon-fr")
    assert set(default) == set(skus)
    assert all(marketplace[s].amount > default[s].amount for s in skus)

    at_warehouse = await _scalar(commerce, select(func.count()).select_from(stock_levels).where(
        stock_levels.c.location_code == WAREHOUSE, stock_levels.c.on_hand > 0))
    assert at_warehouse == len(skus)
    for store in stores:
        held = await _scalar(commerce, select(func.count()).select_from(stock_levels).where(
            stock_levels.c.location_code == store.code))
        assert 0 < held < len(skus) * 1.01


async def test_demo_is_deterministic(tmp_path: Path) -> None:
    def url(name: str) -> str:
        return f"sqlite+aiosqlite:///{tmp_path / name}"

    contents = []
    for name in ("a.db", "b.db"):
        async with Commerce.open(url(name), dispatch=False, load_entry_points=False) as commerce:
            await create_demo(commerce)
            async with commerce.db.read() as conn:
                levels = (await conn.execute(select(
                    stock_levels.c.sku, stock_levels.c.location_code, stock_levels.c.on_hand,
                ).order_by(stock_levels.c.sku, stock_levels.c.location_code))).all()
                price_rows = (await conn.execute(select(
                    prices.c.sku, prices.c.channel_code, prices.c.amount_minor,
                ).order_by(prices.c.sku, prices.c.channel_code))).all()
            handles = [p.handle for p in await _all_products(commerce)]
            contents.append((levels, price_rows, handles))
    assert contents[0] == contents[1]
    assert len(contents[0][0]) > 5000

"""docs/demo.md says what ``create_demo`` creates: its tables are read back and compared
with a demo made in a SQLite file, so the page cannot drift from omnicore/demo.py."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from omnicore import Commerce
from omnicore.demo import DEMO_STAFF_KEY_NAME, RETAILER, WAREHOUSE, create_demo

PAGE = Path(__file__).resolve().parents[2] / "docs" / "demo.md"
ROW = re.compile(r"^\|(.+)\|\s*$", re.MULTILINE)


def _section(heading: str) -> str:
    text = PAGE.read_text(encoding="utf-8")
    start = text.index(f"\n{heading}\n")
    following = re.search(r"^#{1,3} ", text[start + len(heading) + 2:], re.MULTILINE)
    end = start + len(heading) + 2 + following.start() if following else len(text)
    return text[start:end]


def _tables(section: str) -> list[list[list[str]]]:
    """The tables of a section: the cells of their rows, header and rule rows left out."""
    tables = []
    for chunk in re.split(r"\n\s*\n", section):
        rows = [[cell.strip().strip("`") for cell in match.group(1).split("|")]
                for match in ROW.finditer(chunk)]
        if len(rows) > 2:
            tables.append(rows[2:])
    return tables


def _rows(section: str) -> list[list[str]]:
    """The rows of the section's last table."""
    return _tables(section)[-1]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """What ``create_demo`` made, read back through the core."""
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('demo-page') / 'demo.db'}"

    async def read() -> dict[str, Any]:
        async with Commerce.open(url, dispatch=False, load_entry_points=False,
                                 auto_migrate=True, config={"plugins": {"allow": []}}) as c:
            summary = await create_demo(c)
            products, after = [], None
            while True:
                page = await c.catalog.products(first=250, after=after)
                products += page.items
                if not page.has_next_page:
                    break
                after = page.end_cursor
            skus = [v.sku for p in products for v in p.variants]
            prices = await c.catalog.prices_for(skus, currency="EUR", channel="web")
            levels = {(sku, loc): (await c.stock.level(sku, loc)).on_hand
                      for sku in ("TSH-NOI-M", "TSH-NOI-S")
                      for loc in (WAREHOUSE, "paris-halles", "paris-haussmann")}
            return {"summary": summary, "locations": await c.locations.list(),
                    "channels": await c.channels.list(), "products": products,
                    "prices": prices, "levels": levels}

    yield asyncio.run(read())


def test_counts(demo: dict[str, Any]) -> None:
    summary = demo["summary"]
    text = PAGE.read_text(encoding="utf-8")
    assert f"{summary.products} products, {summary.skus:,} SKUs" in text
    assert f"{summary.stores} stores" in text
    assert RETAILER in text and DEMO_STAFF_KEY_NAME in text


def test_locations(demo: dict[str, Any]) -> None:
    locations = {loc.code: loc for loc in demo["locations"]}
    documented = [row for table in _tables(_section("## Locations")) for row in table]
    assert {row[0] for row in documented} == set(locations)
    for row in documented:
        location = locations[row[0]]
        assert row[1] == location.name
        assert row[2] == f"{location.address.city} ({location.address.postal_code})"
        capabilities = {c.strip(" `") for c in row[3].split(",")}
        assert capabilities == {c.value for c in location.capabilities}, row[0]
        if location.kind.value == "store":
            sunday = bool(location.hours.intervals_on(dt.date(2026, 3, 8)))
            assert row[4] == ("yes" if sunday else "no"), row[0]


def test_channels(demo: dict[str, Any]) -> None:
    channels = {c.code: c for c in demo["channels"]}
    documented = _rows(_section("## Channels"))
    assert {row[0] for row in documented} == set(channels)
    for row in documented:
        channel = channels[row[0]]
        assert (row[1], row[2].strip("`")) == (channel.name, channel.kind.value), row[0]
        assert channel.currency == "EUR"
        sold_from = {link.location for link in channel.locations}
        named = set(re.findall(r"`([a-z0-9-]+)`", row[3])) - set(channels)
        assert named <= sold_from, row[0]
    ship_from_store = {loc.code for loc in demo["locations"]
                       if "ship_from_store" in {c.value for c in loc.capabilities}}
    web = {link.location: link.buffer for link in channels["web"].locations}
    assert web == {WAREHOUSE: 0, **dict.fromkeys(ship_from_store, 2)}


def test_product_types_and_colours(demo: dict[str, Any]) -> None:
    products = demo["products"]
    prices = demo["prices"]
    types, colour_rows = _tables(_section("## Catalog and SKUs"))
    by_type: dict[str, list[Any]] = {}
    for product in products:
        by_type.setdefault(product.variants[0].sku.split("-")[0], []).append(product)
    assert {row[0] for row in types} == set(by_type)
    for code, title, family, price, sizes in types:
        group = by_type[code]
        assert all(p.title.startswith(title + " ") and p.family == family for p in group), code
        assert [v.sku.rsplit("-", 1)[1] for v in group[0].variants] == sizes.split()
        full = {(prices[v.sku].compare_at or prices[v.sku].amount).amount
                for p in group for v in p.variants}
        assert full == {Decimal(price)}, code
    colours = {row[i]: row[i + 1] for row in colour_rows for i in (0, 2)}
    found = {p.variants[0].sku.split("-")[1]: p.attributes["colour"] for p in products}
    assert colours == found


def test_the_skus_the_examples_use(demo: dict[str, Any]) -> None:
    rows = _rows(_section("### The SKUs the examples use"))
    assert rows
    for sku, _, warehouse, halles, haussmann in rows:
        figures = [demo["levels"][(sku, loc)] for loc in (WAREHOUSE, "paris-halles",
                                                          "paris-haussmann")]
        assert figures == [int(warehouse), int(halles), int(haussmann)], sku

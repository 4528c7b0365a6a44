"""The catalog service on SQLite and PostgreSQL: products, variants, prices, events.

Each database test covers one area end to end (a fresh PostgreSQL database per
test costs a second, so the areas are not split further).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import func, select

from omnicore import Commerce, Conflict, InvalidInput, Money, NotFound
from omnicore.catalog import Price
from omnicore.store.tables import outbox_events, prices, products, variants
from omnicore.testing import FakeClock, RecordingPlugin, seed_minimal


def tee(handle: str = "classic-tee", *skus: str, title: str = "Classic tee") -> dict[str, Any]:
    return {"handle": handle, "title": title,
            "variants": [{"sku": s, "title": s} for s in (skus or ("TEE-M", "TEE-L"))]}


def eur(amount: str) -> dict[str, str]:
    return {"amount": amount, "currency": "EUR"}


async def row_counts(commerce: Commerce) -> dict[str, int]:
    """Rows per table, to prove a refused operation wrote nothing."""
    async with commerce.db.read() as conn:
        return {
            table.name: int((await conn.execute(select(func.count()).select_from(table))).scalar())
            for table in (products, variants, prices, outbox_events)
        }


@pytest.fixture
async def recorded(
    db_url: str, clock: FakeClock
) -> AsyncIterator[tuple[Commerce, RecordingPlugin]]:
    recorder = RecordingPlugin()
    async with Commerce.open(db_url, clock=clock, dispatch=False, load_entry_points=False,
                             auto_migrate=True, plugins=[recorder]) as commerce:
        yield commerce, recorder


@pytest.fixture
async def sqlite_commerce(sqlite_url: str, clock: FakeClock) -> AsyncIterator[Commerce]:
    async with Commerce.open(sqlite_url, clock=clock, dispatch=False,
                             load_entry_points=False) as commerce:
        yield commerce


async def test_save_read_and_update_products(commerce: Commerce) -> None:
    saved = await commerce.catalog.save_product(
        {**tee(), "description": "Organic cotton", "family": "tops",
         "attributes": {"material": "cotton"}, "images": ["https://cdn.example/tee.jpg"],
         "variants": [{"sku": "TEE-M", "title": "M", "barcode": "4006381333931",
                       "attributes": {"size": "M"}}, {"sku": "TEE-L", "title": "L"}]}
    )
    assert saved.id is not None and saved.id.startswith("prod_")
    by_handle = await commerce.catalog.product(handle="classic-tee")
    assert by_handle == saved
    assert await commerce.catalog.product(sku="TEE-L") == saved
    assert [v.sku for v in by_handle.variants] == ["TEE-M", "TEE-L"]
    assert by_handle.variants[0].barcode == "4006381333931"
    assert by_handle.variants[0].attributes == {"size": "M"}
    assert await commerce.catalog.skus_exist(["TEE-M", "TEE-XL"]) == {"TEE-M"}

    # an update by handle keeps the id and the variants it does not list
    updated = await commerce.catalog.save_product(
        {**tee("classic-tee", "TEE-XL"), "title": "Classic tee v2"}
    )
    assert updated.id == saved.id
    loaded = await commerce.catalog.product(handle="classic-tee")
    assert loaded.title == "Classic tee v2"
    assert {v.sku for v in loaded.variants} == {"TEE-M", "TEE-L", "TEE-XL"}

    with pytest.raises(NotFound) as info:
        await commerce.catalog.product(handle="nope")
    assert info.value.field == "handle"
    with pytest.raises(NotFound) as info:
        await commerce.catalog.product(sku="NOPE")
    assert info.value.field == "sku"
    with pytest.raises(InvalidInput):
        await commerce.catalog.product()


async def test_refused_saves_write_nothing(commerce: Commerce) -> None:
    await commerce.catalog.save_product(
        {**tee(), "variants": [{"sku": "TEE-M", "barcode": "4006381333931"}, {"sku": "TEE-L"}]}
    )
    before = await row_counts(commerce)

    # a SKU that belongs to another product
    with pytest.raises(Conflict) as info:
        await commerce.catalog.save_product(tee("other-tee", "TEE-M", "OTHER-1"))
    assert (info.value.field, info.value.code) == ("variants[0].sku", "conflict")
    with pytest.raises(Conflict) as info:
        await commerce.catalog.save_product(tee("other-tee", "OTHER-1", "TEE-L"))
    assert info.value.field == "variants[1].sku"

    # a batch is all or nothing: the valid first product is not written either
    with pytest.raises(Conflict) as info:
        await commerce.catalog.save_products(
            [tee("hoodie", "HOOD-1"), tee("cap", "CAP-1", "TEE-L")]
        )
    assert info.value.field == "variants[1].sku"

    # a barcode already used by another SKU
    with pytest.raises(Conflict) as info:
        await commerce.catalog.save_product(
            {**tee("mug"), "variants": [{"sku": "MUG-1"},
                                        {"sku": "MUG-2", "barcode": "4006381333931"}]}
        )
    assert info.value.field == "variants[1].barcode"

    # malformed input in a batch is refused before any write
    with pytest.raises(InvalidInput) as info:
        await commerce.catalog.save_products(
            [tee("scarf", "SCARF-1"), {**tee("cap"), "variants": [{"sku": "CAP 1"}]}]
        )
    assert info.value.field == "variants[0].sku"

    assert await row_counts(commerce) == before
    assert await commerce.catalog.skus_exist(
        ["OTHER-1", "HOOD-1", "CAP-1", "MUG-1", "MUG-2", "SCARF-1"]
    ) == set()
    assert (await commerce.catalog.product(sku="TEE-M")).handle == "classic-tee"
    assert [p.handle for p in (await commerce.catalog.products()).items] == ["classic-tee"]


async def test_prices(commerce: Commerce) -> None:
    await seed_minimal(commerce, on_hand=0)
    await commerce.catalog.set_prices([
        {"sku": "TEE-M", "amount": eur("17.50"), "channel": "web", "compare_at": eur("19.90")},
        Price("TEE-L", Money("9", "USD")),
    ])
    web = await commerce.catalog.prices_for(["TEE-M", "TEE-L", "NOPE"], currency="EUR",
                                            channel="web")
    assert web["TEE-M"].amount == Money("17.50", "EUR")
    assert web["TEE-M"].channel == "web"
    assert web["TEE-M"].compare_at == Money("19.90", "EUR")
    assert web["TEE-L"].amount == Money("19.90", "EUR")  # the default list
    assert web["TEE-L"].channel is None
    assert "NOPE" not in web
    default = await commerce.catalog.prices_for(["TEE-M"], currency="EUR")
    assert default["TEE-M"].amount == Money("19.90", "EUR")
    usd = await commerce.catalog.prices_for(["TEE-M", "TEE-L"], currency="USD")
    assert list(usd) == ["TEE-L"] and usd["TEE-L"].amount == Money("9.00", "USD")

    before = await row_counts(commerce)
    # a channel's price in another currency than the channel's
    with pytest.raises(InvalidInput) as info:
        await commerce.catalog.set_prices([
            {"sku": "TEE-L", "amount": eur("18.00"), "channel": "web"},
            {"sku": "TEE-M", "amount": {"amount": "18.00", "currency": "USD"}, "channel": "web"},
        ])
    assert info.value.field == "[1].amount"
    assert "EUR" in info.value.message
    # a price for an unknown SKU, for an unknown channel, a bad compare_at, a negative amount
    with pytest.raises(NotFound) as info:
        await commerce.catalog.set_prices([{"sku": "TEE-M", "amount": eur("1")},
                                           {"sku": "GHOST", "amount": eur("1")}])
    assert info.value.field == "[1].sku"
    with pytest.raises(NotFound) as info:
        await commerce.catalog.set_prices([{"sku": "TEE-M", "amount": eur("1"),
                                            "channel": "amazon"}])
    assert info.value.field == "[0].channel"
    with pytest.raises(InvalidInput) as info:
        await commerce.catalog.set_prices([{"sku": "TEE-M", "amount": eur("1"),
                                            "compare_at": {"amount": "2", "currency": "USD"}}])
    assert info.value.field == "[0].compare_at"
    with pytest.raises(InvalidInput) as info:
        await commerce.catalog.set_prices([{"sku": "TEE-M", "amount": eur("-1")}])
    assert info.value.field == "amount"
    assert await row_counts(commerce) == before
    web = await commerce.catalog.prices_for(["TEE-L", "TEE-M"], currency="EUR", channel="web")
    assert web["TEE-L"].amount == Money("19.90", "EUR")
    assert web["TEE-M"].amount == Money("17.50", "EUR")

    # currencies with 0 and 3 decimals and large amounts are stored exactly
    await commerce.catalog.set_prices([
        {"sku": "TEE-M", "amount": {"amount": "1500", "currency": "JPY"}},
        {"sku": "TEE-M", "amount": {"amount": "1.235", "currency": "KWD"}},
        {"sku": "TEE-L", "amount": {"amount": "123456789012.99", "currency": "EUR"}},
    ])
    for sku, amount, currency in [("TEE-M", "1500", "JPY"), ("TEE-M", "1.235", "KWD"),
                                  ("TEE-L", "123456789012.99", "EUR")]:
        found = await commerce.catalog.prices_for([sku], currency=currency)
        assert found[sku].amount == Money(amount, currency)


async def test_products_pagination_and_search(commerce: Commerce) -> None:
    handles = [f"product-{i:02d}" for i in range(7)]
    await commerce.catalog.save_products(
        [tee(h, f"SKU-{h}", title=f"Item {h}") for h in reversed(handles)]
    )
    seen: list[str] = []
    after = None
    pages = 0
    while True:
        page = await commerce.catalog.products(first=3, after=after)
        pages += 1
        seen.extend(p.handle for p in page.items)
        assert all(p.variants for p in page.items)
        if not page.has_next_page:
            break
        after = page.end_cursor
    assert seen == handles
    assert pages == 3
    exact = await commerce.catalog.products(first=7)
    assert len(exact.items) == 7 and not exact.has_next_page
    last = await commerce.catalog.products(first=3, after=exact.end_cursor)
    assert last.items == [] and last.end_cursor is None and not last.has_next_page

    await commerce.catalog.save_products([
        tee("classic-tee", "T-1", title="Classic Tee"),
        tee("v-neck-tee", "T-2", title="V-neck TEE"),
        tee("hoodie", "H-1", title="Zip hoodie"),
        tee("cotton-cap", "C-1", title="100% cotton cap"),
        tee("wool-cap", "C-2", title="Wool cap"),
    ])

    async def search(query: str, **kwargs: Any) -> list[str]:
        return [p.handle for p in (await commerce.catalog.products(query=query, **kwargs)).items]

    assert await search("tee") == ["classic-tee", "v-neck-tee"]  # case-insensitive
    assert await search("HOOD") == ["hoodie"]
    assert await search("item") == handles
    page = await commerce.catalog.products(query="cap", first=1)
    assert [p.handle for p in page.items] == ["cotton-cap"] and page.has_next_page
    page = await commerce.catalog.products(query="cap", first=1, after=page.end_cursor)
    assert [p.handle for p in page.items] == ["wool-cap"] and not page.has_next_page
    # LIKE wildcards typed by a shopper are searched for literally
    assert await search("100%") == ["cotton-cap"]
    assert await search("%") == ["cotton-cap"]
    assert await search("t_e") == []
    assert await search("nothing") == []


async def test_product_and_price_events(recorded: tuple[Commerce, RecordingPlugin]) -> None:
    commerce, recorder = recorded
    created = await commerce.catalog.save_product(tee())
    await commerce.catalog.save_product({**tee(), "title": "Renamed"})
    with pytest.raises(Conflict):
        await commerce.catalog.save_product(tee("copy", "TEE-M"))
    await commerce.catalog.set_prices([{"sku": "TEE-M", "amount": eur("10")}])
    deliveries = await commerce.outbox.deliveries()
    assert [(d.topic, d.consumer, d.status, d.attempts) for d in reversed(deliveries)] == [
        ("product.created", "recorder", "pending", 0),
        ("product.updated", "recorder", "pending", 0),
        ("prices.updated", "recorder", "pending", 0),
    ]
    assert await commerce.outbox.drain() == 3
    assert recorder.topics() == ["product.created", "product.updated", "prices.updated"]
    first, second, third = recorder.events
    assert first.id < second.id < third.id
    assert first.payload["id"] == created.id
    assert first.payload["variants"][0]["sku"] == "TEE-M"
    assert second.payload["title"] == "Renamed"
    assert third.payload == {"prices": [{"sku": "TEE-M", "amount": eur("10.00"),
                                         "channel": None, "compare_at": None}]}
    assert {d.status for d in await commerce.outbox.deliveries()} == {"delivered"}


@pytest.mark.parametrize("first", [0, -1, 251])
async def test_page_size_bounds(sqlite_commerce: Commerce, first: int) -> None:
    with pytest.raises(InvalidInput) as info:
        await sqlite_commerce.catalog.products(first=first)
    assert info.value.field == "first"


async def test_bad_cursor(sqlite_commerce: Commerce) -> None:
    with pytest.raises(InvalidInput) as info:
        await sqlite_commerce.catalog.products(after="!!not base64!!")
    assert info.value.field == "after"

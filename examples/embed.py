"""Embed omnicore in a Python program: one store, one channel, one product.

    python examples/embed.py [path/to/file.db]      (default: ./embed-example.db)

Opens (and, on first use, creates and migrates) a SQLite file, saves a store,
a web channel that sells from it and a product with a price, receives stock,
then prints the store's stock level, what the channel may sell of it and the
price the channel sells at.
Running it twice changes nothing: every save is an upsert and the receipt
carries an external id, so a replay is ignored.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from omnicore import Commerce, Money

SKU = "MUG-BLUE"
STORE = "lyon-1"
CHANNEL = "web"


async def main(path: str) -> dict[str, Any]:
    async with Commerce.open(path) as commerce:  # a bare path means a SQLite file
        await commerce.locations.save({
            "code": STORE, "name": "Lyon Bellecour", "kind": "store",
            "address": {"line1": "2 place Bellecour", "city": "Lyon",
                        "postal_code": "69002", "country": "FR"},
            "geo": {"lat": 45.7578, "lng": 4.8320}, "timezone": "Europe/Paris",
            "capabilities": ["pickup", "ship_from_store"],
        })
        await commerce.channels.save({
            "code": CHANNEL, "name": "Web shop", "kind": "web", "currency": "EUR",
            "locations": [{"location": STORE, "buffer": 1}],
        })
        await commerce.catalog.save_product({
            "handle": "blue-mug", "title": "Blue mug",
            "variants": [{"sku": SKU, "title": "350 ml"}],
        })
        await commerce.catalog.set_prices([
            {"sku": SKU, "amount": Money("14.90", "EUR")},                     # default list
            {"sku": SKU, "amount": Money("12.50", "EUR"), "channel": CHANNEL},  # web's own price
        ])
        await commerce.stock.receive(SKU, STORE, 24, source="embed-example",
                                     external_id="PO-1001")

        level = await commerce.stock.level(SKU, STORE)
        sellable = await commerce.stock.availability(SKU, channel=CHANNEL)
        prices = await commerce.catalog.prices_for([SKU], currency="EUR", channel=CHANNEL)
        figures = {"sku": SKU, "location": STORE, "on_hand": level.on_hand,
                   "channel": CHANNEL, "available": sellable.total,
                   "price": prices[SKU].amount}
    print(f"{SKU} at {STORE}: on hand {figures['on_hand']}")
    print(f"{SKU} on channel {CHANNEL}: available {figures['available']}"
          " (the channel's buffer keeps 1 back)")
    print(f"{SKU} on channel {CHANNEL}: price {figures['price']}")
    return figures


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "./embed-example.db"))

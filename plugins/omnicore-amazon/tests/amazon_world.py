"""The shop the tests run against: a warehouse, a store, a web channel and the Amazon
channel (``amazon-fr``, kind marketplace, EUR, selling from both with a buffer of 1 at
the warehouse), a tee (family ``tees``, two SKUs) and socks (family ``socks``, twelve
SKUs), priced, not yet stocked. ``build_world`` delivers the catalog events, so every
SKU is listed on (the fake) Amazon when a test starts; ``amazon.calls`` is cleared.
"""

from __future__ import annotations

from typing import Any

from omnicore import Commerce

SOCKS = [f"SOCK-{n:02d}" for n in range(1, 13)]
HOURS = {"weekly": {d: [{"open": "10:00", "close": "19:00"}]
                    for d in ("mon", "tue", "wed", "thu", "fri", "sat")}}


def address(line1: str, postal_code: str) -> dict[str, Any]:
    return {"line1": line1, "city": "Paris", "postal_code": postal_code, "country": "FR"}


async def build_world(commerce: Commerce, *, deliver: bool = True) -> None:
    await commerce.locations.save({
        "code": "wh", "name": "Central warehouse", "kind": "warehouse",
        "address": address("5 avenue du Port", "93200"), "geo": {"lat": 48.93, "lng": 2.36},
        "timezone": "Europe/Paris", "capabilities": ["ship"], "priority": 10})
    await commerce.locations.save({
        "code": "paris-1", "name": "Paris Rivoli", "kind": "store",
        "address": address("1 rue de Rivoli", "75001"), "geo": {"lat": 48.8606, "lng": 2.3376},
        "timezone": "Europe/Paris", "hours": HOURS,
        "capabilities": ["pickup", "ship_from_store", "returns"], "priority": 50})
    await commerce.channels.save({
        "code": "web", "name": "Web shop", "kind": "web", "currency": "EUR",
        "locations": [{"location": "wh"}, {"location": "paris-1", "priority": 1}]})
    await commerce.channels.save({
        "code": "amazon-fr", "name": "Amazon.fr", "kind": "marketplace", "currency": "EUR",
        "locations": [{"location": "wh", "buffer": 1}, {"location": "paris-1", "priority": 1}]})
    await commerce.catalog.save_product({
        "handle": "classic-tee", "title": "Classic tee", "family": "tees",
        "description": "Heavy cotton tee.", "attributes": {"brand": "Maison Omni"},
        "images": ["https://cdn.example.com/tee-front.jpg",
                   "https://cdn.example.com/tee-back.jpg"],
        "variants": [
            {"sku": "TEE-M", "title": "M", "barcode": "3701234567891",
             "attributes": {"size": "M", "colour": "Navy"}},
            {"sku": "TEE-L", "title": "L", "attributes": {"size": "L", "colour": "Navy"}},
        ]})
    await commerce.catalog.save_product({
        "handle": "basic-socks", "title": "Basic socks", "family": "socks",
        "variants": [{"sku": sku, "title": sku[-2:]} for sku in SOCKS]})
    await commerce.catalog.save_product({  # a family Amazon does not sell: never listed
        "handle": "gift-card", "title": "Gift card", "family": "gift-cards",
        "variants": [{"sku": "GIFT-50"}]})
    await commerce.catalog.set_prices(
        [{"sku": "TEE-M", "amount": {"amount": "19.90", "currency": "EUR"}},
         {"sku": "TEE-L", "amount": {"amount": "19.90", "currency": "EUR"}},
         {"sku": "TEE-M", "channel": "amazon-fr",
          "amount": {"amount": "21.90", "currency": "EUR"}},
         {"sku": "GIFT-50", "amount": {"amount": "50.00", "currency": "EUR"}}]
        + [{"sku": sku, "amount": {"amount": "4.50", "currency": "EUR"}} for sku in SOCKS])
    if deliver:
        await commerce.outbox.drain()

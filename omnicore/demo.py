"""The demo retailer: Atelier Seine, a Paris-area apparel and home brand.

    summary = await create_demo(commerce)

One central warehouse at Garonor (Aulnay-sous-Bois), twelve stores in Paris
and its suburbs (real addresses and positions, Paris opening hours), the
channels ``web``, ``app``, ``amazon-fr`` and the tills of three stores, 280
products with valid EAN-13 barcodes, prices in EUR and stock everywhere.

Deterministic (a seeded random generator) and idempotent: when the warehouse
and the ``web`` channel exist the database already holds the demo and nothing
is written. ``web`` is saved last, so a run that was interrupted is completed
by the next one.

    issued = await issue_demo_staff_key(commerce)   # issued.key: shown once

gives ``omnicore demo`` a staff key with every permission for the admin API.
Only its hash is stored, so each call issues a new key and revokes the
previous demo keys (those named ``DEMO_STAFF_KEY_NAME``).
"""

from __future__ import annotations

import contextlib
import random
import unicodedata
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import attrs
from sqlalchemy import select

from omnicore.auth import IssuedKey, Permission
from omnicore.errors import Conflict, NotFound
from omnicore.stock import LevelInput
from omnicore.store.auth_tables import staff_keys

if TYPE_CHECKING:
    from omnicore.commerce import Commerce

__all__ = [
    "DEMO_STAFF_KEY_NAME",
    "RETAILER",
    "WAREHOUSE",
    "DemoChannel",
    "DemoSummary",
    "create_demo",
    "demo_present",
    "demo_size",
    "ean13",
    "issue_demo_staff_key",
]

RETAILER = "Atelier Seine"
DEMO_STAFF_KEY_NAME = "omnicore demo (every permission)"
WAREHOUSE = "dc-garonor"
SEED = 2026
BATCH = 2000

_WEEK = ("mon", "tue", "wed", "thu", "fri", "sat")
#: New Year's Day, 1 May and Christmas Day: closed.
_CLOSED_DAYS = [f"{y}-{d}" for y in (2025, 2026, 2027) for d in ("01-01", "05-01", "12-25")]
_SHIP = ["pickup", "ship_from_store", "returns"]
_NO_SHIP = ["pickup", "returns"]

# code, name, line1, postal code, city, lat, lng, capabilities, open on Sundays,
# share of the range it carries (0 to 1)
_STORES: list[tuple[str, str, str, str, str, float, float, list[str], bool, float]] = [
    ("paris-halles", "Paris Les Halles", "Westfield Forum des Halles, 101 Porte Berger", "75001",
     "Paris", 48.8622, 2.3470, _SHIP, True, 0.9),
    ("paris-haussmann", "Paris Haussmann", "40 boulevard Haussmann", "75009", "Paris",
     48.8736, 2.3320, _SHIP, True, 1.0),
    ("paris-marais", "Paris Marais", "30 rue des Francs-Bourgeois", "75003", "Paris",
     48.8577, 2.3594, _NO_SHIP, True, 0.5),
    ("paris-rennes", "Paris Rue de Rennes", "140 rue de Rennes", "75006", "Paris",
     48.8458, 2.3271, _NO_SHIP, False, 0.6),
    ("paris-beaugrenelle", "Paris Beaugrenelle", "Beaugrenelle, 12 rue Linois", "75015", "Paris",
     48.8487, 2.2822, _SHIP, True, 0.7),
    ("paris-italie", "Paris Italie Deux", "Italie Deux, 30 avenue d'Italie", "75013", "Paris",
     48.8301, 2.3556, _NO_SHIP, False, 0.6),
    ("la-defense", "La Défense Les 4 Temps", "Westfield Les 4 Temps, 15 parvis de la Défense",
     "92092", "Puteaux", 48.8917, 2.2387, _SHIP, True, 0.9),
    ("velizy-2", "Vélizy 2", "Westfield Vélizy 2, 2 avenue de l'Europe", "78140",
     "Vélizy-Villacoublay", 48.7826, 2.2203, _SHIP, False, 0.7),
    ("parly-2", "Parly 2", "Westfield Parly 2, 2 avenue Charles de Gaulle", "78150",
     "Le Chesnay-Rocquencourt", 48.8271, 2.1177, _NO_SHIP, False, 0.6),
    ("rosny-2", "Rosny 2", "Westfield Rosny 2, avenue du Général de Gaulle", "93110",
     "Rosny-sous-Bois", 48.8813, 2.4790, _NO_SHIP, False, 0.6),
    ("creteil-soleil", "Créteil Soleil", "Créteil Soleil, 101 avenue du Général de Gaulle",
     "94000", "Créteil", 48.7795, 2.4586, _SHIP, False, 0.7),
    ("val-d-europe", "Val d'Europe", "Centre commercial Val d'Europe, 14 cours du Danube",
     "77700", "Serris", 48.8545, 2.7800, _NO_SHIP, True, 0.6),
]
_TILLS = ("paris-halles", "paris-haussmann", "la-defense")

# code, title, family, base price, sizes
_SIZES = ("XS", "S", "M", "L", "XL")
_WAIST = ("36", "38", "40", "42", "44", "46")
_TYPES: list[tuple[str, str, str, str, tuple[str, ...]]] = [
    ("TSH", "T-shirt col rond", "apparel", "19.90", _SIZES),
    ("TSV", "T-shirt col V", "apparel", "19.90", _SIZES),
    ("POL", "Polo piqué", "apparel", "34.90", _SIZES),
    ("OXF", "Chemise Oxford", "apparel", "49.90", _SIZES),
    ("MAR", "Marinière", "apparel", "39.90", _SIZES),
    ("MER", "Pull col rond en mérinos", "apparel", "69.90", _SIZES),
    ("CAR", "Cardigan en coton", "apparel", "59.90", _SIZES),
    ("SWC", "Sweat à capuche", "apparel", "54.90", _SIZES),
    ("ROB", "Robe en lin", "apparel", "79.90", _SIZES),
    ("PAR", "Parka déperlante", "apparel", "149.00", _SIZES),
    ("CHI", "Pantalon chino", "apparel", "59.90", _WAIST),
    ("JEA", "Jean coupe droite", "apparel", "69.90", _WAIST),
    ("ECH", "Écharpe en laine", "accessories", "29.90", ("TU",)),
    ("BON", "Bonnet côtelé", "accessories", "19.90", ("TU",)),
    ("PLA", "Plaid en laine", "home", "59.90", ("130X170",)),
    ("COU", "Housse de coussin", "home", "24.90", ("40X40", "45X45", "50X50")),
    ("SER", "Serviette de bain", "home", "19.90", ("50X100", "70X140")),
    ("DRH", "Drap-housse en percale", "home", "39.90", ("90X190", "140X190", "160X200")),
    ("NAP", "Nappe en lin", "home", "49.90", ("150X150", "150X250")),
    ("TOR", "Torchon en lin", "home", "12.90", ("50X70",)),
]
_COLOURS = [
    ("BLA", "blanc"), ("NOI", "noir"), ("MAR", "bleu marine"), ("GRI", "gris chiné"),
    ("BEI", "beige"), ("ROU", "rouge"), ("SAU", "vert sauge"), ("CIE", "bleu ciel"),
    ("ROS", "rose poudré"), ("KAK", "kaki"), ("CAM", "camel"), ("ECR", "écru"),
    ("BOR", "bordeaux"), ("MOU", "moutarde"),
]


@attrs.frozen
class DemoChannel:
    code: str
    name: str
    kind: str
    public_token: str


@attrs.frozen
class DemoSummary:
    """What the demo database holds; ``created`` is False when it was already there."""

    created: bool
    warehouse: str
    stores: int
    products: int
    skus: int
    channels: list[DemoChannel]

    def lines(self) -> list[str]:
        """A human summary: counts, then each channel's code and storefront token."""
        state = "created" if self.created else "already present, left unchanged"
        lines = [
            f"{RETAILER} demo retailer {state}:",
            f"  1 warehouse ({self.warehouse}), {self.stores} stores, "
            f"{self.products} products, {self.skus} SKUs",
            "  channels (code, name, storefront public token):",
        ]
        code = max((len(c.code) for c in self.channels), default=0)
        name = max((len(c.name) for c in self.channels), default=0)
        lines += [f"    {c.code:<{code}}  {c.name:<{name}}  {c.public_token}"
                  for c in self.channels]
        return lines


def ean13(body: str) -> str:
    """Append the GS1 check digit to 12 digits."""
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(body))
    return body + str((10 - total % 10) % 10)


def _slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "-".join("".join(c if c.isalnum() else " " for c in ascii_text.lower()).split())


def _hours(sunday: bool) -> dict[str, Any]:
    day = [{"open": "10:00", "close": "20:00"}]
    weekly: dict[str, list[dict[str, str]]] = {d: day for d in _WEEK}
    if sunday:
        weekly["sun"] = [{"open": "11:00", "close": "19:00"}]
    return {"weekly": weekly, "exceptions": [
        {"date": day, "intervals": [], "note": "jour férié"} for day in _CLOSED_DAYS]}


def _locations() -> Iterator[dict[str, Any]]:
    warehouse_hours = {d: [{"open": "06:00", "close": "22:00"}] for d in _WEEK[:5]}
    yield {
        "code": WAREHOUSE, "name": "Entrepôt central Garonor", "kind": "warehouse",
        "address": {"line1": "Parc d'activités Garonor, bâtiment 12", "city": "Aulnay-sous-Bois",
                    "postal_code": "93600", "country": "FR", "region": "Île-de-France"},
        "geo": {"lat": 48.9457, "lng": 2.4894}, "timezone": "Europe/Paris",
        "hours": {"weekly": warehouse_hours}, "capabilities": ["ship"], "priority": 10,
    }
    for rank, (code, name, line1, postal, city, lat, lng, caps, sunday, _) in enumerate(_STORES):
        yield {
            "code": code, "name": f"{RETAILER} {name}", "kind": "store",
            "address": {"line1": line1, "city": city, "postal_code": postal, "country": "FR",
                        "region": "Île-de-France"},
            "geo": {"lat": lat, "lng": lng}, "timezone": "Europe/Paris", "hours": _hours(sunday),
            "capabilities": caps, "priority": 50 + rank,
        }


def _channels() -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The channels saved first, and ``web``, saved last (the completion marker)."""
    shipping = [s[0] for s in _STORES if "ship_from_store" in s[7]]
    online = [{"location": WAREHOUSE, "priority": 0}] + [
        {"location": code, "buffer": 2, "priority": 10 + i} for i, code in enumerate(shipping)]
    names = {s[0]: s[1] for s in _STORES}
    first: list[dict[str, Any]] = [
        {"code": "app", "name": "Application mobile", "kind": "app", "currency": "EUR",
         "locations": online},
        {"code": "amazon-fr", "name": "Amazon.fr", "kind": "marketplace", "currency": "EUR",
         "locations": [{"location": WAREHOUSE, "buffer": 2}], "hold_ttl_seconds": 1800},
        *({"code": f"store-{code}", "name": f"Caisse {names[code]}", "kind": "store",
           "currency": "EUR", "locations": [{"location": code}]} for code in _TILLS),
    ]
    web: dict[str, Any] = {"code": "web", "name": "Boutique en ligne", "kind": "web",
                           "currency": "EUR", "locations": online}
    return first, web


def _catalog() -> Iterator[tuple[dict[str, Any], Decimal]]:
    """Every product (types x colours) with its base price; barcodes in the 200 GS1 range."""
    serial = 0
    for code, title, family, price, sizes in _TYPES:
        for colour_code, colour in _COLOURS:
            variants = []
            for size in sizes:
                serial += 1
                variants.append({
                    "sku": f"{code}-{colour_code}-{size}", "title": f"{colour} / {size}",
                    "attributes": {"colour": colour, "size": size},
                    "barcode": ean13(f"200{serial:09d}"),
                })
            name = f"{title} {colour}"
            yield ({"handle": _slug(name), "title": name, "family": family,
                    "description": f"{title}, coloris {colour}. {RETAILER}, Paris.",
                    "attributes": {"colour": colour}, "variants": variants}, Decimal(price))


def _eur(amount: Decimal) -> dict[str, str]:
    return {"amount": str(amount.quantize(Decimal("0.01"))), "currency": "EUR"}


def _prices(rng: random.Random) -> Iterator[dict[str, Any]]:
    for product, base in _catalog():
        on_sale = rng.random() < 0.12
        amount = (base * Decimal("0.7")).to_integral_value() - Decimal("0.10") if on_sale else base
        for variant in product["variants"]:
            sku = variant["sku"]
            yield {"sku": sku, "amount": _eur(amount),
                   **({"compare_at": _eur(base)} if on_sale else {})}
            yield {"sku": sku, "amount": _eur(base + Decimal(3)), "channel": "amazon-fr"}
            if product["family"] == "home":
                yield {"sku": sku, "amount": _eur(amount * Decimal("0.9")), "channel": "app"}


def _levels(rng: random.Random) -> Iterator[LevelInput]:
    for product, _ in _catalog():
        skus = [v["sku"] for v in product["variants"]]
        for sku in skus:
            yield LevelInput(sku, WAREHOUSE, rng.randint(20, 240), safety_stock=5)
        for store in _STORES:
            if rng.random() < store[9]:
                for sku in skus:
                    yield LevelInput(sku, store[0], rng.choice((0, 1, 2, 3, 4, 5, 6, 8, 12)),
                                     safety_stock=1)


def _chunks(items: Iterator[Any], size: int) -> Iterator[list[Any]]:
    chunk: list[Any] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


async def _present(commerce: Commerce) -> bool:
    codes = {location.code for location in await commerce.locations.list()}
    if WAREHOUSE not in codes:
        if codes:
            raise Conflict("the database already holds other locations: create the demo in an "
                           "empty database", field="database.url")
        return False
    try:
        await commerce.channels.get("web")
    except NotFound:
        return False
    return True


async def _summary(commerce: Commerce, created: bool) -> DemoSummary:
    stores = [loc for loc in await commerce.locations.list() if loc.kind.value == "store"]
    products = skus = 0
    after: str | None = None
    while True:
        page = await commerce.catalog.products(first=250, after=after)
        products += len(page.items)
        skus += sum(len(p.variants) for p in page.items)
        if not page.has_next_page:
            break
        after = page.end_cursor
    channels = [DemoChannel(c.code, c.name, c.kind.value, c.public_token or "")
                for c in await commerce.channels.list()]
    return DemoSummary(created, WAREHOUSE, len(stores), products, skus, channels)


def demo_size() -> int:
    """The rows ``create_demo`` writes in bulk (products, prices, stock levels): the length
    of its progress."""
    return (sum(1 for _ in _catalog()) + sum(1 for _ in _prices(random.Random(SEED)))
            + sum(1 for _ in _levels(random.Random(SEED + 1))))


async def demo_present(commerce: Commerce) -> bool:
    """True when the database already holds the demo (``create_demo`` would change nothing)."""
    return await _present(commerce)


async def create_demo(
    commerce: Commerce, *, progress: Callable[[int], None] | None = None,
) -> DemoSummary:
    """Create the demo retailer unless the database has it; return what it holds.

    :param progress: called with the number of rows just written (products, prices,
        stock levels; ``demo_size()`` in all), for a progress bar.
    """
    if await _present(commerce):
        return await _summary(commerce, created=False)
    advance = progress or (lambda rows: None)
    for location in _locations():
        await commerce.locations.save(location)
    first, web = _channels()
    for channel in first:
        await commerce.channels.save(channel)
    for chunk in _chunks((product for product, _ in _catalog()), 50):
        await commerce.catalog.save_products(chunk)
        advance(len(chunk))
    for chunk in _chunks(_prices(random.Random(SEED)), BATCH):
        await commerce.catalog.set_prices(chunk)
        advance(len(chunk))
    for chunk in _chunks(_levels(random.Random(SEED + 1)), BATCH):
        await commerce.stock.set_levels(chunk, source="demo")
        advance(len(chunk))
    await commerce.channels.save(web)
    return await _summary(commerce, created=True)


async def issue_demo_staff_key(commerce: Commerce) -> IssuedKey:
    """A new staff key with every permission; earlier demo keys are revoked.

    The plain key is in the result only (omnicore keeps its SHA-256): print it.
    """
    async with commerce.uow.read() as tx:
        previous = list((await tx.conn.execute(select(staff_keys.c.id).where(
            staff_keys.c.name == DEMO_STAFF_KEY_NAME, staff_keys.c.revoked_at.is_(None)
        ))).scalars())
    issued = await commerce.auth.create_staff_key(DEMO_STAFF_KEY_NAME, list(Permission))
    for key_id in previous:
        with contextlib.suppress(NotFound):  # revoked meanwhile by someone else
            await commerce.auth.revoke_staff_key(key_id)
    return issued

"""Storefront catalog reads kept in memory, exact to the catalog's revision.

A product page reads the product, its variants and their prices: the same rows
for every shopper until someone changes the catalog. ``CatalogCache`` keeps
them per gateway process and checks, once per request, the catalog's revision
(``omnicore.catalog._revision``: one small statement) — a product or a price
saved by any process moves the revision, and the next request throws the
cache away. Nothing is ever served older than what the database held when the
request began. Stock is never cached: availability is read live.

A request that saw an older revision than the cache holds (two requests racing
a catalog write on PostgreSQL) reads the database and stores nothing. Entries
are bounded (``max_products``, ``max_prices``; the oldest go first). Cached
products are shared between requests: resolvers read them, never change them.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from omnicore.catalog import Price, Product
    from omnicore.gateway.context import RequestContext

__all__ = ["CatalogCache"]

REVISION = "catalog.revision"


class CatalogCache:
    """Products by handle or SKU, and channel prices by SKU, at one catalog revision."""

    def __init__(self, *, max_products: int = 5_000, max_prices: int = 50_000) -> None:
        self.max_products = max_products
        self.max_prices = max_prices
        self.revision = -1
        self._products: OrderedDict[Hashable, Product] = OrderedDict()
        self._prices: OrderedDict[tuple[str, str, str], Price | None] = OrderedDict()
        #: reads answered from memory and from the database (tests and benchmarks read them)
        self.hits = 0
        self.misses = 0

    async def _revision(self, context: RequestContext) -> int:
        """The revision the request sees (read once per request); a newer one empties
        the cache. The request may use the cache while ``self.revision`` equals it."""
        revision: int | None = context.loaders.get(REVISION)
        if revision is None:
            revision = context.loaders[REVISION] = await context.commerce.catalog.revision()
        if revision > self.revision:
            self._products.clear()
            self._prices.clear()
            self.revision = revision
        return revision

    async def product(self, context: RequestContext, *, handle: str | None = None,
                      sku: str | None = None) -> Product:
        """``catalog.product(handle=, sku=)``, from memory when the catalog has not moved."""
        key = ("handle", handle) if handle is not None else ("sku", sku)
        revision = await self._revision(context)
        found = self._products.get(key) if revision == self.revision else None
        if found is not None:
            self.hits += 1
            return found
        self.misses += 1
        product = await context.commerce.catalog.product(handle=handle, sku=sku)
        if revision == self.revision:  # still: a newer revision may have come meanwhile
            self._remember(self._products, key, product, self.max_products)
        return product

    async def prices_for(self, context: RequestContext, skus: Sequence[str], *,
                         currency: str, channel: str) -> dict[str, Price]:
        """``catalog.prices_for``: the SKUs not in memory are read in one statement."""
        revision = await self._revision(context)
        usable = revision == self.revision
        found: dict[str, Price] = {}
        missing: list[str] = []
        for sku in skus:
            key = (channel, currency, sku)
            if usable and key in self._prices:
                price = self._prices[key]
                if price is not None:
                    found[sku] = price
            else:
                missing.append(sku)
        self.hits += len(skus) - len(missing)
        if missing:
            self.misses += len(missing)
            read = await context.commerce.catalog.prices_for(
                missing, currency=currency, channel=channel)
            found.update(read)
            if revision == self.revision:  # still: a newer revision may have come meanwhile
                for sku in missing:  # a SKU without a price is remembered as such
                    self._remember(self._prices, (channel, currency, sku), read.get(sku),
                                   self.max_prices)
        return found

    @staticmethod
    def _remember(entries: OrderedDict[Any, Any], key: Any, value: Any, limit: int) -> None:
        entries[key] = value
        while len(entries) > limit:
            entries.popitem(last=False)

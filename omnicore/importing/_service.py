"""Streaming imports: stock counts and the catalog, from CSV or JSON lines.

    report = await import_stock(commerce, "counts.csv")
    report = await import_catalog(commerce, "catalog.jsonl", batch_size=500)

The file is read line by line (never whole) and written in batches, each batch
in its own transaction through the service API. Every row is validated first;
a bad row is rejected with its line number, the field to blame and a message,
and never stops or corrupts the good rows: when the service still refuses a
batch (an unknown SKU or location, a SKU owned by another product), the rows
it names are dropped and the rest of the batch is written again.

This module holds the catalog import; the stock import is in
``omnicore.importing._stock`` and what both share in ``omnicore.importing._base``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from omnicore.catalog import Price, Product, Variant
from omnicore.errors import Conflict, InvalidInput, NotFound, OmnicoreError, Problem
from omnicore.importing._base import (
    ImportReport,
    RejectedRow,
    _finish,
    _indexed,
    _records,
    _Reject,
    _rejection,
    detect_format,
)
from omnicore.importing._progress import Progress, Source, UnreadableFile, open_source
from omnicore.importing._stock import STOCK_COLUMNS, import_stock
from omnicore.money import Money
from omnicore.serialization import structure

if TYPE_CHECKING:
    from omnicore.commerce import Commerce

__all__ = [
    "CATALOG_COLUMNS",
    "STOCK_COLUMNS",
    "ImportReport",
    "RejectedRow",
    "UnreadableFile",
    "detect_format",
    "import_catalog",
    "import_stock",
]

CATALOG_COLUMNS = ("handle", "title", "sku", "variant_title", "barcode", "price", "currency",
                   "description", "family")


@attrs.define
class _Item:
    """One product to save, the file line of each of its variants, and its prices."""

    product: Product
    lines: list[int]
    #: (line, field shown when refused, price)
    prices: list[tuple[int, str, Price]]
    #: JSON lines: a refusal rejects the whole line, not one variant.
    whole: bool


@attrs.define
class _Draft:
    """A CSV product being assembled from consecutive rows with the same handle."""

    handle: str
    info: dict[str, str] = attrs.Factory(dict)
    rows: list[tuple[int, Variant, Price | None]] = attrs.Factory(list)


def _csv_variant(data: Mapping[str, str]) -> tuple[Variant, Price | None]:
    names = {"sku": "sku", "variant_title": "title", "barcode": "barcode"}
    try:
        variant = structure({key: data[column] for column, key in names.items() if column in data},
                            Variant)
    except InvalidInput as exc:
        row = _rejection(0, exc.problems, {"title": "variant_title"})
        raise _Reject(row.field, row.message) from None
    if "price" not in data:
        return variant, None
    if "currency" not in data:
        raise _Reject("currency", "is required with a price")
    try:
        return variant, Price(variant.sku, Money(data["price"], data["currency"]))
    except InvalidInput as exc:
        raise _Reject("currency" if exc.field == "currency" else "price", exc.message) from None


_REFUSALS = (Conflict, InvalidInput, NotFound)


class _CatalogImport:
    def __init__(self, commerce: Commerce, report: ImportReport, src: Source, size: int) -> None:
        self.commerce = commerce
        self.report = report
        self.src = src
        self.size = size
        self.items: list[_Item] = []
        self.rows = 0
        #: SKUs and barcodes of this batch → (handle, line), so a clash is caught before saving.
        self.owners: dict[tuple[str, str], tuple[str, int]] = {}
        self._channels: dict[str, str] | None = None

    def reject(self, line: int, field: str | None, message: str) -> None:
        self.report.rejected.append(RejectedRow(line, field, message))

    def clash(self, handle: str, variant: Variant) -> tuple[str, str] | None:
        keys = [("sku", variant.sku)] + ([("barcode", variant.barcode)] if variant.barcode else [])
        for key in keys:
            owner = self.owners.get(key)
            if owner is not None and owner[0] != handle:
                return key[0], f"{key[1]} is already used by product {owner[0]!r} (line {owner[1]})"
        return None

    def claim(self, handle: str, variant: Variant, line: int) -> None:
        self.owners[("sku", variant.sku)] = (handle, line)
        if variant.barcode:
            self.owners[("barcode", variant.barcode)] = (handle, line)

    async def channels(self) -> dict[str, str]:
        if self._channels is None:
            self._channels = {c.code: c.currency for c in await self.commerce.channels.list()}
        return self._channels

    # CSV: one row per variant ---------------------------------------------------------

    async def csv_row(self, draft: _Draft | None, line: int, data: dict[str, Any]) -> _Draft | None:
        handle = data.get("handle")
        if handle is None:
            self.reject(line, "handle", "is required")
            return draft
        if draft is None or draft.handle != handle:
            await self.finish(draft)
            draft = _Draft(handle)
        for key in ("title", "description", "family"):
            if key in data:
                draft.info.setdefault(key, data[key])
        try:
            variant, price = _csv_variant(data)
        except _Reject as exc:
            self.reject(line, exc.field, exc.message)
            return draft
        for n, other, _ in draft.rows:
            for key in ("sku", "barcode"):
                value = getattr(variant, key)
                if value is not None and value == getattr(other, key):
                    self.reject(line, key, f"{value} is listed twice for {handle!r} (line {n})")
                    return draft
        draft.rows.append((line, variant, price))
        return draft

    async def finish(self, draft: _Draft | None) -> None:
        if draft is None or not draft.rows:
            return
        if "title" not in draft.info:
            for line, _, _ in draft.rows:
                self.reject(line, "title", f"is required (on a row of product {draft.handle!r})")
            return
        rows = []
        for line, variant, price in draft.rows:
            found = self.clash(draft.handle, variant)
            if found is not None:
                self.reject(line, *found)
            else:
                rows.append((line, variant, price))
        if not rows:
            return
        try:
            product = Product(
                handle=draft.handle, title=draft.info["title"], variants=[v for _, v, _ in rows],
                description=draft.info.get("description", ""), family=draft.info.get("family"))
        except InvalidInput as exc:
            for line, _, _ in rows:
                self.reject(line, exc.field, exc.message)
            return
        for line, variant, _ in rows:
            self.claim(draft.handle, variant, line)
        prices = [(line, "price", price) for line, _, price in rows if price is not None]
        await self.add(_Item(product, [line for line, _, _ in rows], prices, whole=False))

    # JSON lines: one product per line -------------------------------------------------

    async def json_line(self, line: int, data: dict[str, Any]) -> None:
        data = dict(data)
        raw_prices = data.pop("prices", None) or []
        try:
            product = structure(data, Product)
        except InvalidInput as exc:
            self.report.rejected.append(_rejection(line, exc.problems))
            return
        if not isinstance(raw_prices, list):
            self.reject(line, "prices", "expected a list")
            return
        prices = []
        skus = {v.sku for v in product.variants}
        for index, raw in enumerate(raw_prices):
            field = f"prices[{index}]"
            try:
                price = structure(raw, Price, field=field)
            except InvalidInput as exc:
                self.report.rejected.append(_rejection(line, exc.problems))
                return
            problem = None
            if price.sku not in skus:
                problem = (f"{field}.sku", f"{price.sku} is not a variant of this product")
            elif price.channel is not None:
                currency = (await self.channels()).get(price.channel)
                if currency is None:
                    problem = (f"{field}.channel", f"no channel {price.channel!r}")
                elif currency != price.amount.currency:
                    problem = (f"{field}.amount", f"channel {price.channel} sells in {currency}")
            if problem is not None:
                self.reject(line, *problem)
                return
            prices.append((line, field, price))
        for index, variant in enumerate(product.variants):
            found = self.clash(product.handle, variant)
            if found is not None:
                self.reject(line, f"variants[{index}].{found[0]}", found[1])
                return
        for variant in product.variants:
            self.claim(product.handle, variant, line)
        await self.add(_Item(product, [line] * len(product.variants), prices, whole=True))

    # writing ---------------------------------------------------------------------------

    async def add(self, item: _Item) -> None:
        self.items.append(item)
        self.rows += 1 if item.whole else len(item.lines)
        if self.rows >= self.size:
            await self.flush()

    async def flush(self) -> None:
        items, self.items, self.rows, self.owners = self.items, [], 0, {}
        saved = await self.save(items) if items else []
        await self.write_prices([p for item in saved for p in item.prices])
        self.src.report_progress()

    async def save(self, items: list[_Item]) -> list[_Item]:
        """Save ``items`` in one transaction; when refused, split to find the culprits."""
        try:
            await self.commerce.catalog.save_products([item.product for item in items])
            return items
        except _REFUSALS as exc:
            if len(items) > 1:
                middle = len(items) // 2
                return await self.save(items[:middle]) + await self.save(items[middle:])
            return await self.refused(items[0], exc)

    async def refused(self, item: _Item, exc: OmnicoreError) -> list[_Item]:
        match = re.match(r"^variants\[(\d+)\]\.?(.*)$", exc.field or "")
        index = int(match[1]) if match else len(item.lines)
        if item.whole or index >= len(item.lines):
            for line in sorted(set(item.lines)):
                self.reject(line, exc.field, exc.message)
            return []
        line = item.lines[index]
        self.reject(line, (match[2] if match else None) or exc.field, exc.message)
        keep = [i for i in range(len(item.lines)) if i != index]
        if not keep:
            return []
        variants = [item.product.variants[i] for i in keep]
        rest = _Item(attrs.evolve(item.product, variants=variants), [item.lines[i] for i in keep],
                     [p for p in item.prices if p[0] != line], whole=False)
        return await self.save([rest])

    async def write_prices(self, prices: list[tuple[int, str, Price]]) -> None:
        while prices:
            try:
                await self.commerce.catalog.set_prices([price for _, _, price in prices])
                return
            except (InvalidInput, NotFound) as exc:
                found = exc.problems if isinstance(exc, InvalidInput) else [
                    Problem(exc.field, exc.message)]
                bad = _indexed(found, len(prices))
                if not bad:
                    raise
                lines: set[int] = set()
                for index, problems in sorted(bad.items()):
                    line, field, _ = prices[index]
                    if line not in lines:
                        lines.add(line)
                        tail = problems[0].field
                        shown = field if field == "price" or not tail else f"{field}.{tail}"
                        self.reject(line, shown, problems[0].message)
                prices = [p for p in prices if p[0] not in lines]


async def import_catalog(
    commerce: Commerce, path: str | Path, *, format: str | None = None,
    batch_size: int = 2000, progress: Progress | None = None,
) -> ImportReport:
    """Create or update products (and their prices) from a file.

    CSV: ``handle,title,sku,variant_title,barcode,price,currency,description,family``,
    one row per variant; consecutive rows with the same handle form one product
    (title, description and family are taken from its first row that has them);
    ``price`` with ``currency`` sets the default price list of that currency.
    JSON lines: one product per line, shaped like ``Product``, with optional
    ``"prices": [{"sku", "amount": {"amount", "currency"}, "channel"}]``.

    :param batch_size: rows (CSV) or products (JSON lines) per transaction.
    :param progress: called with the number of bytes read since its last call.
    :raises UnreadableFile: the file cannot be read or its header is wrong.
    """
    started = time.perf_counter()
    report = ImportReport()
    kind = detect_format(path, format)
    with open_source(path, progress) as src:
        job = _CatalogImport(commerce, report, src, batch_size)
        draft: _Draft | None = None
        for line, data in _records(src, kind, report, CATALOG_COLUMNS, ("handle", "title", "sku")):
            if kind == "csv":
                draft = await job.csv_row(draft, line, data)
            else:
                await job.json_line(line, data)
        await job.finish(draft)
        await job.flush()
    return _finish(report, started)

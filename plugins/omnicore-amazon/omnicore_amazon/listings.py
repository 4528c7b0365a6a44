"""Products of the Amazon channel pushed with the Listings Items API 2021-08-01.

A SKU is listed when its product's family has a product type (``families`` or
``default_product_type``) and it has a price for the channel (the channel's own
price list, else the default list, in the channel's currency).

* A SKU Amazon has not yet accepted is sent whole with ``putListingsItem``
  (``requirements: LISTING``), including its price and its current quantity — one
  call per marketplace, as the Listings Items model allows one marketplace per PUT
  (and per DELETE), each with that marketplace's entries, language tag and
  ``issueLocale``. The SKU is listed once every marketplace accepted it; until then
  the next change puts it again everywhere (a PUT replaces the whole listing: an
  accepted marketplace is left as it was).
* A listed SKU whose attributes changed gets one ``patchListingsItem`` for all the
  marketplaces (``marketplaceIds=A,B``): one ``replace`` per changed top-level
  attribute, a ``delete`` for one that disappeared. Nothing changed, nothing sent —
  so a replayed event costs no call.
* Amazon may answer HTTP 200 with ``status: INVALID`` and ``issues``: the issues
  are stored per SKU (``omnicore amazon status``), the SKU keeps its last accepted
  attributes, and the next change tries again. An ``ACCEPTED`` answer may carry
  warnings; they are stored too.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import attrs
from sqlalchemy import select

from omnicore_amazon.errors import SpApiError
from omnicore_amazon.listing_attributes import (
    ListingBuilder,
    availability_value,
    for_marketplace,
    patches,
)
from omnicore_amazon.state import listings, stock

if TYPE_CHECKING:
    from omnicore import Commerce
    from omnicore.catalog import Product
    from omnicore_amazon.client import SpApiClient
    from omnicore_amazon.settings import AmazonSettings
    from omnicore_amazon.state import StateStore

__all__ = ["ListingOutcome", "ListingSync"]

log = logging.getLogger("omnicore_amazon")


@attrs.frozen
class ListingOutcome:
    """What one SKU's push did: put, patch, unchanged, skipped, invalid, error."""

    sku: str
    action: str
    status: str | None = None
    issues: list[dict[str, Any]] = attrs.field(factory=list)
    note: str | None = None


class ListingSync:
    def __init__(self, commerce: Commerce, settings: AmazonSettings, client: SpApiClient,
                 store: StateStore) -> None:
        self.commerce = commerce
        self.settings = settings
        self.client = client
        self.store = store
        self.builder = ListingBuilder(settings)

    def _path(self, sku: str) -> str:
        from urllib.parse import quote

        return f"/listings/2021-08-01/items/{self.settings.seller_id}/{quote(sku, safe='')}"

    async def push_handles(self, handles: Iterable[str], *, max_wait: float | None = None,
                           raise_retryable: bool = True) -> list[ListingOutcome]:
        outcomes: list[ListingOutcome] = []
        for handle in handles:
            product = await self.commerce.catalog.product(handle=handle)
            outcomes += await self.push_product(product, max_wait=max_wait,
                                                raise_retryable=raise_retryable)
        return outcomes

    async def push_skus(self, skus: Sequence[str], *, max_wait: float | None = None
                        ) -> list[ListingOutcome]:
        """Push the products of ``skus`` (a price change): only their listed SKUs move."""
        handles: dict[str, None] = {}
        known = await self.commerce.catalog.skus_exist(skus)
        for sku in skus:
            if sku in known:
                handles[(await self.commerce.catalog.product(sku=sku)).handle] = None
        return await self.push_handles(handles, max_wait=max_wait)

    async def push_product(self, product: Product, *, max_wait: float | None = None,
                           raise_retryable: bool = True,
                           only: set[str] | None = None) -> list[ListingOutcome]:
        """Put or patch every variant of ``product`` (or those in ``only``)."""
        settings = self.settings
        variants = [v for v in product.variants if only is None or v.sku in only]
        product_type = settings.product_type(product.family)
        if product_type is None:
            return [ListingOutcome(v.sku, "skipped", note=f"family {product.family!r} has no "
                                   "Amazon product type") for v in variants]
        channel = await self.commerce.channels.get(settings.channel)
        skus = [v.sku for v in variants]
        prices = await self.commerce.catalog.prices_for(skus, currency=channel.currency,
                                                        channel=channel.code)
        async with self.store.read() as conn:
            rows = {r.sku: r for r in await conn.execute(
                select(listings).where(listings.c.sku.in_(skus)))}
        product_data = attrs.asdict(product)
        outcomes = []
        for variant in variants:
            price = prices.get(variant.sku)
            if price is None:
                outcomes.append(ListingOutcome(variant.sku, "skipped", note=(
                    f"no {channel.currency} price for channel {channel.code}")))
                continue
            wanted = self.builder.attributes(product_data, attrs.asdict(variant),
                                             price=price.amount.amount,
                                             currency=channel.currency)
            row = rows.get(variant.sku)
            try:
                if row is None or not row.listed or row.product_type != product_type:
                    outcome = await self._put(product.handle, variant.sku, product_type, wanted,
                                              max_wait)
                else:
                    outcome = await self._patch(variant.sku, product_type, row.attributes or {},
                                                wanted, max_wait)
            except SpApiError as exc:
                if exc.retryable and raise_retryable:
                    raise
                outcome = await self._refused(product.handle, variant.sku, product_type, exc)
            outcomes.append(outcome)
        return outcomes

    async def _quantity(self, sku: str) -> tuple[int, int]:
        """The quantity to list with, and the stock event it comes from (0: read now)."""
        async with self.store.read() as conn:
            found = (await conn.execute(select(stock.c.desired, stock.c.desired_event)
                                        .where(stock.c.sku == sku))).first()
        if found is not None:
            return int(found.desired), int(found.desired_event)
        available = await self.commerce.stock.availability(sku, channel=self.settings.channel)
        return available.total, 0

    async def _put(self, handle: str, sku: str, product_type: str, wanted: dict[str, Any],
                   max_wait: float | None) -> ListingOutcome:
        quantity, event_id = await self._quantity(sku)
        attributes = {**wanted, "fulfillment_availability": availability_value(quantity)}
        answers: list[tuple[str | None, Any]] = []
        for marketplace in self.settings.marketplace_ids:  # one marketplace per PUT
            body = {"productType": product_type, "requirements": "LISTING",
                    "attributes": for_marketplace(attributes, marketplace)}
            answers.append((marketplace, await self.client.call(
                "putListingsItem", "PUT", self._path(sku),
                params=self.settings.put_params(marketplace), json=body, max_wait=max_wait)))
        outcome = await self._record(handle, sku, product_type, answers, wanted, "put",
                                     listed_now=True)
        if outcome.status == "ACCEPTED":
            async with self.store.write() as conn:
                await self.store.upsert(conn, stock, {
                    "sku": sku, "desired": quantity, "desired_event": event_id,
                    "submitted": quantity, "submitted_event": event_id, "sent": quantity,
                    "sent_event": event_id, "changed_at": self.store.stamp()}, ["sku"],
                    update_columns=["submitted", "submitted_event", "sent", "sent_event"])
        return outcome

    async def _patch(self, sku: str, product_type: str, before: dict[str, Any],
                     wanted: dict[str, Any], max_wait: float | None) -> ListingOutcome:
        ops = patches(before, wanted)
        if not ops:
            return ListingOutcome(sku, "unchanged", "ACCEPTED")
        answer = await self.client.call(
            "patchListingsItem", "PATCH", self._path(sku), params=self.settings.patch_params(),
            json={"productType": product_type, "patches": ops}, max_wait=max_wait)
        return await self._record(None, sku, product_type, [(None, answer)], wanted, "patch",
                                  listed_now=False)

    async def _record(self, handle: str | None, sku: str, product_type: str,
                      answers: list[tuple[str | None, Any]], wanted: dict[str, Any],
                      action: str, *, listed_now: bool) -> ListingOutcome:
        """Store the outcome of one put (an answer per marketplace) or one patch: accepted
        when every answer is; the issues of all of them, each once."""
        status, submission, refused_in = "ACCEPTED", None, []
        issues: list[dict[str, Any]] = []
        for marketplace, raw in answers:
            answer = raw or {}
            said = str(answer.get("status") or "INVALID")
            for issue in answer.get("issues") or []:
                if isinstance(issue, dict) and issue not in issues:
                    issues.append(issue)
            if said not in ("ACCEPTED", "VALID"):
                refused_in.append(marketplace or "")
                if status in ("ACCEPTED", "VALID"):
                    status, submission = said, answer.get("submissionId")
            elif status in ("ACCEPTED", "VALID"):
                status, submission = said, answer.get("submissionId")
        accepted = status in ("ACCEPTED", "VALID")
        row: dict[str, Any] = {"sku": sku, "product_type": product_type, "status": status,
                               "submission_id": submission, "issues": issues,
                               "updated_at": self.store.stamp(), "listed": False}
        columns = ["status", "submission_id", "issues", "updated_at"]
        if handle is not None:
            row["handle"] = handle
            columns.append("handle")
        if accepted:
            row.update(listed=True, attributes=wanted)
            columns += ["listed", "attributes", "product_type"]
        elif listed_now:
            columns.append("product_type")
        async with self.store.write() as conn:
            await self.store.upsert(conn, listings, row, ["sku"], update_columns=columns)
        note = None
        if not accepted:
            where = ", ".join(m for m in refused_in if m)
            note = f"refused in {where}" if where else None
            log.warning("Amazon refused the %s of %s%s: %s", action, sku,
                        f" in {where}" if where else "",
                        "; ".join(f"{i.get('code')}: {i.get('message')}" for i in issues))
        return ListingOutcome(sku, action if accepted else "invalid", status, issues, note)

    async def _refused(self, handle: str, sku: str, product_type: str, exc: SpApiError
                       ) -> ListingOutcome:
        issues = [{"code": e.code, "message": e.message, "severity": "ERROR"}
                  for e in exc.errors] or [{"code": type(exc).__name__, "message": str(exc),
                                            "severity": "ERROR"}]
        async with self.store.write() as conn:
            await self.store.upsert(conn, listings, {
                "sku": sku, "handle": handle, "product_type": product_type, "status": "ERROR",
                "listed": False, "issues": issues, "updated_at": self.store.stamp()},
                ["sku"], update_columns=["status", "issues", "updated_at", "handle"])
        log.warning("listing %s failed: %s", sku, exc)
        return ListingOutcome(sku, "error", "ERROR", issues)

    async def all_handles(self) -> list[str]:
        """Every product handle of the catalog, page by page."""
        handles: list[str] = []
        after = None
        while True:
            page = await self.commerce.catalog.products(first=250, after=after)
            handles += [p.handle for p in page.items]
            if not page.has_next_page:
                return handles
            after = page.end_cursor

    async def problems(self) -> list[Any]:
        """Listings whose last submission was not accepted, or that carry issues."""
        async with self.store.read() as conn:
            rows = (await conn.execute(select(listings).order_by(listings.c.sku))).all()
        return [r for r in rows if r.status not in ("ACCEPTED", "VALID") or r.issues]

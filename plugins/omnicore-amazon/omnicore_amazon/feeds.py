"""JSON_LISTINGS_FEED documents through the Feeds API 2021-06-30.

Submitting: ``createFeedDocument`` (a pre-signed upload URL) → ``PUT`` the JSON
document to it → ``createFeed`` (``feedType: JSON_LISTINGS_FEED``) → a feed id.
Reading the outcome: ``getFeed`` until ``processingStatus`` is ``DONE`` (or
``FATAL`` / ``CANCELLED``) → ``getFeedDocument(resultFeedDocumentId)`` → ``GET``
the processing report (GZIP when ``compressionAlgorithm`` says so) → its
``summary`` and ``issues`` per ``messageId``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from omnicore_amazon.errors import SpApiInvalidInput

if TYPE_CHECKING:
    from omnicore_amazon.client import SpApiClient

__all__ = ["CONTENT_TYPE", "FEED_TYPE", "FeedReport", "FeedsApi", "stock_message"]

FEED_TYPE = "JSON_LISTINGS_FEED"
CONTENT_TYPE = "application/json; charset=UTF-8"
FINISHED = frozenset({"DONE", "FATAL", "CANCELLED"})


def stock_message(message_id: int, sku: str, product_type: str, quantity: int
                  ) -> dict[str, Any]:
    """A PATCH message replacing the merchant-fulfilled quantity of ``sku``."""
    return {
        "messageId": message_id, "sku": sku, "operationType": "PATCH",
        "productType": product_type,
        "patches": [{"op": "replace", "path": "/attributes/fulfillment_availability",
                     "value": [{"fulfillment_channel_code": "DEFAULT", "quantity": quantity}]}],
    }


@attrs.frozen
class FeedReport:
    """A processing report: its summary, and the issues of each message."""

    summary: dict[str, Any]
    issues: dict[int, list[dict[str, Any]]]
    feed_issues: list[dict[str, Any]]

    def errors_of(self, message_id: int) -> list[dict[str, Any]]:
        return [i for i in self.issues.get(message_id, []) if i.get("severity") == "ERROR"]

    @classmethod
    def parse(cls, content: bytes) -> FeedReport:
        try:
            data = json.loads(content)
        except ValueError:
            raise SpApiInvalidInput("the processing report is not JSON",
                                    operation="getFeedDocument") from None
        per_message: dict[int, list[dict[str, Any]]] = {}
        general = []
        for issue in data.get("issues") or []:
            if not isinstance(issue, Mapping):
                continue
            if isinstance(issue.get("messageId"), int):
                per_message.setdefault(issue["messageId"], []).append(dict(issue))
            else:
                general.append(dict(issue))
        return cls(dict(data.get("summary") or {}), per_message, general)


class FeedsApi:
    def __init__(self, client: SpApiClient, seller_id: str, marketplace_ids: Sequence[str],
                 issue_locale: str | None) -> None:
        self.client = client
        self.seller_id = seller_id
        self.marketplace_ids = list(marketplace_ids)
        self.issue_locale = issue_locale

    def document(self, messages: list[dict[str, Any]]) -> bytes:
        header: dict[str, Any] = {"sellerId": self.seller_id, "version": "2.0"}
        if self.issue_locale:
            header["issueLocale"] = self.issue_locale
        return json.dumps({"header": header, "messages": messages},
                          separators=(",", ":")).encode()

    async def submit(self, messages: list[dict[str, Any]], *, max_wait: float | None = None
                     ) -> tuple[str, str]:
        """Upload ``messages`` as one document and create the feed: (feed id, document id)."""
        created = await self.client.call(
            "createFeedDocument", "POST", "/feeds/2021-06-30/documents",
            json={"contentType": CONTENT_TYPE}, max_wait=max_wait)
        await self.client.upload(created["url"], self.document(messages), CONTENT_TYPE)
        feed = await self.client.call(
            "createFeed", "POST", "/feeds/2021-06-30/feeds",
            json={"feedType": FEED_TYPE, "marketplaceIds": self.marketplace_ids,
                  "inputFeedDocumentId": created["feedDocumentId"]}, max_wait=max_wait)
        return str(feed["feedId"]), str(created["feedDocumentId"])

    async def status(self, feed_id: str, *, max_wait: float | None = None) -> dict[str, Any]:
        answer: dict[str, Any] = await self.client.call(
            "getFeed", "GET", f"/feeds/2021-06-30/feeds/{feed_id}", max_wait=max_wait)
        return answer

    async def report(self, document_id: str, *, max_wait: float | None = None) -> FeedReport:
        document = await self.client.call(
            "getFeedDocument", "GET", f"/feeds/2021-06-30/documents/{document_id}",
            max_wait=max_wait)
        content = await self.client.download(document["url"],
                                             document.get("compressionAlgorithm"))
        return FeedReport.parse(content)

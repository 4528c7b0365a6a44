"""A stand-in for Amazon at the HTTP boundary (respx), answering like SP-API does.

Every body is shaped after Amazon's published models (selling-partner-api-models):
LWA's token response; ``ListingsItemSubmissionResponse`` (``sku``, ``status``,
``submissionId``, ``issues``); Feeds' ``CreateFeedDocumentResponse``,
``CreateFeedResponse``, ``Feed``, ``FeedDocument`` and the JSON_LISTINGS_FEED
processing report (``header``, ``issues``, ``summary``); Orders 2026-01-01's
``SearchOrdersResponse``; Orders v0's ``GetOrdersResponse``, ``GetOrderItemsResponse``;
``ErrorList`` (``{"errors": [{"code", "message", "details"}]}``). Headers:
``x-amzn-RequestId`` and ``x-amzn-RateLimit-Limit``.

Tests script failures with ``fake.script(operation, response, …)``: the scripted
responses are served first, in order, then the normal behaviour resumes.

Like SP-API, a ``putListingsItem`` naming several marketplaces is refused (400
``InvalidInput``: the model allows one); ``invalid_skus[sku]`` makes a submission
``INVALID`` in every marketplace, or only in those of ``invalid_in[sku]``.
"""

from __future__ import annotations

import gzip
import itertools
import json
import re
from collections import defaultdict
from typing import Any

import httpx
import respx

EU = "https://sellingpartnerapi-eu.amazon.com"
LWA = "https://api.amazon.com/auth/o2/token"
UPLOADS = "https://tortuga-prod-eu.s3-eu-west-1.amazonaws.com"
REPORTS = "https://d34o8swod1owfl.cloudfront.net"
SELLER = "A2EXAMPLESELLER"
FR = "A13V1IB3VIYZZH"
BE = "AMEN7PMS3EDWL"
ACCESS_TOKEN = "Atza|IwEBIExampleAccessTokenGrantedByLoginWithAmazon0001"

RATES = {
    "putListingsItem": "5.0", "patchListingsItem": "5.0", "createFeedDocument": "0.5",
    "createFeed": "0.0083", "getFeed": "2.0", "getFeedDocument": "0.0222",
    "searchOrders": "0.0056", "getOrders": "0.0167", "getOrderItems": "0.5",
    "confirmShipment": "2.0",
}


def error_list(code: str, message: str, details: str | None = None) -> dict[str, Any]:
    error = {"code": code, "message": message}
    if details is not None:
        error["details"] = details
    return {"errors": [error]}


def error_response(status: int, code: str, message: str, details: str | None = None,
                   **headers: str) -> httpx.Response:
    return httpx.Response(status, json=error_list(code, message, details),
                          headers={"x-amzn-RequestId": "b9f0f3a8-1c62-4d9e-9c2e-0b8f8e0e8b11",
                                   **headers})


class FakeAmazon:
    def __init__(self, router: respx.MockRouter) -> None:
        self.router = router
        self.ids = itertools.count(1)
        self.scripts: dict[str, list[httpx.Response | Exception]] = defaultdict(list)
        self.calls: dict[str, list[httpx.Request]] = defaultdict(list)
        self.token_requests: list[httpx.Request] = []
        self.invalid_skus: dict[str, list[dict[str, Any]]] = {}
        self.invalid_in: dict[str, set[str]] = {}
        self.feed_errors: dict[str, dict[str, Any]] = {}
        self.documents: dict[str, bytes] = {}
        self.feeds: dict[str, dict[str, Any]] = {}
        self.feed_status = "DONE"
        self.order_pages: list[dict[str, Any]] = []
        self.v0_order_pages: list[dict[str, Any]] = []
        self.v0_items: dict[str, list[dict[str, Any]]] = {}
        self.rate_headers: dict[str, str] = dict(RATES)
        self._install()

    # -- scripting -------------------------------------------------------------------------

    def script(self, operation: str, *responses: httpx.Response | Exception) -> None:
        """Serve these first (an exception is raised: no answer), then behave normally."""
        self.scripts[operation].extend(responses)

    def _answer(self, operation: str, request: httpx.Request,
                normal: httpx.Response) -> httpx.Response:
        self.calls[operation].append(request)
        queued = self.scripts.get(operation)
        response = queued.pop(0) if queued else normal
        if isinstance(response, Exception):
            raise response
        if response.status_code < 300 and operation in self.rate_headers:
            response.headers.setdefault("x-amzn-RateLimit-Limit", self.rate_headers[operation])
        response.headers.setdefault("x-amzn-RequestId", f"req-{next(self.ids)}")
        return response

    def bodies(self, operation: str) -> list[Any]:
        return [json.loads(r.content) if r.content else None for r in self.calls[operation]]

    # -- routes ----------------------------------------------------------------------------

    def _install(self) -> None:
        r = self.router
        r.post(LWA).mock(side_effect=self._token)
        items = re.compile(rf"^{EU}/listings/2021-08-01/items/{SELLER}/(?P<sku>[^/?]+)")
        r.put(url__regex=items).mock(side_effect=lambda req, sku: self._listing(
            "putListingsItem", req, sku))
        r.patch(url__regex=items).mock(side_effect=lambda req, sku: self._listing(
            "patchListingsItem", req, sku))
        r.post(f"{EU}/feeds/2021-06-30/documents").mock(side_effect=self._create_document)
        r.put(url__startswith=UPLOADS).mock(side_effect=self._upload)
        r.post(f"{EU}/feeds/2021-06-30/feeds").mock(side_effect=self._create_feed)
        r.get(url__regex=rf"^{EU}/feeds/2021-06-30/feeds/(?P<feed_id>[^/?]+)").mock(
            side_effect=self._get_feed)
        r.get(url__regex=rf"^{EU}/feeds/2021-06-30/documents/(?P<document_id>[^/?]+)").mock(
            side_effect=self._get_document)
        r.get(url__startswith=REPORTS).mock(side_effect=self._report)
        r.get(url__startswith=f"{EU}/orders/2026-01-01/orders").mock(side_effect=self._search)
        r.get(url__regex=rf"^{EU}/orders/v0/orders/(?P<order_id>[^/?]+)/orderItems").mock(
            side_effect=self._v0_items)
        r.get(url__regex=rf"^{EU}/orders/v0/orders(\?|$)").mock(side_effect=self._v0_orders)
        r.post(url__regex=rf"^{EU}/orders/v0/orders/(?P<order_id>[^/?]+)/shipmentConfirmation"
               ).mock(side_effect=self._confirm)

    def _token(self, request: httpx.Request) -> httpx.Response:
        self.token_requests.append(request)
        queued = self.scripts.get("token")
        if queued:
            return queued.pop(0)
        return httpx.Response(200, json={
            "access_token": ACCESS_TOKEN, "refresh_token": "Atzr|IwEBIExampleRefreshTokenEcho",
            "token_type": "bearer", "expires_in": 3600})

    def _listing(self, operation: str, request: httpx.Request, sku: str) -> httpx.Response:
        from urllib.parse import unquote

        sku = unquote(sku)
        marketplaces = request.url.params.get("marketplaceIds", "").split(",")
        if operation == "putListingsItem" and len(marketplaces) != 1:
            return self._answer(operation, request, error_response(
                400, "InvalidInput", "Invalid input. marketplaceIds: size must be between 1 "
                "and 1"))
        issues = self.invalid_skus.get(sku)
        where = self.invalid_in.get(sku)
        if issues and where is not None and not where & set(marketplaces):
            issues = None
        body: dict[str, Any] = {"sku": sku, "status": "INVALID" if issues else "ACCEPTED",
                                "submissionId": f"f1dc2914-75dd-11ea-bc55-{next(self.ids):012d}",
                                "issues": issues or []}
        return self._answer(operation, request, httpx.Response(200, json=body))

    def _create_document(self, request: httpx.Request) -> httpx.Response:
        number = next(self.ids)
        document_id = f"amzn1.tortuga.4.eu.3d4e42b5-1d6e-44e8-a89c-{number:012d}"
        url = f"{UPLOADS}/NinetyDays/{document_id}?X-Amz-Expires=300&X-Amz-Signature=abc"
        return self._answer("createFeedDocument", request, httpx.Response(
            201, json={"feedDocumentId": document_id, "url": url}))

    def _upload(self, request: httpx.Request) -> httpx.Response:
        document_id = request.url.path.rsplit("/", 1)[-1]
        self.documents[document_id] = request.content
        return self._answer("upload", request, httpx.Response(200))

    def uploaded(self) -> list[dict[str, Any]]:
        return [json.loads(body) for body in self.documents.values()]

    def _create_feed(self, request: httpx.Request) -> httpx.Response:
        spec = json.loads(request.content)
        feed_id = str(50014018000 + next(self.ids))
        self.feeds[feed_id] = {"spec": spec, "polls": 0}
        return self._answer("createFeed", request, httpx.Response(202, json={"feedId": feed_id}))

    def _get_feed(self, request: httpx.Request, feed_id: str) -> httpx.Response:
        feed = self.feeds[feed_id]
        feed["polls"] += 1
        body: dict[str, Any] = {
            "feedId": feed_id, "feedType": feed["spec"]["feedType"],
            "marketplaceIds": feed["spec"]["marketplaceIds"],
            "createdTime": "2026-03-02T09:30:01.000Z", "processingStatus": self.feed_status}
        if self.feed_status in ("IN_PROGRESS", "DONE", "FATAL"):
            body["processingStartTime"] = "2026-03-02T09:31:00.000Z"
        if self.feed_status in ("DONE", "FATAL"):
            body["processingEndTime"] = "2026-03-02T09:33:00.000Z"
            body["resultFeedDocumentId"] = f"report-{feed_id}"
        return self._answer("getFeed", request, httpx.Response(200, json=body))

    def _get_document(self, request: httpx.Request, document_id: str) -> httpx.Response:
        return self._answer("getFeedDocument", request, httpx.Response(200, json={
            "feedDocumentId": document_id, "url": f"{REPORTS}/{document_id}.json.gz",
            "compressionAlgorithm": "GZIP"}))

    def _report(self, request: httpx.Request) -> httpx.Response:
        feed_id = request.url.path.rsplit("/", 1)[-1].removesuffix(".json.gz").removeprefix(
            "report-")
        spec = self.feeds[feed_id]["spec"]
        document = json.loads(self.documents[spec["inputFeedDocumentId"]])
        issues = []
        for message in document["messages"]:
            error = self.feed_errors.get(message["sku"])
            if error:
                issues.append({"messageId": message["messageId"], "sku": message["sku"],
                               **error})
        invalid = len({i["messageId"] for i in issues})
        report = {
            "header": {"sellerId": SELLER, "version": "2.0", "feedId": feed_id},
            "issues": issues,
            "summary": {"errors": len(issues), "warnings": 0,
                        "messagesProcessed": len(document["messages"]),
                        "messagesAccepted": len(document["messages"]) - invalid,
                        "messagesInvalid": invalid},
        }
        return self._answer("report", request, httpx.Response(
            200, content=gzip.compress(json.dumps(report).encode())))

    def _search(self, request: httpx.Request) -> httpx.Response:
        token = request.url.params.get("paginationToken")
        index = int(token.removeprefix("page-")) if token else 0
        page = self.order_pages[index] if index < len(self.order_pages) else {"orders": []}
        return self._answer("searchOrders", request, httpx.Response(200, json=page))

    def _v0_orders(self, request: httpx.Request) -> httpx.Response:
        token = request.url.params.get("NextToken")
        index = int(token.removeprefix("page-")) if token else 0
        page = (self.v0_order_pages[index] if index < len(self.v0_order_pages)
                else {"payload": {"Orders": []}})
        return self._answer("getOrders", request, httpx.Response(200, json=page))

    def _v0_items(self, request: httpx.Request, order_id: str) -> httpx.Response:
        items = self.v0_items.get(order_id, [])
        token = request.url.params.get("NextToken")
        start = int(token.removeprefix("items-")) if token else 0
        payload: dict[str, Any] = {"AmazonOrderId": order_id,
                                   "OrderItems": items[start : start + 1]}
        if start + 1 < len(items):
            payload["NextToken"] = f"items-{start + 1}"
        return self._answer("getOrderItems", request, httpx.Response(
            200, json={"payload": payload}))

    def _confirm(self, request: httpx.Request, order_id: str) -> httpx.Response:
        return self._answer("confirmShipment", request, httpx.Response(204))


# -- order payloads, shaped like the Orders API models ---------------------------------------


def order_2026(order_id: str, *, status: str = "UNSHIPPED", sku: str = "TEE-M",
               quantity: int = 2, unit: str = "19.90", email: str = "x7kq2m9@marketplace.amazon.fr",
               name: str = "Jo Buyer", updated: str = "2026-03-02T08:15:00Z",
               fulfilled_by: str = "MERCHANT", shipping: str = "4.90",
               item_id: str = "49284729475028") -> dict[str, Any]:
    """An ``Order`` of searchOrders (2026-01-01) with BUYER, RECIPIENT, PROCEEDS, FULFILLMENT."""
    line_total = f"{float(unit) * quantity:.2f}"
    return {
        "orderId": order_id,
        "createdTime": "2026-03-02T08:10:00Z",
        "lastUpdatedTime": updated,
        "programs": [],
        "salesChannel": {"channelName": "AMAZON", "marketplaceId": FR,
                         "marketplaceName": "Amazon.fr"},
        "buyer": {"buyerName": name, "buyerEmail": email},
        "recipient": {"deliveryAddress": {
            "name": name, "addressLine1": "8 rue des Lilas", "city": "Lyon",
            "postalCode": "69003", "countryCode": "FR", "phone": "+33478000000",
            "addressType": "RESIDENTIAL"}},
        "proceeds": {"grandTotal": {"amount": f"{float(line_total) + float(shipping):.2f}",
                                    "currencyCode": "EUR"},
                     "breakdowns": [
                         {"type": "ITEM", "subtotal": {"amount": line_total,
                                                       "currencyCode": "EUR"}},
                         {"type": "SHIPPING", "subtotal": {"amount": shipping,
                                                           "currencyCode": "EUR"}}]},
        "fulfillment": {"fulfillmentStatus": status, "fulfilledBy": fulfilled_by,
                        "fulfillmentServiceLevel": "STANDARD",
                        "shipByWindow": {"earliestDateTime": "2026-03-02T09:00:00Z",
                                         "latestDateTime": "2026-03-04T23:59:59Z"}},
        "orderItems": [{
            "orderItemId": item_id,
            "quantityOrdered": quantity,
            "programs": [],
            "product": {"asin": "B08N5WRWNW", "title": "Classic tee - M", "sellerSku": sku,
                        "condition": {"conditionType": "NEW", "conditionSubtype": "NEW"},
                        "price": {"unitPrice": {"amount": unit, "currencyCode": "EUR"}}},
            "proceeds": {"proceedsTotal": {"amount": f"{float(line_total) + float(shipping):.2f}",
                                           "currencyCode": "EUR"},
                         "breakdowns": [
                             {"type": "ITEM", "subtotal": {"amount": line_total,
                                                           "currencyCode": "EUR"}},
                             {"type": "SHIPPING", "subtotal": {"amount": shipping,
                                                               "currencyCode": "EUR"}}]},
            "fulfillment": {"quantityFulfilled": 0, "quantityUnfulfilled": quantity},
        }],
    }


def order_v0(order_id: str, *, status: str = "Unshipped", total: str = "44.70",
             email: str = "x7kq2m9@marketplace.amazon.fr") -> dict[str, Any]:
    """An ``Order`` of getOrders (v0), with the restricted BuyerInfo and ShippingAddress."""
    return {
        "AmazonOrderId": order_id, "PurchaseDate": "2026-03-02T08:10:00Z",
        "LastUpdateDate": "2026-03-02T08:15:00Z", "OrderStatus": status,
        "FulfillmentChannel": "MFN", "SalesChannel": "Amazon.fr",
        "ShipServiceLevel": "Std FR Dom", "OrderTotal": {"CurrencyCode": "EUR", "Amount": total},
        "NumberOfItemsShipped": 0, "NumberOfItemsUnshipped": 2, "PaymentMethod": "Other",
        "PaymentMethodDetails": ["Standard"], "MarketplaceId": FR,
        "ShipmentServiceLevelCategory": "Standard", "OrderType": "StandardOrder",
        "EarliestShipDate": "2026-03-02T09:00:00Z", "LatestShipDate": "2026-03-04T23:59:59Z",
        "IsBusinessOrder": False, "IsPrime": False, "IsPremiumOrder": False,
        "IsGlobalExpressEnabled": False, "IsReplacementOrder": False, "IsSoldByAB": False,
        "IsISPU": False, "IsAccessPointOrder": False,
        "ShippingAddress": {"Name": "Jo Buyer", "AddressLine1": "8 rue des Lilas",
                            "City": "Lyon", "PostalCode": "69003", "CountryCode": "FR",
                            "AddressType": "Residential"},
        "BuyerInfo": {"BuyerEmail": email, "BuyerName": "Jo Buyer"},
    }


def order_item_v0(item_id: str, sku: str, quantity: int, item_price: str,
                  shipping: str = "0.00") -> dict[str, Any]:
    """An ``OrderItem`` of getOrderItems (v0): ``ItemPrice`` is the price x the quantity."""
    return {
        "ASIN": "B08N5WRWNW", "OrderItemId": item_id, "SellerSKU": sku,
        "Title": "Classic tee", "QuantityOrdered": quantity, "QuantityShipped": 0,
        "ProductInfo": {"NumberOfItems": "1"},
        "ItemPrice": {"CurrencyCode": "EUR", "Amount": item_price},
        "ShippingPrice": {"CurrencyCode": "EUR", "Amount": shipping},
        "ItemTax": {"CurrencyCode": "EUR", "Amount": "0.00"},
        "PromotionDiscount": {"CurrencyCode": "EUR", "Amount": "0.00"},
        "IsGift": "false", "ConditionId": "New", "ConditionSubtypeId": "New",
        "IsTransparency": False, "SerialNumberRequired": False,
        "BuyerRequestedCancel": {"IsBuyerRequestedCancel": "false", "BuyerCancelReason": ""},
    }

"""Amazon orders behind one interface: Orders API 2026-01-01 or v0.

``OrdersApi.changed_since(moment)`` yields every merchant-fulfilled order created or
updated since ``moment``, as ``AmazonOrder`` — whichever API the seller uses:

* ``2026-01-01`` (default): ``searchOrders`` with ``lastUpdatedAfter``,
  ``fulfilledBy=MERCHANT`` and the ``BUYER``, ``RECIPIENT``, ``PROCEEDS`` and
  ``FULFILLMENT`` datasets; pages follow ``pagination.nextToken`` (sent back as
  ``paginationToken``). Items come with the order.
* ``v0`` (deprecated by Amazon): ``getOrders`` with ``LastUpdatedAfter`` and
  ``FulfillmentChannels=MFN``, pages by ``NextToken``, then ``getOrderItems`` per
  order (its own ``NextToken`` pages). Its ``BuyerInfo`` and ``ShippingAddress`` are
  restricted data: without a Restricted Data Token they are absent, and the order
  is imported without them (as a guest order).

Amounts are kept as ``Decimal`` exactly as Amazon wrote them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Mapping, Sequence
from decimal import ROUND_CEILING, Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, Protocol

import attrs

if TYPE_CHECKING:
    from omnicore_amazon.client import SpApiClient

__all__ = ["AmazonItem", "AmazonOrder", "OrdersApi", "OrdersApi2026", "OrdersApiV0",
           "orders_api", "parse_time"]

V0_STATUS = {
    "PendingAvailability": "PENDING_AVAILABILITY", "Pending": "PENDING",
    "Unshipped": "UNSHIPPED", "PartiallyShipped": "PARTIALLY_SHIPPED", "Shipped": "SHIPPED",
    "InvoiceUnconfirmed": "SHIPPED", "Canceled": "CANCELLED", "Unfulfillable": "UNFULFILLABLE",
}


@attrs.frozen
class AmazonItem:
    order_item_id: str
    sku: str
    title: str | None
    quantity: int
    unit_price: Decimal
    discount: Decimal = Decimal(0)
    shipping: Decimal = Decimal(0)


@attrs.frozen
class AmazonOrder:
    """An order, the same whichever Orders API it came from."""

    order_id: str
    status: str  # PENDING, UNSHIPPED, PARTIALLY_SHIPPED, SHIPPED, CANCELLED …
    fulfilled_by: str  # MERCHANT or AMAZON
    marketplace_id: str | None
    created_at: dt.datetime
    last_updated: dt.datetime
    currency: str | None
    items: list[AmazonItem]
    buyer_email: str | None = None
    buyer_name: str | None = None
    address: dict[str, Any] | None = None
    service_level: str | None = None
    total: Decimal | None = None

    @property
    def shipping(self) -> Decimal:
        return sum((item.shipping for item in self.items), Decimal(0))


class OrdersApi(Protocol):
    def changed_since(self, since: dt.datetime) -> AsyncIterator[AmazonOrder]: ...


def parse_time(text: str) -> dt.datetime:
    moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _decimal(value: Any) -> Decimal:
    try:
        return Decimal(str(value)) if value not in (None, "") else Decimal(0)
    except InvalidOperation:
        return Decimal(0)


def _money(value: Any) -> tuple[Decimal, str | None]:
    if not isinstance(value, Mapping):
        return Decimal(0), None
    amount = value.get("amount", value.get("Amount"))
    currency = value.get("currencyCode", value.get("CurrencyCode"))
    return _decimal(amount), currency


def _address(raw: Any, *, v0: bool) -> dict[str, Any] | None:
    if not isinstance(raw, Mapping):
        return None

    def key(name: str) -> str:  # v0 spells the fields AddressLine1, 2026-01-01 addressLine1
        return name[0].upper() + name[1:] if v0 else name

    line1, city = raw.get(key("addressLine1")), raw.get(key("city"))
    country = raw.get(key("countryCode"))
    if not line1 or not city or not country:
        return None
    address = {"line1": line1, "city": city, "postal_code": raw.get(key("postalCode")) or "",
               "country": country, "recipient": raw.get(key("name")),
               "phone": raw.get(key("phone"))}
    extra = [raw.get(key("addressLine2")), raw.get(key("addressLine3"))]
    if any(extra):
        address["line2"] = " ".join(p for p in extra if p)
    if raw.get(key("stateOrRegion")):
        address["region"] = raw.get(key("stateOrRegion"))
    return {k: v for k, v in address.items() if v is not None}


class OrdersApi2026:
    """``searchOrders`` of the Orders API 2026-01-01."""

    DATASETS = ("BUYER", "RECIPIENT", "PROCEEDS", "FULFILLMENT")

    def __init__(self, client: SpApiClient, marketplace_ids: Sequence[str]) -> None:
        self.client = client
        self.marketplace_ids = list(marketplace_ids)

    async def changed_since(self, since: dt.datetime) -> AsyncIterator[AmazonOrder]:
        params: dict[str, Any] = {
            "lastUpdatedAfter": _iso(since), "marketplaceIds": self.marketplace_ids,
            "fulfilledBy": ["MERCHANT"], "includedData": list(self.DATASETS),
            "maxResultsPerPage": 100}
        while True:
            page = await self.client.call("searchOrders", "GET", "/orders/2026-01-01/orders",
                                          params=params)
            for raw in page.get("orders") or []:
                yield self.parse(raw)
            token = (page.get("pagination") or {}).get("nextToken")
            if not token:
                return
            params = {**params, "paginationToken": token}

    @staticmethod
    def parse(raw: Mapping[str, Any]) -> AmazonOrder:
        items = []
        currency = None
        for item in raw.get("orderItems") or []:
            product = item.get("product") or {}
            unit, currency = _money((product.get("price") or {}).get("unitPrice"))
            discount = shipping = Decimal(0)
            for part in (item.get("proceeds") or {}).get("breakdowns") or []:
                amount, currency_here = _money(part.get("subtotal"))
                currency = currency or currency_here
                if part.get("type") == "SHIPPING":
                    shipping += amount
                elif part.get("type") == "DISCOUNT":
                    details = part.get("detailedBreakdowns") or []
                    on_shipping = sum((_money(d.get("value"))[0] for d in details
                                       if d.get("subtype") == "SHIPPING"), Decimal(0))
                    shipping -= abs(on_shipping)
                    discount += abs(amount) - abs(on_shipping)
            items.append(AmazonItem(
                str(item["orderItemId"]), str(product.get("sellerSku") or ""),
                product.get("title"), int(item.get("quantityOrdered") or 0), unit,
                discount, max(shipping, Decimal(0))))
        buyer = raw.get("buyer") or {}
        fulfillment = raw.get("fulfillment") or {}
        total, total_currency = _money((raw.get("proceeds") or {}).get("grandTotal"))
        return AmazonOrder(
            order_id=str(raw["orderId"]), status=str(fulfillment.get("fulfillmentStatus")
                                                     or "PENDING"),
            fulfilled_by=str(fulfillment.get("fulfilledBy") or "MERCHANT"),
            marketplace_id=(raw.get("salesChannel") or {}).get("marketplaceId"),
            created_at=parse_time(raw["createdTime"]),
            last_updated=parse_time(raw["lastUpdatedTime"]),
            currency=currency or total_currency, items=items,
            buyer_email=buyer.get("buyerEmail"), buyer_name=buyer.get("buyerName"),
            address=_address((raw.get("recipient") or {}).get("deliveryAddress"), v0=False),
            service_level=fulfillment.get("fulfillmentServiceLevel"),
            total=total if total_currency else None)


class OrdersApiV0:
    """``getOrders`` and ``getOrderItems`` of the Orders API v0."""

    def __init__(self, client: SpApiClient, marketplace_ids: Sequence[str]) -> None:
        self.client = client
        self.marketplace_ids = list(marketplace_ids)

    async def changed_since(self, since: dt.datetime) -> AsyncIterator[AmazonOrder]:
        params: dict[str, Any] = {"MarketplaceIds": self.marketplace_ids,
                                  "LastUpdatedAfter": _iso(since),
                                  "FulfillmentChannels": ["MFN"], "MaxResultsPerPage": 100}
        while True:
            answer = await self.client.call("getOrders", "GET", "/orders/v0/orders",
                                            params=params)
            payload = answer.get("payload") or {}
            for raw in payload.get("Orders") or []:
                items = await self._items(str(raw["AmazonOrderId"]))
                yield self.parse(raw, items)
            token = payload.get("NextToken")
            if not token:
                return
            params = {"MarketplaceIds": self.marketplace_ids, "NextToken": token}

    async def _items(self, order_id: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        params: dict[str, Any] = {}
        while True:
            answer = await self.client.call("getOrderItems", "GET",
                                            f"/orders/v0/orders/{order_id}/orderItems",
                                            params=params)
            payload = answer.get("payload") or {}
            found += payload.get("OrderItems") or []
            if not payload.get("NextToken"):
                return found
            params = {"NextToken": payload["NextToken"]}

    @staticmethod
    def parse(raw: Mapping[str, Any], raw_items: Sequence[Mapping[str, Any]]) -> AmazonOrder:
        items = []
        currency = None
        for item in raw_items:
            quantity = int(item.get("QuantityOrdered") or 0)
            price, currency_here = _money(item.get("ItemPrice"))  # price x quantity
            currency = currency or currency_here
            unit = Decimal(0)
            extra = Decimal(0)
            if quantity:
                exponent = price.as_tuple().exponent
                step = Decimal(1).scaleb(exponent if isinstance(exponent, int) else -2)
                unit = (price / quantity).quantize(step, rounding=ROUND_CEILING)
                extra = unit * quantity - price  # rounding up, given back as a discount
            discount = _money(item.get("PromotionDiscount"))[0] + extra
            shipping = (_money(item.get("ShippingPrice"))[0]
                        - _money(item.get("ShippingDiscount"))[0])
            items.append(AmazonItem(str(item["OrderItemId"]), str(item.get("SellerSKU") or ""),
                                    item.get("Title"), quantity, unit, discount,
                                    max(shipping, Decimal(0))))
        buyer = raw.get("BuyerInfo") or {}
        total, total_currency = _money(raw.get("OrderTotal"))
        return AmazonOrder(
            order_id=str(raw["AmazonOrderId"]),
            status=V0_STATUS.get(str(raw.get("OrderStatus")), "PENDING"),
            fulfilled_by="AMAZON" if raw.get("FulfillmentChannel") == "AFN" else "MERCHANT",
            marketplace_id=raw.get("MarketplaceId"),
            created_at=parse_time(raw["PurchaseDate"]),
            last_updated=parse_time(raw["LastUpdateDate"]),
            currency=currency or total_currency, items=items,
            buyer_email=buyer.get("BuyerEmail"), buyer_name=buyer.get("BuyerName"),
            address=_address(raw.get("ShippingAddress"), v0=True),
            service_level=raw.get("ShipmentServiceLevelCategory"),
            total=total if total_currency else None)


def orders_api(version: str, client: SpApiClient, marketplace_ids: Sequence[str]) -> OrdersApi:
    if version == "v0":
        return OrdersApiV0(client, marketplace_ids)
    return OrdersApi2026(client, marketplace_ids)

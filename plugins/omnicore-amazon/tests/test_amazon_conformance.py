"""Every request the suite sends to SP-API is checked against Amazon's models when its test
ends (``vendor_requests`` in conftest). These tests show that the check sees the requests
and refuses what Amazon would refuse."""

from __future__ import annotations

import json

import pytest
from amazon_fake import BE, EU, FR, SELLER, FakeAmazon, order_2026
from conftest import MISSING, _sp_api
from omnicore_amazon import AmazonPlugin

from omnicore import Commerce
from omnicore.testing import ApiConformance, RecordedRequest, RequestRecorder

ITEM = f"{EU}/listings/2021-08-01/items/{SELLER}/TEE-M"
PUT_BODY = {"productType": "SHIRT", "requirements": "LISTING", "attributes": {
    "item_name": [{"value": "Classic tee - M", "language_tag": "fr_FR",
                   "marketplace_id": FR}]}}


@pytest.fixture
def sp_api() -> ApiConformance:
    found = _sp_api()
    if found is None:
        pytest.skip(MISSING)
    return found


def request(method: str, url: str, body: object = None) -> RecordedRequest:
    content = json.dumps(body).encode() if body is not None else b""
    return RecordedRequest(method, url, content, "application/json" if body else None)


async def test_the_requests_of_a_test_are_recorded_and_conform(
        shop: Commerce, plugin: AmazonPlugin, amazon: FakeAmazon,
        vendor_requests: RequestRecorder, sp_api: ApiConformance) -> None:
    await shop.stock.set_levels([{"sku": f"SOCK-{n:02d}", "location": "wh", "on_hand": 4}
                                 for n in range(1, 13)])
    await shop.outbox.drain()
    await plugin.started().stock.flush()
    await plugin.started().stock.poll()
    amazon.order_pages = [{"orders": [order_2026("402-8812345-1234567")]}]
    await plugin.started().orders.sync()

    seen = {(r.method, r.host) for r in vendor_requests.requests}
    assert ("POST", "api.amazon.com") in seen  # the token exchange: recorded, not modelled
    checked = [r for r in vendor_requests.requests if sp_api.concerns(r)]
    operations = {r.path.split("/")[1] for r in checked}
    assert operations >= {"listings", "feeds", "orders"}
    assert sp_api.check(vendor_requests.requests) == []


def test_a_put_for_two_marketplaces_is_refused(sp_api: ApiConformance) -> None:
    """What the plugin used to send for a seller on FR and BE."""
    (problem,) = sp_api.check([request(
        "PUT", f"{ITEM}?marketplaceIds={FR},{BE}&issueLocale=fr_FR", PUT_BODY)])
    assert (problem.operation, problem.where) == ("putListingsItem", "query.marketplaceIds")
    assert "at most 1" in problem.message
    assert sp_api.check([request("PUT", f"{ITEM}?marketplaceIds={FR}", PUT_BODY)]) == []
    (delete,) = sp_api.check([request("DELETE", f"{ITEM}?marketplaceIds={FR},{BE}")])
    assert delete.operation == "deleteListingsItem"
    # PATCH may name several
    patch = {"productType": "SHIRT", "patches": [{"op": "replace", "path": "/attributes/x",
                                                  "value": [{"value": 1}]}]}
    assert sp_api.check([request("PATCH", f"{ITEM}?marketplaceIds={FR},{BE}", patch)]) == []


@pytest.mark.parametrize(("method", "url", "body", "where"), [
    ("PUT", f"{ITEM}?issueLocale=fr_FR", PUT_BODY, "query.marketplaceIds"),  # required
    ("PUT", f"{ITEM}?marketplaceIds={FR}&locale=fr_FR", PUT_BODY, "query.locale"),  # unknown
    ("PUT", f"{ITEM}?marketplaceIds={FR}&mode=DRY_RUN", PUT_BODY, "query.mode"),  # enum
    ("PUT", f"{ITEM}?marketplaceIds={FR}", {"attributes": {}}, "body.productType"),
    ("PUT", f"{ITEM}?marketplaceIds={FR}", {**PUT_BODY, "requirements": "ALL"},
     "body.requirements"),
    ("PATCH", f"{ITEM}?marketplaceIds={FR}", {"productType": "SHIRT", "patches": []},
     "body.patches"),  # minItems 1
    ("PATCH", f"{ITEM}?marketplaceIds={FR}",
     {"productType": "SHIRT", "patches": [{"op": "set", "path": "/attributes/x"}]},
     "body.patches[0].op"),
    ("GET", f"{ITEM}/extra?marketplaceIds={FR}", None, "operation"),  # no such path
    ("POST", f"{EU}/feeds/2021-06-30/feeds",
     {"marketplaceIds": [FR], "inputFeedDocumentId": "doc"}, "body.feedType"),
    ("GET", f"{EU}/orders/2026-01-01/orders?marketplaceIds={FR}&lastUpdatedAfter=yesterday",
     None, "query.lastUpdatedAfter"),  # not a date-time
    ("GET", f"{EU}/orders/2026-01-01/orders?marketplaceIds={FR}"
            "&lastUpdatedAfter=2026-03-02T09:28:00Z&includedData=EVERYTHING",
     None, "query.includedData[0]"),
])
def test_what_amazon_would_refuse_is_a_problem(
        sp_api: ApiConformance, method: str, url: str, body: object, where: str) -> None:
    problems = sp_api.check([request(method, url, body)])
    assert where in [p.where for p in problems], [str(p) for p in problems]
    with pytest.raises(AssertionError, match="does not allow"):
        sp_api.assert_conform([request(method, url, body)])


def test_requests_to_other_hosts_are_not_checked(sp_api: ApiConformance) -> None:
    assert sp_api.check([request("POST", "https://api.amazon.com/auth/o2/token"),
                         request("PUT", "https://tortuga-prod-eu.s3-eu-west-1.amazonaws.com/x",
                                 {"messages": []})]) == []

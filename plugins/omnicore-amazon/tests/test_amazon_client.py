"""The SP-API client: LWA tokens, rate limits, retries, typed errors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import parse_qs

import httpx
import pytest
from amazon_fake import ACCESS_TOKEN, FakeAmazon, error_response
from conftest import CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN, SETTINGS, FakeTime
from omnicore_amazon import (
    AmazonSettings,
    LwaRefused,
    RateLimiter,
    SpApiClient,
    SpApiInvalidInput,
    SpApiNotFound,
    SpApiThrottled,
    SpApiUnavailable,
)

from omnicore import InvalidInput

PATH = "/listings/2021-08-01/items/A2EXAMPLESELLER/TEE-M"
PATCH = {"productType": "SHIRT", "patches": [{
    "op": "replace", "path": "/attributes/fulfillment_availability",
    "value": [{"fulfillment_channel_code": "DEFAULT", "quantity": 3}]}]}


def settings(**changes: object) -> AmazonSettings:
    return AmazonSettings(**{**SETTINGS, "families": {}, **changes})  # type: ignore[arg-type]


@pytest.fixture
async def client(fake_time: FakeTime, amazon: FakeAmazon) -> AsyncIterator[SpApiClient]:
    instance = SpApiClient(settings(retry_base_seconds=0.0), sleep=fake_time.sleep,
                           clock=fake_time.monotonic, jitter=lambda: 0.5)
    yield instance
    await instance.aclose()


async def patch(client: SpApiClient) -> object:
    return await client.call("patchListingsItem", "PATCH", PATH, json=PATCH,
                             params={"marketplaceIds": ["A13V1IB3VIYZZH"]})


async def test_the_refresh_token_is_exchanged_once_and_cached(
        client: SpApiClient, amazon: FakeAmazon, fake_time: FakeTime) -> None:
    await patch(client)
    await patch(client)

    (exchange,) = amazon.token_requests
    assert exchange.headers["content-type"].startswith("application/x-www-form-urlencoded")
    assert parse_qs(exchange.content.decode()) == {
        "grant_type": ["refresh_token"], "refresh_token": [REFRESH_TOKEN],
        "client_id": [CLIENT_ID], "client_secret": [CLIENT_SECRET]}
    for call in amazon.calls["patchListingsItem"]:
        assert call.headers["x-amz-access-token"] == ACCESS_TOKEN
        assert "authorization" not in call.headers

    fake_time.now += 3600 - 61  # still valid, a minute before expiry
    await patch(client)
    assert len(amazon.token_requests) == 1
    fake_time.now += 2  # within the last minute: a new token
    await patch(client)
    assert len(amazon.token_requests) == 2


async def test_a_refused_exchange_names_the_setting_and_never_the_secret(
        client: SpApiClient, amazon: FakeAmazon) -> None:
    amazon.script("token", httpx.Response(400, json={
        "error_description": "The request has an invalid grant parameter : refresh_token",
        "error": "invalid_grant"}))

    with pytest.raises(LwaRefused) as caught:
        await patch(client)

    assert caught.value.field == "plugins.amazon.refresh_token"
    assert "invalid_grant" in str(caught.value)
    for secret in (REFRESH_TOKEN, CLIENT_SECRET):
        assert secret not in str(caught.value)
    assert "patchListingsItem" not in amazon.calls


async def test_a_429_is_retried_after_the_rate_amazon_announced(
        client: SpApiClient, amazon: FakeAmazon, fake_time: FakeTime) -> None:
    amazon.rate_headers["patchListingsItem"] = "0.5"  # less than the documented 5/s
    await patch(client)
    bucket = client.limiter.bucket("patchListingsItem")
    assert bucket.rate == 0.5
    amazon.script("patchListingsItem", error_response(
        429, "QuotaExceeded", "You exceeded your quota for the requested resource."))
    fake_time.sleeps.clear()

    answer = await patch(client)

    assert answer == {"sku": "TEE-M", "status": "ACCEPTED", "issues": [],
                      "submissionId": answer["submissionId"]}  # type: ignore[index]
    assert len(amazon.calls["patchListingsItem"]) == 3
    assert fake_time.sleeps == [2.0]  # one token at 0.5/s, not the documented 0.2 s


async def test_a_bucket_spends_its_burst_then_waits_for_tokens(fake_time: FakeTime) -> None:
    limiter = RateLimiter(sleep=fake_time.sleep, clock=fake_time.monotonic)
    for _ in range(15):  # createFeed: 0.0083/s, burst 15
        await limiter.acquire("createFeed")
    assert fake_time.sleeps == []
    await limiter.acquire("createFeed")
    assert fake_time.sleeps == [pytest.approx(1 / 0.0083)]
    with pytest.raises(SpApiThrottled) as caught:
        await limiter.acquire("createFeed", max_wait=30)
    assert caught.value.retry_after == pytest.approx(1 / 0.0083)


async def test_5xx_are_retried_with_back_off_then_raised(
        fake_time: FakeTime, amazon: FakeAmazon) -> None:
    client = SpApiClient(settings(retry_base_seconds=1.0), sleep=fake_time.sleep,
                         clock=fake_time.monotonic, jitter=lambda: 0.5)
    amazon.script("patchListingsItem", *[error_response(
        503, "ServiceUnavailable", "Service temporarily unavailable.")] * 3)
    try:
        with pytest.raises(SpApiUnavailable) as caught:
            await patch(client)
    finally:
        await client.aclose()
    assert len(amazon.calls["patchListingsItem"]) == 3  # max_retries 2
    assert fake_time.sleeps == [1.0, 2.0]
    assert caught.value.retryable and caught.value.status == 503
    assert caught.value.codes == ["ServiceUnavailable"]


async def test_errors_are_typed_with_amazon_s_codes(
        client: SpApiClient, amazon: FakeAmazon) -> None:
    amazon.script("patchListingsItem", error_response(
        400, "InvalidInput", "Request has missing or invalid parameters and cannot be parsed.",
        "marketplaceIds is required"))
    with pytest.raises(SpApiInvalidInput) as invalid:
        await patch(client)
    assert invalid.value.errors[0].details == "marketplaceIds is required"
    assert invalid.value.plugin == "amazon" and not invalid.value.retryable
    assert "InvalidInput" in str(invalid.value)

    amazon.script("getFeedDocument", error_response(
        404, "NotFound", "The requested resource was not found."))
    with pytest.raises(SpApiNotFound):
        await client.call("getFeedDocument", "GET", "/feeds/2021-06-30/documents/gone")


async def test_an_expired_token_is_exchanged_again_once(
        client: SpApiClient, amazon: FakeAmazon) -> None:
    amazon.script("patchListingsItem", error_response(
        403, "Unauthorized", "Access to requested resource is denied.",
        "The access token you provided has expired."))
    await patch(client)
    assert len(amazon.token_requests) == 2
    assert len(amazon.calls["patchListingsItem"]) == 2


async def test_no_answer_is_retried_then_unavailable(
        client: SpApiClient, amazon: FakeAmazon) -> None:
    amazon.script("getFeedDocument", *[httpx.ConnectTimeout("timed out")] * 3)
    with pytest.raises(SpApiUnavailable) as caught:
        await client.call("getFeedDocument", "GET", "/feeds/2021-06-30/documents/slow")
    assert len(amazon.calls["getFeedDocument"]) == 3
    assert "ConnectTimeout" in str(caught.value)


async def test_api_base_and_lwa_token_url_point_the_plugin_at_a_local_server() -> None:
    import respx

    local = "http://127.0.0.1:8999"
    with respx.mock(assert_all_called=True) as router:
        token = router.post(f"{local}/auth/o2/token").mock(return_value=httpx.Response(
            200, json={"access_token": ACCESS_TOKEN, "token_type": "bearer",
                       "expires_in": 3600, "refresh_token": REFRESH_TOKEN}))
        item = router.get(f"{local}/listings/2021-08-01/items/A2EXAMPLESELLER/TEE-M").mock(
            return_value=httpx.Response(200, json={"sku": "TEE-M"}))
        client = SpApiClient(settings(api_base=f"{local}/",
                                      lwa_token_url=f"{local}/auth/o2/token"))
        try:
            assert client.base_url == local
            found = await client.call("getListingsItem", "GET",
                                      "/listings/2021-08-01/items/A2EXAMPLESELLER/TEE-M")
        finally:
            await client.aclose()
    assert found == {"sku": "TEE-M"}
    assert token.call_count == 1
    assert item.calls.last.request.headers["x-amz-access-token"] == ACCESS_TOKEN


@pytest.mark.parametrize(("key", "value"), [
    ("api_base", "http://sellingpartnerapi-eu.example.com"),   # http off loopback
    ("api_base", "https://127.0.0.1:8999/some/path"),         # an origin has no path
    ("api_base", "ftp://127.0.0.1"),
    ("lwa_token_url", "http://api.example.com/auth/o2/token"),
    ("lwa_token_url", "not a url"),
])
def test_local_endpoints_must_be_https_or_loopback(key: str, value: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        settings(**{key: value})
    assert refused.value.field == key


def test_api_base_and_sandbox_are_exclusive() -> None:
    with pytest.raises(InvalidInput) as refused:
        settings(api_base="https://proxy.internal", sandbox=True)
    assert refused.value.field == "sandbox"


async def test_the_sandbox_and_the_region_choose_the_endpoint() -> None:
    eu = SpApiClient(settings())
    sandbox = SpApiClient(settings(sandbox=True))
    us = SpApiClient(settings(marketplace_ids=["US", "CA"]))
    try:
        assert eu.base_url == "https://sellingpartnerapi-eu.amazon.com"
        assert sandbox.base_url == "https://sandbox.sellingpartnerapi-eu.amazon.com"
        assert us.base_url == "https://sellingpartnerapi-na.amazon.com"
    finally:
        for client in (eu, sandbox, us):
            await client.aclose()


async def test_secrets_and_tokens_never_reach_the_logs(
        client: SpApiClient, amazon: FakeAmazon, caplog: pytest.LogCaptureFixture) -> None:
    import logging

    caplog.set_level(logging.DEBUG)
    amazon.script("patchListingsItem", error_response(
        503, "ServiceUnavailable", "Service temporarily unavailable."))
    await patch(client)
    amazon.script("token", httpx.Response(400, json={
        "error": "invalid_grant",
        "error_description": f"refresh token {REFRESH_TOKEN} was revoked"}))
    client.auth.invalidate()
    with pytest.raises(LwaRefused) as caught:
        await patch(client)

    logged = caplog.text + str(caught.value)
    assert "retry 1 of 2" in caplog.text
    for secret in (REFRESH_TOKEN, CLIENT_SECRET, ACCESS_TOKEN):
        assert secret not in logged
    assert "[redacted]" in str(caught.value)

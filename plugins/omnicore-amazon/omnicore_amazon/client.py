"""A small SP-API client over httpx: LWA tokens, rate limits, retries, typed failures.

* The origin is the region's (``https://sellingpartnerapi-eu.amazon.com`` …), or its
  static sandbox when ``sandbox`` is set.
* Every call names its operation (``patchListingsItem``): the operation's token
  bucket is taken before the call and follows ``x-amzn-RateLimit-Limit`` after it.
* 429, 5xx and network failures are retried ``max_retries`` times with exponential
  back-off and jitter (at least ``Retry-After`` when Amazon sends one, at least a
  token's time after a 429); a 401/403 is retried once with a fresh access token.
  What is left is raised as a typed ``SpApiError`` (``omnicore_amazon.errors``).
* Array parameters are comma-delimited, as SP-API expects (``marketplaceIds=A,B``).
* Nothing logged or raised carries the access token or a secret.
"""

from __future__ import annotations

import asyncio
import gzip
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import httpx

from omnicore_amazon.auth import LwaAuth
from omnicore_amazon.errors import (
    SpApiError,
    SpApiThrottled,
    SpApiUnauthorized,
    SpApiUnavailable,
    error_from_response,
)
from omnicore_amazon.marketplaces import endpoint
from omnicore_amazon.ratelimit import RateLimiter
from omnicore_amazon.settings import AmazonSettings

__all__ = ["SpApiClient"]

log = logging.getLogger("omnicore_amazon")

USER_AGENT = "omnicore-amazon/0.1.0 (Language=Python)"
Sleep = Callable[[float], Awaitable[None]]


def _query(params: Mapping[str, Any] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in (params or {}).items():
        if value is None:
            continue
        if isinstance(value, list | tuple):
            out[key] = ",".join(str(v) for v in value)
        elif isinstance(value, bool):
            out[key] = "true" if value else "false"
        else:
            out[key] = str(value)
    return out


def _retry_after(response: httpx.Response) -> float:
    try:
        return max(0.0, float(response.headers.get("retry-after", "0")))
    except ValueError:
        return 0.0


class SpApiClient:
    """One ``httpx.AsyncClient`` towards the region's SP-API endpoint."""

    def __init__(self, settings: AmazonSettings, *, sleep: Sleep | None = None,
                 clock: Callable[[], float] | None = None,
                 jitter: Callable[[], float] | None = None,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.settings = settings
        self.base_url = (settings.api_base or "").rstrip("/") or endpoint(
            settings.api_region, sandbox=settings.sandbox)
        self._sleep = sleep or asyncio.sleep
        self._jitter = jitter or random.random
        self._http = httpx.AsyncClient(timeout=httpx.Timeout(settings.timeout_seconds),
                                       transport=transport,
                                       headers={"user-agent": USER_AGENT})
        clock = clock or time.monotonic
        self.auth = LwaAuth(settings, self._http, clock=clock, sleep=self._sleep)
        self.limiter = RateLimiter(sleep=self._sleep, clock=clock)

    async def aclose(self) -> None:
        await self._http.aclose()

    def _backoff(self, attempt: int) -> float:
        settings = self.settings
        raw = min(settings.retry_max_seconds, settings.retry_base_seconds * 2.0 ** attempt)
        return float(raw * (0.8 + 0.4 * self._jitter()))

    async def call(self, operation: str, method: str, path: str, *,
                   params: Mapping[str, Any] | None = None, json: Any = None,
                   max_wait: float | None = None) -> Any:
        """Call ``operation``; the decoded JSON answer (None for 204), or a typed error.

        :param max_wait: the longest a rate-limit wait may take before ``SpApiThrottled``
            is raised instead (None: wait as long as needed).
        """
        attempts = self.settings.max_retries + 1
        renewed = False
        last: SpApiError | None = None
        attempt = 0
        while attempt < attempts:
            await self.limiter.acquire(operation, max_wait=max_wait)
            token = await self.auth.token()
            try:
                response = await self._http.request(
                    method, f"{self.base_url}{path}", params=_query(params), json=json,
                    headers={"x-amz-access-token": token, "accept": "application/json"})
            except httpx.TransportError as exc:
                last = SpApiUnavailable(f"no answer from Amazon ({type(exc).__name__})",
                                        operation=operation)
                attempt += 1
                if attempt < attempts and self._backoff(attempt - 1) > 0:
                    await self._sleep(self._backoff(attempt - 1))
                continue
            self.limiter.observe(operation, response.headers.get("x-amzn-RateLimit-Limit"))
            if response.is_success:
                return response.json() if response.content else None
            error = error_from_response(response, operation, self.settings.secrets())
            if isinstance(error, SpApiUnauthorized) and not renewed:
                renewed = True  # an access token revoked or expired early: exchange again
                self.auth.invalidate()
                continue
            if not error.retryable:
                raise error
            last = error
            attempt += 1
            if attempt >= attempts:
                break
            if isinstance(error, SpApiThrottled):
                self.limiter.throttled(operation)  # the next acquire waits a token's time
            delay = max(_retry_after(response), self._backoff(attempt - 1))
            log.info("%s answered HTTP %s; retry %d of %d in %.1f s", operation,
                     response.status_code, attempt, attempts - 1, delay)
            if delay > 0:
                await self._sleep(delay)
        assert last is not None
        raise last

    async def upload(self, url: str, content: bytes, content_type: str) -> None:
        """PUT a feed document to the pre-signed URL ``createFeedDocument`` gave."""
        await self._transfer("upload feed document", "PUT", url, content=content,
                             headers={"content-type": content_type})

    async def download(self, url: str, compression: str | None = None) -> bytes:
        """GET a document from its pre-signed URL, decompressed when it is GZIP."""
        content = await self._transfer("download feed document", "GET", url)
        return gzip.decompress(content) if compression == "GZIP" else content

    async def _transfer(self, what: str, method: str, url: str, **kwargs: Any) -> bytes:
        attempts = self.settings.max_retries + 1
        for attempt in range(attempts):
            try:
                response = await self._http.request(method, url, **kwargs)
            except httpx.TransportError as exc:
                failure = f"no answer ({type(exc).__name__})"
            else:
                if response.is_success:
                    return response.content
                if response.status_code < 500 and response.status_code != 429:
                    # a pre-signed URL lives five minutes: the caller starts over
                    raise SpApiUnavailable(f"HTTP {response.status_code} from the document "
                                           "store", operation=what, status=response.status_code)
                failure = f"HTTP {response.status_code}"
            if attempt + 1 < attempts:
                await self._sleep(self._backoff(attempt))
        raise SpApiUnavailable(f"the document store failed: {failure}", operation=what)

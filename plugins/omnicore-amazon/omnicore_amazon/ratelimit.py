"""Token buckets, one per SP-API operation, as Amazon's usage plans describe them.

SP-API limits each operation with a token bucket of ``rate`` requests per second
and ``burst`` tokens. The buckets start from the documented defaults below (the
"Usage Plan" table of each operation in Amazon's models) and follow the
``x-amzn-RateLimit-Limit`` header of every answer: Amazon may grant a seller more
(or less) than the default. A 429 empties the bucket, so the next call waits a
full token's time.

A caller that must not wait long (an event handler on the dispatcher) passes
``max_wait``: when the next token is further away, ``SpApiThrottled`` is raised
at once, with ``retry_after``, instead of blocking.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import attrs

from omnicore_amazon.errors import SpApiThrottled

__all__ = ["DOCUMENTED_RATES", "RateLimiter", "TokenBucket"]

Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], float]

#: operation → (requests per second, burst), from the usage plans in Amazon's models.
DOCUMENTED_RATES: dict[str, tuple[float, int]] = {
    # Listings Items API 2021-08-01
    "getListingsItem": (5.0, 10),
    "putListingsItem": (5.0, 10),
    "patchListingsItem": (5.0, 5),
    "deleteListingsItem": (5.0, 5),
    "searchListingsItems": (5.0, 5),
    # Feeds API 2021-06-30
    "createFeedDocument": (0.5, 15),
    "createFeed": (0.0083, 15),
    "getFeed": (2.0, 15),
    "getFeeds": (0.0222, 10),
    "cancelFeed": (2.0, 15),
    "getFeedDocument": (0.0222, 10),
    # Orders API 2026-01-01
    "searchOrders": (0.0056, 20),
    "getOrder": (0.5, 30),
    # Orders API v0
    "getOrders": (0.0167, 20),
    "getOrderItems": (0.5, 30),
    "confirmShipment": (2.0, 10),
}
FALLBACK_RATE = (1.0, 1)
EPSILON = 1e-6


@attrs.define
class TokenBucket:
    """``rate`` tokens per second up to ``burst``; a request takes one."""

    rate: float
    burst: float
    tokens: float
    updated: float

    def refill(self, now: float) -> None:
        if now > self.updated:
            self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = max(self.updated, now)

    def wait_time(self, now: float) -> float:
        """Seconds until a token is free (0 when one is)."""
        self.refill(now)
        if self.tokens >= 1 - EPSILON:  # float arithmetic must not leave 0.9999… forever
            return 0.0
        return (1 - self.tokens) / self.rate

    def take(self, now: float) -> None:
        self.refill(now)
        self.tokens -= 1


class RateLimiter:
    """The buckets of one seller's application (one per operation)."""

    def __init__(self, *, sleep: Sleep | None = None, clock: Clock | None = None) -> None:
        self._sleep = sleep or asyncio.sleep
        self._clock = clock or time.monotonic
        self._buckets: dict[str, TokenBucket] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def bucket(self, operation: str) -> TokenBucket:
        found = self._buckets.get(operation)
        if found is None:
            rate, burst = DOCUMENTED_RATES.get(operation, FALLBACK_RATE)
            found = TokenBucket(rate, float(burst), float(burst), self._clock())
            self._buckets[operation] = found
        return found

    async def acquire(self, operation: str, *, max_wait: float | None = None) -> float:
        """Take a token for ``operation``, waiting for one; returns the seconds waited."""
        lock = self._locks.setdefault(operation, asyncio.Lock())
        waited = 0.0
        async with lock:
            bucket = self.bucket(operation)
            while True:
                delay = bucket.wait_time(self._clock())
                if delay <= 0:
                    bucket.take(self._clock())
                    return waited
                if max_wait is not None and waited + delay > max_wait:
                    raise SpApiThrottled(
                        f"the {operation} rate limit ({bucket.rate:g}/s) leaves no request "
                        f"for {delay:.0f} s", operation=operation, retry_after=delay)
                await self._sleep(delay)
                waited += delay

    def observe(self, operation: str, header: str | None) -> None:
        """Follow the rate Amazon applied (``x-amzn-RateLimit-Limit``)."""
        if not header:
            return
        try:
            rate = float(header)
        except ValueError:
            return
        if rate > 0:
            bucket = self.bucket(operation)
            bucket.refill(self._clock())
            bucket.rate = rate

    def throttled(self, operation: str) -> float:
        """Amazon answered 429: the bucket is empty; returns the seconds to the next token."""
        bucket = self.bucket(operation)
        bucket.refill(self._clock())
        bucket.tokens = min(bucket.tokens, 0.0)
        return bucket.wait_time(self._clock())

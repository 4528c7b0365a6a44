"""A small client for Stripe's REST API over httpx: form bodies, retries, typed failures.

* Bodies are ``application/x-www-form-urlencoded`` with Stripe's bracket nesting
  (``metadata[order_number]=…``, ``expand[]=…``), built by ``encode``.
* Every POST carries the caller's ``Idempotency-Key``; a retry re-sends the very same
  body under the same key, so Stripe answers it with the first result.
* Retries follow Stripe's guidance: ``Stripe-Should-Retry`` decides when present;
  otherwise network errors, 409, 429 and 5xx are retried — never another 4xx —
  with exponential back-off and jitter, waiting at least ``Retry-After``.
* Failures are raised as ``StripeError`` (what Stripe said) or ``StripeUnreachable``;
  ``omnicore_stripe.errors`` turns them into omnicore's typed errors. Neither ever
  carries the API key.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email.utils
import logging
import random
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import urlencode

import httpx

from omnicore_stripe.settings import StripeSettings

__all__ = ["StripeClient", "StripeError", "StripeUnreachable", "encode", "scrub"]

log = logging.getLogger("omnicore_stripe")

USER_AGENT = "omnicore-stripe/0.1.0"
BACKOFF_INITIAL_SECONDS = 0.5
BACKOFF_MAX_SECONDS = 8.0
_SECRETS = re.compile(r"\b(?:sk|rk|whsec)_[0-9A-Za-z_+/=]+")

Sleep = Callable[[float], Awaitable[None]]


def scrub(text: str) -> str:
    """``text`` with anything shaped like a Stripe secret replaced by ``[redacted]``."""
    return _SECRETS.sub("[redacted]", text)


def _flatten(prefix: str, value: Any, out: list[tuple[str, str]]) -> None:
    if value is None:
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            _flatten(f"{prefix}[{key}]" if prefix else str(key), item, out)
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            nested = isinstance(item, Mapping | list | tuple)
            _flatten(f"{prefix}[{index}]" if nested else f"{prefix}[]", item, out)
    elif isinstance(value, bool):
        out.append((prefix, "true" if value else "false"))
    else:
        out.append((prefix, str(value)))


def encode(params: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Stripe's form encoding: ``{"metadata": {"a": 1}, "expand": ["x"]}`` →
    ``[("metadata[a]", "1"), ("expand[]", "x")]``; None is left out, booleans are
    ``true``/``false``, lists of objects are indexed (``items[0][price]``)."""
    out: list[tuple[str, str]] = []
    _flatten("", params, out)
    return out


class StripeError(Exception):
    """Stripe answered with an error (after any retries): what its ``error`` object said."""

    def __init__(self, status: int, error: Mapping[str, Any], *, request_id: str | None,
                 retryable: bool) -> None:
        self.status = status
        self.type = str(error.get("type") or "api_error")
        self.code = error.get("code") or None
        self.decline_code = error.get("decline_code") or None
        self.param = error.get("param") or None
        self.stripe_message = scrub(str(error.get("message") or "")) or None
        self.payment_intent = error.get("payment_intent")
        self.request_id = request_id
        self.retryable = retryable
        super().__init__(f"Stripe {status} {self.type}"
                         f"{f' ({self.code})' if self.code else ''}: {self.stripe_message}")


class StripeUnreachable(Exception):
    """No answer from Stripe (connection refused, timeout …) after every retry."""


class StripeClient:
    """One ``httpx.AsyncClient`` towards ``api_base``/v1, authenticated with the secret key."""

    def __init__(self, settings: StripeSettings, *, sleep: Sleep | None = None,
                 jitter: Callable[[], float] | None = None,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._settings = settings
        self._sleep = sleep or asyncio.sleep
        self._jitter = jitter or random.random
        self._http = httpx.AsyncClient(
            base_url=f"{settings.api_base}/v1",
            timeout=httpx.Timeout(settings.timeout_seconds),
            transport=transport,
            headers={"Stripe-Version": settings.api_version, "User-Agent": USER_AGENT},
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def post(self, path: str, params: Mapping[str, Any], *, idempotency_key: str
                   ) -> dict[str, Any]:
        """POST ``params`` form-encoded under ``idempotency_key`` (≤ 255 characters)."""
        if not idempotency_key or len(idempotency_key) > 255:
            raise ValueError("a Stripe Idempotency-Key is 1 to 255 characters long")
        return await self._send("POST", path, encode(params), idempotency_key)

    async def get(self, path: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        return await self._send("GET", path, encode(params or {}), None)

    # -- the retry loop --------------------------------------------------------------------

    async def _send(self, method: str, path: str, pairs: list[tuple[str, str]],
                    idempotency_key: str | None) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self._settings.secret_key}"}
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        body = urlencode(pairs) if method == "POST" else None
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        attempts = self._settings.max_retries + 1
        for attempt in range(attempts):
            last = attempt + 1 == attempts
            try:
                response = await self._http.request(
                    method, path, content=body,
                    params=urlencode(pairs) if method == "GET" else None,
                    headers=headers)
            except httpx.TransportError as exc:
                if last:
                    raise StripeUnreachable(
                        f"no answer from Stripe to {method} {path} after {attempts} "
                        f"attempt(s): {type(exc).__name__}") from None
                delay = self._backoff(attempt)
                log.warning("Stripe %s %s failed (%s); retrying in %.1f s (attempt %d of %d)",
                            method, path, type(exc).__name__, delay, attempt + 2, attempts)
                await self._sleep(delay)
                continue
            if response.status_code < 300:
                return _json(response)
            error = _error_body(response)
            retry, wait = self._retry_decision(response, error, attempt)
            if retry and not last and wait is not None:
                log.warning("Stripe %s %s answered %d%s; retrying in %.1f s (attempt %d of %d)",
                            method, path, response.status_code,
                            f" {error.get('code')}" if error.get("code") else "", wait,
                            attempt + 2, attempts)
                await self._sleep(wait)
                continue
            raise StripeError(response.status_code, error,
                              request_id=response.headers.get("request-id"), retryable=retry)
        raise AssertionError("unreachable")  # pragma: no cover

    def _backoff(self, attempt: int) -> float:
        """Exponential back-off with jitter: 0.5 s, 1 s, 2 s … capped, each x [0.5, 1)."""
        delay = min(BACKOFF_MAX_SECONDS, BACKOFF_INITIAL_SECONDS * 2.0 ** attempt)
        return max(BACKOFF_INITIAL_SECONDS / 2, delay * (0.5 + self._jitter() / 2))

    def _retry_decision(self, response: httpx.Response, error: Mapping[str, Any],
                        attempt: int) -> tuple[bool, float | None]:
        """``(retryable, seconds to wait)``; the wait is None when Retry-After is too long."""
        should = response.headers.get("stripe-should-retry")
        status = response.status_code
        if should is not None:
            retry = should.strip().lower() == "true"
        elif error.get("type") == "idempotency_error":
            retry = False  # the same key with other parameters: retrying cannot help
        else:
            retry = status in (409, 429) or status >= 500
        if not retry:
            return False, None
        wait = self._backoff(attempt)
        after = _retry_after(response.headers.get("retry-after"))
        if after is not None:
            if after > self._settings.max_retry_after_seconds:
                return True, None
            wait = max(wait, after)
        return True, wait


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds())


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        raise StripeError(response.status_code, {"type": "api_error",
                                                 "message": "Stripe answered with malformed JSON"},
                          request_id=response.headers.get("request-id"), retryable=False
                          ) from None
    if not isinstance(data, dict):
        raise StripeError(response.status_code, {"type": "api_error",
                                                 "message": "Stripe answered with a non-object"},
                          request_id=response.headers.get("request-id"), retryable=False)
    return data


def _error_body(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        data = None
    if isinstance(data, dict) and isinstance(data.get("error"), dict):
        return dict(data["error"])
    kind = "api_error" if response.status_code >= 500 else "invalid_request_error"
    return {"type": kind, "message": f"HTTP {response.status_code} without an error object"}

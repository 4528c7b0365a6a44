"""Login with Amazon: the refresh token exchanged for an access token, cached.

Every SP-API call carries an LWA access token in ``x-amz-access-token``. It is
obtained with the ``refresh_token`` grant (``grant_type``, ``refresh_token``,
``client_id``, ``client_secret``, form-encoded) and lives ``expires_in`` seconds
(an hour); it is reused until ``REFRESH_MARGIN`` seconds before it expires, and one
exchange serves every concurrent caller. A 401 from SP-API drops it
(``invalidate``) so the next call gets a fresh one.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import httpx

from omnicore_amazon.errors import LwaRefused, SpApiUnavailable, scrub
from omnicore_amazon.settings import AmazonSettings

__all__ = ["REFRESH_MARGIN", "LwaAuth"]

#: Seconds before its expiry when a cached access token is replaced.
REFRESH_MARGIN = 60.0
OPERATION = "LWA token exchange"


class LwaAuth:
    """Access tokens for one application and one seller's refresh token."""

    def __init__(self, settings: AmazonSettings, http: httpx.AsyncClient, *,
                 clock: Callable[[], float] | None = None,
                 sleep: Callable[[float], Awaitable[None]] | None = None) -> None:
        self._settings = settings
        self._http = http
        self._clock = clock or time.monotonic
        self._sleep = sleep or asyncio.sleep
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = asyncio.Lock()
        self.exchanges = 0

    def invalidate(self) -> None:
        self._token = None

    async def token(self) -> str:
        """A valid access token, exchanged only when the cached one is about to expire."""
        if self._token is not None and self._clock() < self._expires_at - REFRESH_MARGIN:
            return self._token
        async with self._lock:
            if self._token is not None and self._clock() < self._expires_at - REFRESH_MARGIN:
                return self._token
            token, lifetime = await self._exchange()
            self._token, self._expires_at = token, self._clock() + lifetime
            return token

    async def _exchange(self) -> tuple[str, float]:
        settings = self._settings
        form = {"grant_type": "refresh_token", "refresh_token": settings.refresh_token,
                "client_id": settings.client_id, "client_secret": settings.client_secret}
        attempts = settings.max_retries + 1
        for attempt in range(attempts):
            try:
                response = await self._http.post(
                    settings.lwa_token_url, data=form,
                    headers={"content-type": "application/x-www-form-urlencoded;charset=UTF-8"})
            except httpx.TransportError as exc:
                if attempt + 1 == attempts:
                    raise SpApiUnavailable(f"Login with Amazon unreachable: "
                                           f"{type(exc).__name__}", operation=OPERATION) from None
                await self._sleep(settings.retry_base_seconds * 2 ** attempt)
                continue
            if response.status_code == 200:
                return self._read(response)
            if response.status_code >= 500 or response.status_code == 429:
                if attempt + 1 == attempts:
                    raise SpApiUnavailable(f"Login with Amazon failed (HTTP "
                                           f"{response.status_code})", operation=OPERATION)
                await self._sleep(settings.retry_base_seconds * 2 ** attempt)
                continue
            raise self._refused(response)
        raise AssertionError("unreachable")

    def _read(self, response: httpx.Response) -> tuple[str, float]:
        try:
            data = response.json()
            token = data["access_token"]
            lifetime = float(data.get("expires_in") or 3600)
        except (ValueError, KeyError, TypeError):
            raise LwaRefused("Login with Amazon answered without an access token",
                             operation=OPERATION) from None
        if not isinstance(token, str) or not token:
            raise LwaRefused("Login with Amazon answered without an access token",
                             operation=OPERATION)
        self.exchanges += 1
        return token, lifetime

    def _refused(self, response: httpx.Response) -> LwaRefused:
        try:
            data = response.json()
        except ValueError:
            data = {}
        error = str(data.get("error") or f"HTTP {response.status_code}")
        description = scrub(str(data.get("error_description") or ""), self._settings.secrets())
        field = "client_secret" if error in ("invalid_client", "unauthorized_client") else (
            "refresh_token" if error == "invalid_grant" else None)
        hint = f"; check plugins.amazon.{field}" if field else ""
        return LwaRefused(f"Login with Amazon refused the token exchange ({error}"
                          f"{': ' + description if description else ''}){hint}",
                          operation=OPERATION, status=response.status_code,
                          field=f"plugins.amazon.{field}" if field else None)

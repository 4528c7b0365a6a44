"""SP-API failures as typed errors.

Every SP-API operation answers a failure with ``{"errors": [{"code", "message",
"details"}]}``. ``error_from_response`` reads it into one of these classes — all
``PluginError``s naming ``amazon``, so whatever reaches omnicore (an event handler,
a CLI command) is reported as the plugin's failure:

* 400, 413, 415, 422 → ``SpApiInvalidInput``: not retried; an event handler
  records it and acknowledges the event.
* 401, 403 → ``SpApiUnauthorized``: retried once with a fresh access token.
* 404 → ``SpApiNotFound``: not retried; recorded.
* 429 → ``SpApiThrottled`` and 5xx or no answer → ``SpApiUnavailable``: retried
  with back-off by the client, then raised — the outbox retries the event later.
* LWA refusing the token exchange → ``LwaRefused`` (names the setting to check).

Messages never carry a token or a secret: ``scrub`` removes anything shaped like
an LWA token or client secret, and the settings' own secrets by value.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

import attrs
import httpx

from omnicore import PluginError

__all__ = [
    "PLUGIN",
    "LwaRefused",
    "SpApiError",
    "SpApiErrorDetail",
    "SpApiInvalidInput",
    "SpApiNotFound",
    "SpApiThrottled",
    "SpApiUnauthorized",
    "SpApiUnavailable",
    "error_from_response",
    "parse_errors",
    "scrub",
]

PLUGIN = "amazon"
_TOKENS = re.compile(r"(Atz[a-z]\|[^\s\"',&]+|amzn1\.oa2-cs\.v1\.[0-9A-Za-z]+)")


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` without LWA tokens, client secrets or any of ``secrets``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    return _TOKENS.sub("[redacted]", text)


@attrs.frozen
class SpApiErrorDetail:
    """One entry of SP-API's ``errors`` array."""

    code: str
    message: str
    details: str | None = None


class SpApiError(PluginError):
    """An SP-API call failed; ``errors`` holds what Amazon said."""

    retryable = False

    def __init__(self, message: str, *, operation: str, status: int | None = None,
                 errors: Iterable[SpApiErrorDetail] = (), request_id: str | None = None,
                 field: str | None = None) -> None:
        self.operation = operation
        self.status = status
        self.errors = list(errors)
        self.request_id = request_id
        suffix = f" (request {request_id})" if request_id else ""
        super().__init__(f"{operation}: {message}{suffix}", plugin=PLUGIN, field=field)

    @property
    def codes(self) -> list[str]:
        return [e.code for e in self.errors]


class SpApiInvalidInput(SpApiError):
    """Amazon refused what was sent (400 and kin): retrying the same call cannot help."""


class SpApiUnauthorized(SpApiError):
    """401 / 403: the token, the application's roles or the seller's authorization."""


class SpApiNotFound(SpApiError):
    """404: the order, listing, feed or document does not exist (for this seller)."""


class SpApiThrottled(SpApiError):
    """429, or a rate-limit wait longer than allowed: try again later."""

    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class SpApiUnavailable(SpApiError):
    """5xx, a timeout or no connection, after every retry: try again later."""

    retryable = True


class LwaRefused(SpApiError):
    """Login with Amazon refused to exchange the refresh token."""


def parse_errors(body: bytes, secrets: Iterable[str] = ()) -> list[SpApiErrorDetail]:
    """The ``errors`` array of an SP-API error body (empty when it is not one)."""
    try:
        data = json.loads(body or b"{}")
    except ValueError:
        return []
    raw = data.get("errors") if isinstance(data, dict) else None
    if not isinstance(raw, list):
        return []
    secrets = tuple(secrets)
    found = []
    for item in raw:
        if isinstance(item, dict):
            details = item.get("details")
            found.append(SpApiErrorDetail(
                str(item.get("code") or "Unknown"),
                scrub(str(item.get("message") or ""), secrets),
                scrub(str(details), secrets) if details else None))
    return found


def error_from_response(response: httpx.Response, operation: str,
                        secrets: Iterable[str] = ()) -> SpApiError:
    """The typed error for a non-2xx SP-API response."""
    status = response.status_code
    errors = parse_errors(response.content, secrets)
    request_id = response.headers.get("x-amzn-RequestId")
    said = "; ".join(f"{e.code}: {e.message}" + (f" ({e.details})" if e.details else "")
                     for e in errors) or f"HTTP {status}"
    kwargs: dict[str, Any] = {"operation": operation, "status": status, "errors": errors,
                              "request_id": request_id}
    if status == 429:
        return SpApiThrottled(f"rate limited by Amazon: {said}", **kwargs)
    if status >= 500:
        return SpApiUnavailable(f"Amazon failed (HTTP {status}): {said}", **kwargs)
    if status in (401, 403):
        return SpApiUnauthorized(
            f"not authorized (HTTP {status}): {said}; check the application's roles and the "
            "seller's authorization (plugins.amazon.refresh_token)", **kwargs)
    if status == 404:
        return SpApiNotFound(said, **kwargs)
    return SpApiInvalidInput(f"refused (HTTP {status}): {said}", **kwargs)

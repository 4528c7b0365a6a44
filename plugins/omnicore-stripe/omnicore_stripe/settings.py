"""``[plugins.stripe]``: the plugin's settings, validated when a ``Commerce`` opens.

Secrets are checked for their shape only, and never echoed: a malformed key is
refused with a message that says what is wrong without repeating the value, and
``repr(settings)`` leaves both secrets out.
"""

from __future__ import annotations

import re
from typing import Any

import attrs

from omnicore import InvalidInput

__all__ = ["DEFAULT_API_VERSION", "StripeSettings"]

#: The Stripe API version every request is pinned to (``Stripe-Version``). Webhook
#: payloads are rendered in the version of the *endpoint*: create it with the same one.
DEFAULT_API_VERSION = "2025-08-27.basil"

_SECRET_KEY = re.compile(r"(sk|rk)_(test|live)_[0-9A-Za-z]{10,247}")
_WEBHOOK_SECRET = re.compile(r"whsec_[0-9A-Za-z+/=]{16,250}")
_API_VERSION = re.compile(r"\d{4}-\d{2}-\d{2}(\.[a-z]+)?")
_API_BASE = re.compile(r"https://[^\s/?#]+|http://(localhost|127\.0\.0\.1)(:\d+)?")


def _check_secret_key(_: Any, __: Any, value: Any) -> None:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput("is required: the Stripe secret key (sk_live_…, sk_test_…) or a "
                           "restricted key (rk_…)", field="secret_key")
    if value.startswith("pk_"):
        raise InvalidInput("is a publishable key (pk_…); the server needs the secret key "
                           "(sk_…) or a restricted key (rk_…)", field="secret_key")
    if value.startswith("whsec_"):
        raise InvalidInput("is a webhook signing secret; it belongs in webhook_secret",
                           field="secret_key")
    if not _SECRET_KEY.fullmatch(value):
        raise InvalidInput("is malformed: expected sk_live_…, sk_test_…, rk_live_… or rk_test_… "
                           "followed by letters and digits only (no spaces or quotes)",
                           field="secret_key")


def _check_webhook_secret(_: Any, __: Any, value: Any) -> None:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput("is required: the signing secret (whsec_…) of the webhook endpoint",
                           field="webhook_secret")
    if not _WEBHOOK_SECRET.fullmatch(value):
        raise InvalidInput("is malformed: expected whsec_ followed by the endpoint's signing "
                           "secret (no spaces or quotes)", field="webhook_secret")


def _check_api_version(_: Any, __: Any, value: str) -> None:
    if not _API_VERSION.fullmatch(value):
        raise InvalidInput(f"{value!r} is not a Stripe API version such as "
                           f"{DEFAULT_API_VERSION!r}", field="api_version")


def _check_api_base(_: Any, __: Any, value: str) -> None:
    if not _API_BASE.fullmatch(value):
        raise InvalidInput("must be an https:// origin without a path (http:// only for "
                           "localhost)", field="api_base")


def _check_return_url(_: Any, __: Any, value: str | None) -> None:
    if value is not None and not re.fullmatch(r"https?://\S{1,2000}", value):
        raise InvalidInput("must be an http(s) URL", field="return_url")


def _positive(name: str, *, zero: bool = False) -> Any:
    def check(_: Any, __: Any, value: float) -> None:
        if value < 0 or (value == 0 and not zero):
            raise InvalidInput("must be more than zero" if not zero else "must not be negative",
                               field=name)
    return check


@attrs.frozen
class StripeSettings:
    """``[plugins.stripe]`` of omnicore.toml, or ``OMNICORE_PLUGINS__STRIPE__<KEY>``."""

    #: ``sk_live_…`` / ``sk_test_…`` or a restricted key ``rk_…`` (PaymentIntents write,
    #: Refunds write, Charges read).
    secret_key: str = attrs.field(repr=False, validator=_check_secret_key)
    #: The signing secret of the ``/webhooks/stripe`` endpoint (``whsec_…``).
    webhook_secret: str = attrs.field(repr=False, validator=_check_webhook_secret)
    api_version: str = attrs.field(default=DEFAULT_API_VERSION, validator=_check_api_version)
    #: Stripe's API origin; point it at stripe-mock (``http://localhost:12111``) in tests.
    api_base: str = attrs.field(default="https://api.stripe.com", validator=_check_api_base)
    #: Per attempt; a checkout waits for at most about (retries + 1) x this.
    timeout_seconds: float = attrs.field(default=30.0, validator=_positive("timeout_seconds"))
    #: Retries after the first attempt (network errors, 409, 429, 5xx, Stripe-Should-Retry).
    max_retries: int = attrs.field(default=2, validator=_positive("max_retries", zero=True))
    #: A ``Retry-After`` longer than this is not waited for: the call fails instead.
    max_retry_after_seconds: float = attrs.field(
        default=30.0, validator=_positive("max_retry_after_seconds", zero=True))
    #: Webhooks whose ``t=`` is older than this are refused (replays); a ``t`` in the
    #: future is accepted, as Stripe's libraries do.
    webhook_tolerance_seconds: int = attrs.field(
        default=300, validator=_positive("webhook_tolerance_seconds"))
    #: Ask for multicapture (IC+ accounts): partial captures keep the rest authorized.
    #: Without it, a partial capture takes everything that remains authorized.
    multicapture: bool = False
    #: Where redirect-based payment methods send the customer back after confirming.
    #: Without it (and without ``data.return_url``), redirect methods are not offered.
    return_url: str | None = attrs.field(default=None, validator=_check_return_url)

    @property
    def live(self) -> bool:
        return "_live_" in self.secret_key

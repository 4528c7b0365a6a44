"""Typed errors of the omnicore API.

Every error carries a stable machine ``code``, a human ``message`` and, where one
input is to blame, the offending ``field`` (a dotted path such as
``"variants[0].sku"`` or ``"plugins.stripe.secret_key"``). The GraphQL gateway
turns them into ``userErrors { field code message }``; nothing else about them
(no stack trace, no secret) reaches a client.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = [
    "Conflict",
    "DatabaseUnavailable",
    "Forbidden",
    "InvalidInput",
    "NotFound",
    "OmnicoreError",
    "OutOfStock",
    "PaymentActionRequired",
    "PaymentDeclined",
    "PaymentUnavailable",
    "PluginError",
    "Problem",
    "SchemaMismatch",
    "TooManyAttempts",
]


class Problem:
    """One thing wrong with an input: where (``field``) and what (``message``)."""

    __slots__ = ("field", "message")

    def __init__(self, field: str | None, message: str) -> None:
        self.field = field
        self.message = message

    def __repr__(self) -> str:
        return f"Problem(field={self.field!r}, message={self.message!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Problem) and (self.field, self.message) == (
            other.field,
            other.message,
        )

    def __hash__(self) -> int:
        return hash((self.field, self.message))


class OmnicoreError(Exception):
    """Base class: ``code`` is stable and documented, ``message`` is for humans."""

    code = "error"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message

    def as_dict(self) -> dict[str, Any]:
        """The error as the gateway shows it: ``{"code", "field", "message"}``."""
        return {"code": self.code, "field": self.field, "message": self.message}


class InvalidInput(OmnicoreError):
    """An input is malformed or breaks a rule; ``problems`` lists every one found."""

    code = "invalid_input"

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        problems: list[Problem] | None = None,
    ) -> None:
        super().__init__(message, field=field)
        self.problems = problems or [Problem(field, message)]

    def __str__(self) -> str:
        # Several problems: each with its own field ("a: is required; b: is required"),
        # never the first field in front of a message that already names it.
        if len(self.problems) > 1:
            return "; ".join(f"{p.field}: {p.message}" if p.field else p.message
                             for p in self.problems)
        return super().__str__()


class NotFound(OmnicoreError):
    """The named object does not exist (or is not visible to the caller)."""

    code = "not_found"


class Conflict(OmnicoreError):
    """The change clashes with the current state: a duplicate key, a stale version."""

    code = "conflict"


class Forbidden(OmnicoreError):
    """The caller may not do this."""

    code = "forbidden"


class TooManyAttempts(Forbidden):
    """Too many sign-ins failed for this identity lately; ``retry_after_seconds`` says
    when the next attempt will be heard (a ``Forbidden``: handlers of that catch it)."""

    code = "too_many_attempts"

    def __init__(self, message: str, *, field: str | None = None,
                 retry_after_seconds: int = 0) -> None:
        super().__init__(message, field=field)
        self.retry_after_seconds = retry_after_seconds


class OutOfStock(OmnicoreError):
    """Not enough sellable units; ``available`` says how many there are."""

    code = "out_of_stock"

    def __init__(
        self,
        message: str,
        *,
        field: str | None = "quantity",
        sku: str | None = None,
        requested: int = 0,
        available: int = 0,
        by_location: Mapping[str, int] | None = None,
    ) -> None:
        super().__init__(message, field=field)
        self.sku = sku
        self.requested = requested
        self.available = available
        self.by_location = dict(by_location or {})


class PaymentDeclined(OmnicoreError):
    """The payment provider refused; ``decline_code`` is the provider's reason."""

    code = "payment_declined"

    def __init__(
        self, message: str, *, field: str | None = "payments", decline_code: str | None = None
    ) -> None:
        super().__init__(message, field=field)
        self.decline_code = decline_code


class PaymentActionRequired(OmnicoreError):
    """The customer must act before the payment is authorized (3-D Secure, a redirect).

    ``next_action`` is what the storefront needs (for Stripe, the ``client_secret``);
    the checkout completes when the gateway reports the authorization (webhook), and
    calling ``checkout`` again with the same idempotency key returns the order then.
    """

    code = "payment_action_required"

    def __init__(
        self, message: str, *, payment_id: str, next_action: Mapping[str, Any],
        field: str | None = "payments",
    ) -> None:
        super().__init__(message, field=field)
        self.payment_id = payment_id
        self.next_action = dict(next_action)

    def as_dict(self) -> dict[str, Any]:
        return {**super().as_dict(), "payment_id": self.payment_id,
                "next_action": self.next_action}


class PaymentUnavailable(OmnicoreError):
    """The payment provider could not be reached or failed; nothing was charged for sure.

    The checkout can be retried with the same idempotency key.
    """

    code = "payment_unavailable"


class PluginError(OmnicoreError):
    """A plugin failed or is misconfigured; ``plugin`` names it."""

    code = "plugin_error"

    def __init__(self, message: str, *, plugin: str, field: str | None = None) -> None:
        super().__init__(f"plugin {plugin!r}: {message}", field=field)
        self.plugin = plugin


class DatabaseUnavailable(OmnicoreError):
    """The database cannot be reached or opened: the message says why and what to do.

    Raised for a missing driver (``pip install 'omnicore[postgres]'``), an unknown
    database or role, a server that does not answer, an unknown host, or a SQLite
    file whose folder does not exist. Nothing was written.
    """

    code = "unavailable"


class SchemaMismatch(OmnicoreError):
    """The database schema is not the one this version of omnicore expects."""

    code = "schema_mismatch"

"""The states of a checkout and of the claim on its idempotency key."""

from __future__ import annotations

import enum

import attrs

__all__ = ["UNFINISHED", "CheckoutStatus", "Claim", "ClaimAction"]


class CheckoutStatus(enum.StrEnum):
    """Where a checkout (a ``checkouts`` row, one per idempotency key) stands.

    ``in_progress`` → ``completed`` (the order was committed), or ``requires_action``
    (a payment waits for the customer) → ``completed``; any of them → ``failed``
    (its payments are voided); a ``failed`` key may be tried again (→ ``in_progress``).
    """

    IN_PROGRESS = "in_progress"
    REQUIRES_ACTION = "requires_action"
    COMPLETED = "completed"
    FAILED = "failed"


#: The states of a checkout that may still complete: it holds its key until its lease ends.
UNFINISHED = (CheckoutStatus.IN_PROGRESS, CheckoutStatus.REQUIRES_ACTION)


class ClaimAction(enum.Enum):
    """What the request that tried to claim an idempotency key does next."""

    #: the key is this request's: check out under ``Claim.number``
    PROCEED = "proceed"
    #: an order was made under this key already: return ``Claim.order_id``
    DONE = "done"
    #: another request holds the key's lease: wait for it, then claim again
    WAIT = "wait"
    #: an earlier attempt left payments holding money: void them, then claim again
    RESTART = "restart"


@attrs.frozen
class Claim:
    """The outcome of claiming an idempotency key: the action, and for ``PROCEED`` /
    ``DONE`` the order number reserved under the key (and the order made)."""

    action: ClaimAction
    number: str | None = None
    order_id: str | None = None

    @classmethod
    def proceed(cls, number: str) -> Claim:
        return cls(ClaimAction.PROCEED, number)

    @classmethod
    def done(cls, number: str, order_id: str) -> Claim:
        return cls(ClaimAction.DONE, number, order_id)

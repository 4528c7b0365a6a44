"""Pickup codes: what a customer shows at the store to collect a click & collect order.

A code is 8 characters from an alphabet without look-alikes (no ``0/O``,
``1/I/L``), about 40 bits: guessing one at the counter is hopeless. omnicore
keeps only ``sha256(salt + code)`` with a random per-code salt, so a copy of the
database does not reveal live codes; the plain code is returned once, by
``FulfilmentService.ready_for_pickup``. Verification compares digests in
constant time and forgives case, spaces and dashes (``ab3k-7m9x``).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

__all__ = ["ALPHABET", "CODE_LENGTH", "hash_code", "new_code", "normalise", "verify_code"]

ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 8
SCHEME = "sha256"


def new_code() -> str:
    """A fresh random pickup code (``"K7M2XQ9P"``)."""
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))


def normalise(code: str) -> str:
    """The code as typed at the till, without case, spaces or dashes."""
    return "".join(ch for ch in code.upper() if ch not in " -\t")


def _digest(salt: str, code: str) -> str:
    return hashlib.sha256(f"{salt}:{normalise(code)}".encode()).hexdigest()


def hash_code(code: str) -> str:
    """What is stored: ``sha256$<salt>$<digest>`` (104 characters)."""
    salt = secrets.token_hex(16)
    return f"{SCHEME}${salt}${_digest(salt, code)}"


def verify_code(code: object, stored: str | None) -> bool:
    """True when ``code`` is the one ``stored`` was made from (constant-time comparison)."""
    if not isinstance(code, str) or not stored:
        return False
    scheme, _, rest = stored.partition("$")
    salt, _, digest = rest.partition("$")
    if scheme != SCHEME or not salt or not digest:
        return False
    candidate = _digest(salt, code[:64])
    return hmac.compare_digest(candidate.encode(), digest.encode())

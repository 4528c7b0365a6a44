"""``commerce.auth``: staff API keys with permissions, customer passwords and tokens.

Secrets are never stored: staff keys and customer tokens are 256-bit random
strings kept as their SHA-256 (a fast hash is enough for that much entropy);
passwords are hashed with argon2id in a worker thread. A plain key or token
is returned once, when it is issued.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import enum
import hashlib
import secrets
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import attrs
from sqlalchemy import Integer, bindparam, delete, insert, select, text, update

from omnicore.customers import IdentityKind, normalise_identity, owner_of
from omnicore.errors import Forbidden, InvalidInput, NotFound, TooManyAttempts
from omnicore.store.auth_tables import (
    customer_credentials,
    customer_tokens,
    login_attempts,
    staff_keys,
)
from omnicore.store.tables import customers
from omnicore.store.types import UTCDateTime

if TYPE_CHECKING:
    from omnicore.store.uow import Tx, UnitOfWork

__all__ = ["AuthService", "CustomerToken", "IssuedKey", "Permission", "StaffPrincipal"]

STAFF_PREFIX = "ock_"
TOKEN_PREFIX = "oct_"
PASSWORD_MIN = 10
PASSWORD_MAX = 1024
DEFAULT_TOKEN_HOURS = 24 * 30
DEFAULT_LOGIN_MAX_ATTEMPTS = 10
DEFAULT_LOGIN_WINDOW_MINUTES = 15

# Counts one sign-in for a key, atomically (SQLite >= 3.35 and PostgreSQL): a window
# that has ended starts again at 1; the count after this attempt is returned.
_COUNT_ATTEMPT = text(
    "INSERT INTO login_attempts (key_hash, attempts, window_started_at) "
    "VALUES (:key, 1, :now) "
    "ON CONFLICT (key_hash) DO UPDATE SET "
    "attempts = CASE WHEN login_attempts.window_started_at <= :cutoff THEN 1 "
    "ELSE login_attempts.attempts + 1 END, "
    "window_started_at = CASE WHEN login_attempts.window_started_at <= :cutoff THEN :now "
    "ELSE login_attempts.window_started_at END "
    "RETURNING attempts, window_started_at"
).bindparams(bindparam("now", type_=UTCDateTime), bindparam("cutoff", type_=UTCDateTime)
             ).columns(attempts=Integer, window_started_at=UTCDateTime)


class Permission(enum.StrEnum):
    """What a staff key may do on the admin API."""

    MANAGE_CATALOG = "MANAGE_CATALOG"        # products, variants, prices
    MANAGE_CHANNELS = "MANAGE_CHANNELS"      # locations and channels
    MANAGE_STOCK = "MANAGE_STOCK"            # receive, adjust, count, transfer
    MANAGE_PROMOTIONS = "MANAGE_PROMOTIONS"
    VIEW_CUSTOMERS = "VIEW_CUSTOMERS"        # search, 360° view
    MANAGE_CUSTOMERS = "MANAGE_CUSTOMERS"    # merge, export, erase
    HANDOFF_CARTS = "HANDOFF_CARTS"          # take over a customer's cart with the code
    VIEW_ORDERS = "VIEW_ORDERS"
    MANAGE_ORDERS = "MANAGE_ORDERS"          # fulfilment, pickup, returns, refunds, cancel
    VIEW_REPORTS = "VIEW_REPORTS"            # per-channel KPIs
    MANAGE_OUTBOX = "MANAGE_OUTBOX"          # deliveries, retry
    MANAGE_STAFF = "MANAGE_STAFF"            # issue and revoke staff keys


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@attrs.frozen
class StaffPrincipal:
    """Who calls the admin API: a staff key's permissions and location scope."""

    key_id: str
    name: str
    permissions: frozenset[Permission]
    #: None: every location; else only these (an associate of store A cannot touch store B)
    locations: frozenset[str] | None = None

    def require(self, permission: Permission, *, location: str | None = None) -> None:
        """Raise ``Forbidden`` unless the key has ``permission`` (for ``location``)."""
        if permission not in self.permissions:
            raise Forbidden(f"this staff key lacks {permission.value}", field="permission")
        if location is not None and self.locations is not None \
                and location not in self.locations:
            raise Forbidden(f"this staff key may not act on location {location!r}",
                            field="location")

    def may_see(self, location: str) -> bool:
        return self.locations is None or location in self.locations


@attrs.frozen
class IssuedKey:
    """A staff key as issued: ``key`` is the plain secret, shown this once."""

    id: str
    name: str
    key: str
    permissions: frozenset[Permission]
    locations: frozenset[str] | None


@attrs.frozen
class CustomerToken:
    """A customer's access token (plain, shown once) and when it expires."""

    token: str
    customer_id: str
    expires_at: dt.datetime


def _permissions(values: Iterable[object]) -> frozenset[Permission]:
    found = set()
    for index, value in enumerate(values):
        try:
            found.add(Permission(str(value)))
        except ValueError:
            known = ", ".join(p.value for p in Permission)
            raise InvalidInput(f"{value!r} is not a permission ({known})",
                               field=f"permissions[{index}]") from None
    if not found:
        raise InvalidInput("give at least one permission", field="permissions")
    return frozenset(found)


def _attempt_key(email: str) -> str:
    """What sign-in attempts are counted by: a digest of the e-mail as normalised
    (or as typed, lower-cased, when it is not an e-mail at all)."""
    return hashlib.sha256(f"login:{email}".encode()).hexdigest()


class AuthService:
    """Staff keys, customer passwords and customer tokens."""

    def __init__(self, uow: UnitOfWork, *, token_hours: int = DEFAULT_TOKEN_HOURS,
                 login_max_attempts: int = DEFAULT_LOGIN_MAX_ATTEMPTS,
                 login_window_minutes: int = DEFAULT_LOGIN_WINDOW_MINUTES) -> None:
        """``Commerce`` passes ``[gateway] customer_token_hours``, ``login_max_attempts``
        and ``login_window_minutes`` (checked when the configuration was loaded)."""
        self._uow = uow
        self.token_ttl = dt.timedelta(hours=token_hours)
        self.login_max_attempts = login_max_attempts
        self.login_window = dt.timedelta(minutes=login_window_minutes)
        self._hasher: Any = None

    # -- staff ---------------------------------------------------------------------------------

    async def create_staff_key(self, name: str, permissions: Iterable[object], *,
                               locations: Iterable[str] | None = None) -> IssuedKey:
        """Issue a staff key; the plain key is in the result and nowhere else."""
        if not isinstance(name, str) or not name.strip() or len(name) > 200:
            raise InvalidInput("must be 1 to 200 characters", field="name")
        granted = _permissions(permissions)
        scope = None if locations is None else frozenset(locations)
        key = STAFF_PREFIX + secrets.token_urlsafe(32)
        key_id = f"key_{secrets.token_hex(8)}"
        async with self._uow() as tx:
            await tx.conn.execute(insert(staff_keys).values(
                id=key_id, name=name.strip(), key_hash=_digest(key),
                permissions=sorted(p.value for p in granted),
                locations=None if scope is None else sorted(scope), created_at=tx.now))
            tx.emit("staff_key.created", {"key_id": key_id, "name": name.strip(),
                                          "permissions": sorted(p.value for p in granted)})
        return IssuedKey(key_id, name.strip(), key, granted, scope)

    async def revoke_staff_key(self, key_id: str) -> None:
        async with self._uow() as tx:
            done = await tx.conn.execute(update(staff_keys).where(
                staff_keys.c.id == key_id, staff_keys.c.revoked_at.is_(None)
            ).values(revoked_at=tx.now))
            if not done.rowcount:  # type: ignore[attr-defined]
                raise NotFound(f"no active staff key {key_id!r}", field="key_id")
            tx.emit("staff_key.revoked", {"key_id": key_id})

    async def authenticate_staff(self, key: str) -> StaffPrincipal:
        """The principal of a plain staff key; ``Forbidden`` when unknown or revoked."""
        if not isinstance(key, str) or not key.startswith(STAFF_PREFIX):
            raise Forbidden("not a staff key", field="authorization")
        async with self._uow.read() as tx:
            row = (await tx.conn.execute(select(staff_keys).where(
                staff_keys.c.key_hash == _digest(key)))).one_or_none()
        if row is None or row.revoked_at is not None:
            raise Forbidden("unknown or revoked staff key", field="authorization")
        return StaffPrincipal(row.id, row.name, frozenset(Permission(p) for p in row.permissions),
                              None if row.locations is None else frozenset(row.locations))

    # -- customers -----------------------------------------------------------------------------

    def _argon2(self) -> Any:
        if self._hasher is None:
            from argon2 import PasswordHasher

            self._hasher = PasswordHasher()
        return self._hasher

    async def set_password(self, customer_id: str, password: str) -> None:
        """Set (or replace) a customer's password; every token of theirs is revoked."""
        if not isinstance(password, str) or not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
            raise InvalidInput(f"must be {PASSWORD_MIN} to {PASSWORD_MAX} characters",
                               field="password")
        hashed = await asyncio.to_thread(self._argon2().hash, password)
        async with self._uow() as tx:
            exists = (await tx.conn.execute(select(customers.c.id).where(
                customers.c.id == customer_id, customers.c.status == "active"))).first()
            if exists is None:
                raise NotFound(f"no active customer {customer_id!r}", field="customer_id")
            done = await tx.conn.execute(update(customer_credentials).where(
                customer_credentials.c.customer_id == customer_id
            ).values(password_hash=hashed, updated_at=tx.now))
            if not done.rowcount:  # type: ignore[attr-defined]
                await tx.conn.execute(insert(customer_credentials).values(
                    customer_id=customer_id, password_hash=hashed, updated_at=tx.now))
            await tx.conn.execute(update(customer_tokens).where(
                customer_tokens.c.customer_id == customer_id,
                customer_tokens.c.revoked_at.is_(None)).values(revoked_at=tx.now))

    async def login(self, email: str, password: str) -> CustomerToken:
        """A token for the customer with this e-mail and password; ``Forbidden`` otherwise
        (the same answer, and about the same time, whether the e-mail exists or not).

        Each attempt is counted per e-mail before the password is checked: past
        ``login_max_attempts`` in ``login_window`` without a success, ``TooManyAttempts``
        (with ``retry_after_seconds``) — for every e-mail alike, known or not. A
        success clears the count.
        """
        try:
            _, _, normalised = normalise_identity(IdentityKind.EMAIL, email, region="FR",
                                                  field="email")
        except InvalidInput:
            normalised = ""
        key = _attempt_key(normalised or str(email).strip().lower())
        await self._count_attempt(key)
        async with self._uow.read() as tx:
            customer_id = await owner_of(tx, IdentityKind.EMAIL, "", normalised) \
                if normalised else None
            stored = None if customer_id is None else (await tx.conn.execute(
                select(customer_credentials.c.password_hash).where(
                    customer_credentials.c.customer_id == customer_id))).scalar()
        if not await asyncio.to_thread(self._verify, stored, password) or customer_id is None:
            raise Forbidden("wrong e-mail or password", field="password")
        async with self._uow() as tx:  # the count is cleared with the token's issue
            await tx.conn.execute(delete(login_attempts).where(login_attempts.c.key_hash == key))
            return await self._issue(tx, customer_id, self.token_ttl)

    async def _count_attempt(self, key: str) -> None:
        """Count a sign-in for ``key``; ``TooManyAttempts`` past the limit. Counted in a
        transaction of its own, atomically: concurrent attempts cannot slip past it."""
        async with self._uow() as tx:
            row = (await tx.conn.execute(_COUNT_ATTEMPT, {
                "key": key, "now": tx.now, "cutoff": tx.now - self.login_window})).one()
        attempts, started = row
        if attempts > self.login_max_attempts:
            retry = max(1, int((started + self.login_window - tx.now).total_seconds()) + 1)
            raise TooManyAttempts(
                f"too many sign-ins failed for this e-mail: try again in {retry} s",
                field="email", retry_after_seconds=retry)

    async def sweep_login_attempts(self) -> int:
        """Delete the counts whose window has ended (the worker's sweep calls it)."""
        async with self._uow() as tx:
            result = await tx.conn.execute(delete(login_attempts).where(
                login_attempts.c.window_started_at <= tx.now - self.login_window))
        return int(result.rowcount or 0)

    def _verify(self, stored: str | None, password: str) -> bool:
        from argon2.exceptions import VerificationError, VerifyMismatchError

        hasher = self._argon2()
        if stored is None:  # spend the same effort on an unknown e-mail
            stored = hasher.hash("not-a-password-at-all")
            password = "still-not-it"
        try:
            return bool(hasher.verify(stored, str(password)))
        except (VerifyMismatchError, VerificationError):
            return False

    async def issue_token(self, customer_id: str, *, ttl: dt.timedelta | None = None
                          ) -> CustomerToken:
        """A token for a customer authenticated elsewhere (an external identity provider)."""
        async with self._uow() as tx:
            return await self._issue(tx, customer_id, ttl or self.token_ttl)

    @staticmethod
    async def _issue(tx: Tx, customer_id: str, ttl: dt.timedelta) -> CustomerToken:
        exists = (await tx.conn.execute(select(customers.c.id).where(
            customers.c.id == customer_id, customers.c.status == "active"))).first()
        if exists is None:
            raise NotFound(f"no active customer {customer_id!r}", field="customer_id")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        expires_at = tx.now + ttl
        await tx.conn.execute(insert(customer_tokens).values(
            id=f"tok_{secrets.token_hex(8)}", token_hash=_digest(token),
            customer_id=customer_id, created_at=tx.now, expires_at=expires_at))
        return CustomerToken(token, customer_id, expires_at)

    async def authenticate_customer(self, token: str) -> str:
        """The customer id of a live token (a merged customer resolves to the survivor);
        ``Forbidden`` when unknown, expired or revoked."""
        if not isinstance(token, str) or not token.startswith(TOKEN_PREFIX):
            raise Forbidden("not a customer token", field="authorization")
        async with self._uow.read() as tx:
            row = (await tx.conn.execute(select(customer_tokens).where(
                customer_tokens.c.token_hash == _digest(token)))).one_or_none()
            if row is None or row.revoked_at is not None or row.expires_at <= tx.now:
                raise Forbidden("unknown, expired or revoked customer token",
                                field="authorization")
            customer_id: str = row.customer_id
            for _ in range(16):  # follow merges to the surviving profile
                found = (await tx.conn.execute(select(customers.c.status, customers.c.merged_into)
                                               .where(customers.c.id == customer_id))).first()
                if found is None or found.status == "erased":
                    raise Forbidden("this customer no longer exists", field="authorization")
                if found.merged_into is None:
                    return customer_id
                customer_id = found.merged_into
        return customer_id

    async def revoke_token(self, token: str) -> None:
        async with self._uow() as tx:
            await tx.conn.execute(update(customer_tokens).where(
                customer_tokens.c.token_hash == _digest(token),
                customer_tokens.c.revoked_at.is_(None)).values(revoked_at=tx.now))

    async def revoke_all(self, customer_id: str) -> int:
        """Revoke every live token of a customer (signed out everywhere); returns how many."""
        async with self._uow() as tx:
            done = await tx.conn.execute(update(customer_tokens).where(
                customer_tokens.c.customer_id == customer_id,
                customer_tokens.c.revoked_at.is_(None)).values(revoked_at=tx.now))
            return int(done.rowcount)  # type: ignore[attr-defined]

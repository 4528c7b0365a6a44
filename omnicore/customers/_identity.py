"""Customer identities: normalising them, attaching them, and resolving customer ids.

An identity is ``(kind, source, value)``, unique across all customers (a
UNIQUE constraint, so two concurrent sign-ups with one e-mail cannot both
win). Resolution follows ``merged_into`` from a merged id to the survivor.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs
import phonenumbers
from email_validator import EmailNotValidError, validate_email
from sqlalchemy import and_, bindparam, select, update
from sqlalchemy.exc import IntegrityError

from omnicore.customers._models import Customer, CustomerStatus, Identity, IdentityKind
from omnicore.errors import Conflict, InvalidInput, NotFound
from omnicore.serialization import structure
from omnicore.store.tables import customer_identities, customers

if TYPE_CHECKING:
    from omnicore.store.uow import Tx

__all__ = [
    "attach_identities",
    "check_region",
    "customer_from_row",
    "customer_tree",
    "find_customer",
    "load_customer",
    "load_identities",
    "new_customer_id",
    "normalise_identity",
    "owner_of",
    "parse_identities",
    "resolve",
]

#: A merge chain longer than this is a corrupted database, not a real history.
MAX_CHAIN = 64
VALUE_MAX = 320
_CARD = re.compile(r"^[A-Z0-9]{1,64}$")
_SOURCE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


def new_customer_id() -> str:
    """``cus_`` and 24 random hex digits: not guessable, not a sequence."""
    return f"cus_{secrets.token_hex(12)}"


def check_region(region: object) -> str:
    """The ``[customers] default_region``: an ISO 3166-1 region phonenumbers knows."""
    if not isinstance(region, str) or region.upper() not in phonenumbers.SUPPORTED_REGIONS:
        raise InvalidInput(f"{region!r} is not a region code such as 'FR'",
                           field="customers.default_region")
    return region.upper()


def _kind(kind: object, field: str) -> IdentityKind:
    try:
        return IdentityKind(str(kind))
    except ValueError:
        known = ", ".join(k.value for k in IdentityKind)
        raise InvalidInput(f"{kind!r} is not an identity kind ({known})", field=field) from None


def _email(value: str, field: str) -> str:
    try:
        result = validate_email(value, check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidInput(f"{value!r} is not an e-mail address: {exc}", field=field) from None
    return result.normalized.lower()


def _phone(value: str, region: str, field: str) -> str:
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_valid_number(number):
        raise InvalidInput(f"{value!r} is not a valid phone number", field=field)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalise_identity(
    kind: object, value: object, *, source: object = "", region: str, field: str | None = None,
    source_field: str = "source", kind_field: str = "kind",
) -> tuple[IdentityKind, str, str]:
    """``(kind, source, value)`` normalised, or ``InvalidInput`` naming ``field`` (or the kind)."""
    parsed = _kind(kind, kind_field)
    field = field or parsed.value
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput("must not be empty", field=field)
    value = value.strip()
    if len(value) > VALUE_MAX:
        raise InvalidInput(f"must be at most {VALUE_MAX} characters", field=field)
    if not isinstance(source, str):
        raise InvalidInput("must be a string", field=source_field)
    source = source.strip().lower()
    if parsed is IdentityKind.EXTERNAL:
        if not _SOURCE.match(source):
            raise InvalidInput("an external identity needs the system it comes from "
                               "(such as 'amazon' or 'square')", field=source_field)
        return parsed, source, value
    if source:
        raise InvalidInput(f"only external identities have a source, not {parsed.value}",
                           field=source_field)
    if parsed is IdentityKind.EMAIL:
        return parsed, "", _email(value, field)
    if parsed is IdentityKind.PHONE:
        return parsed, "", _phone(value, region, field)
    card = re.sub(r"[\s-]", "", value).upper()
    if not _CARD.match(card):
        raise InvalidInput(f"{value!r} is not a card number (letters and digits)", field=field)
    return parsed, "", card


def parse_identities(
    items: Sequence[Identity | Mapping[str, Any]], *, region: str, field: str = "identities"
) -> list[tuple[Identity, str]]:
    """Normalised identities with the field that names each, from models or mappings."""
    if isinstance(items, str | bytes | Mapping):
        raise InvalidInput("expected a list of identities", field=field)
    parsed = []
    for index, item in enumerate(items):
        where = f"{field}[{index}]"
        if not isinstance(item, Identity):
            item = structure(dict(item), Identity, field=where)
        if not isinstance(item.verified, bool):
            raise InvalidInput("must be true or false", field=f"{where}.verified")
        kind, source, value = normalise_identity(
            item.kind, item.value, source=item.source, region=region, field=f"{where}.value",
            source_field=f"{where}.source", kind_field=f"{where}.kind",
        )
        parsed.append((Identity(kind, value, source, item.verified), where))
    return parsed


# -- the database --------------------------------------------------------------------------


def _identity_key(identity: Identity) -> Any:
    return and_(
        customer_identities.c.kind == identity.kind.value,
        customer_identities.c.source == identity.source,
        customer_identities.c.value == identity.value,
    )


def _find_query() -> Any:
    """The holder of an identity (``f_kind``, ``f_source``, ``f_value``): its customer row
    once per identity it holds, each row with that identity (``i_*``), in id order."""
    found = customer_identities.alias("found")
    held = customer_identities.alias("held")
    return (
        select(
            customers,
            held.c.kind.label("i_kind"),
            held.c.value.label("i_value"),
            held.c.source.label("i_source"),
            held.c.verified.label("i_verified"),
            held.c.created_at.label("i_created_at"),
        )
        .select_from(
            found.join(customers, customers.c.id == found.c.customer_id).join(
                held, held.c.customer_id == customers.c.id
            )
        )
        .where(
            found.c.kind == bindparam("f_kind", type_=found.c.kind.type),
            found.c.source == bindparam("f_source", type_=found.c.source.type),
            found.c.value == bindparam("f_value", type_=found.c.value.type),
        )
        .order_by(held.c.id)
    )


# Built once: SQLAlchemy memoizes a statement's cache key, so executing the same object
# skips building and hashing the expression again on every look-up.
_FIND = _find_query()


async def find_customer(tx: Tx, kind: IdentityKind, source: str, value: str) -> Customer | None:
    """The customer holding this (normalised) identity, with its identities; None if nobody
    holds it. One query when the holder is active (merges move identities to the
    survivor, so it is); otherwise ``load_customer`` follows the merge or refuses."""
    rows = (
        await tx.conn.execute(_FIND, {"f_kind": kind.value, "f_source": source, "f_value": value})
    ).all()
    if not rows:
        return None
    first = rows[0]
    if first.status != CustomerStatus.ACTIVE:
        return await load_customer(tx, first.id)
    identities = [
        Identity(IdentityKind(r.i_kind), r.i_value, r.i_source, r.i_verified, r.i_created_at)
        for r in rows
    ]
    return customer_from_row(first, identities)


async def owner_of(tx: Tx, kind: IdentityKind, source: str, value: str) -> str | None:
    """The id of the customer holding this (normalised) identity, if any."""
    found = await tx.conn.execute(
        select(customer_identities.c.customer_id).where(
            _identity_key(Identity(kind, value, source))
        )
    )
    return found.scalar()


async def attach_identities(
    tx: Tx, customer_id: str, identities: Sequence[tuple[Identity, str]]
) -> list[Identity]:
    """Give identities to a customer; return those that were new to it.

    One the customer already holds is kept (and marked verified if asked);
    one another customer holds raises ``Conflict`` naming its field — also
    when a concurrent transaction took it first (the UNIQUE constraint).
    """
    added: list[Identity] = []
    seen: set[tuple[str, str, str]] = set()
    for identity, field in identities:
        key = (identity.kind.value, identity.source, identity.value)
        if key in seen:
            continue
        seen.add(key)
        owner = await owner_of(tx, identity.kind, identity.source, identity.value)
        if owner == customer_id:
            if identity.verified:
                await tx.conn.execute(
                    update(customer_identities).where(_identity_key(identity)).values(verified=True)
                )
            continue
        if owner is not None:
            raise Conflict(f"this {identity.kind.value} belongs to another customer", field=field)
        try:
            await tx.conn.execute(customer_identities.insert().values(
                customer_id=customer_id, kind=identity.kind.value, source=identity.source,
                value=identity.value, verified=identity.verified, created_at=tx.now,
            ))
        except IntegrityError:
            raise Conflict(
                f"this {identity.kind.value} was just taken by another customer", field=field
            ) from None
        added.append(attrs.evolve(identity, created_at=tx.now))
    return added


async def resolve(
    tx: Tx, customer_id: object, *, lock: bool = False, field: str = "customer_id"
) -> Any:
    """The row of the active customer ``customer_id`` is, following merges to the survivor.

    Unknown and erased customers raise ``NotFound``. With ``lock`` the rows are
    read ``FOR UPDATE`` (PostgreSQL): a concurrent merge or erasure waits, or is
    waited for and then followed.
    """
    if not isinstance(customer_id, str) or not customer_id:
        raise NotFound(f"no customer {customer_id!r}", field=field)
    current = customer_id
    for _ in range(MAX_CHAIN):
        query = select(customers).where(customers.c.id == current)
        if lock:
            query = query.with_for_update()
        row = (await tx.conn.execute(query)).first()
        if row is None or row.status == CustomerStatus.ERASED:
            raise NotFound(f"no customer {customer_id!r}", field=field)
        if row.status != CustomerStatus.MERGED:
            return row
        current = row.merged_into
    raise Conflict(f"the merges of {customer_id!r} form a chain too long to follow", field=field)


async def customer_tree(tx: Tx, customer_id: str) -> list[str]:
    """``customer_id`` and every customer merged into it, directly or through a chain."""
    found = [customer_id]
    frontier = [customer_id]
    while frontier:
        rows = await tx.conn.execute(
            select(customers.c.id).where(customers.c.merged_into.in_(frontier))
        )
        frontier = [i for i in rows.scalars() if i not in found]
        found.extend(frontier)
    return found


async def load_identities(tx: Tx, customer_id: str) -> list[Identity]:
    rows = await tx.conn.execute(
        select(customer_identities)
        .where(customer_identities.c.customer_id == customer_id)
        .order_by(customer_identities.c.id)
    )
    return [
        Identity(IdentityKind(r.kind), r.value, r.source, r.verified, r.created_at) for r in rows
    ]


def customer_from_row(row: Any, identities: list[Identity]) -> Customer:
    return Customer(
        id=row.id,
        status=CustomerStatus(row.status),
        first_name=row.first_name,
        last_name=row.last_name,
        language=row.language,
        preferred_store=row.preferred_store,
        attributes=dict(row.attributes or {}),
        identities=identities,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


async def load_customer(tx: Tx, customer_id: object, *, lock: bool = False) -> Customer:
    """The customer (resolved through merges) with its identities."""
    row = await resolve(tx, customer_id, lock=lock)
    return customer_from_row(row, await load_identities(tx, row.id))

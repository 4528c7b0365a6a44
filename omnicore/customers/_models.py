"""The value objects of the single customer view (``omnicore.customers`` has the service)."""

from __future__ import annotations

import datetime as dt
import enum
import json
import re
from typing import Any

import attrs

from omnicore.errors import InvalidInput
from omnicore.network import Address

__all__ = [
    "PROFILE_FIELDS",
    "Activity",
    "ActivityKind",
    "ConsentDecision",
    "Consents",
    "ContactChannel",
    "Customer",
    "CustomerMerge",
    "CustomerStatus",
    "Erasure",
    "Favourite",
    "Identity",
    "IdentityKind",
    "Profile",
    "SavedAddress",
]

#: The profile fields ``create`` and ``update`` accept besides identities.
PROFILE_FIELDS = ("first_name", "last_name", "language", "preferred_store", "attributes")

NAME_MAX = 200
_LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8})*$")
_STORE_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class CustomerStatus(enum.StrEnum):
    ACTIVE = "active"
    #: merged into another customer (``merged_into``); reads resolve to the survivor
    MERGED = "merged"
    #: personal data removed; reads raise ``NotFound``
    ERASED = "erased"


class IdentityKind(enum.StrEnum):
    EMAIL = "email"
    PHONE = "phone"
    LOYALTY_CARD = "loyalty_card"
    #: an id in another system, per ``source`` (an Amazon buyer, a Square customer …)
    EXTERNAL = "external"


class ContactChannel(enum.StrEnum):
    EMAIL = "email"
    SMS = "sms"
    PUSH = "push"
    POST = "post"


class ActivityKind(enum.StrEnum):
    PRODUCT_VIEWED = "product_viewed"
    FAVOURITE_ADDED = "favourite_added"
    FAVOURITE_REMOVED = "favourite_removed"
    SEARCH = "search"
    STORE_VISIT = "store_visit"
    CART_EVENT = "cart_event"


# -- profile input -----------------------------------------------------------------------------


def _name(value: object, field: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInput("must be a string", field=field)
    value = " ".join(value.split())
    if len(value) > NAME_MAX:
        raise InvalidInput(f"must be at most {NAME_MAX} characters", field=field)
    return value or None


def _first_name(value: object) -> str | None:
    return _name(value, "first_name")


def _last_name(value: object) -> str | None:
    return _name(value, "last_name")


def normalise_language(value: object) -> str | None:
    """A BCP 47-ish tag in canonical case: ``fr``, ``fr-FR``, ``zh-Hant-TW`` (``_`` accepted)."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > 16 or not _LANGUAGE.match(value):
        raise InvalidInput(f"{value!r} is not a language tag such as 'fr' or 'fr-FR'",
                           field="language")
    first, *rest = value.replace("_", "-").split("-")
    parts = [first.lower()]
    for part in rest:
        if len(part) == 2 and part.isalpha():
            parts.append(part.upper())
        elif len(part) == 4 and part.isalpha():
            parts.append(part.title())
        else:
            parts.append(part.lower())
    return "-".join(parts)


def _store(value: object) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not _STORE_CODE.match(value):
        raise InvalidInput(f"{value!r} is not a location code", field="preferred_store")
    return value


def _attributes(value: object) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise InvalidInput("must be a mapping with string keys", field="attributes")
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        raise InvalidInput("must hold JSON values only", field="attributes") from None
    return dict(value)


@attrs.frozen
class Profile:
    """The validated, normalised profile fields of a customer (input side)."""

    first_name: str | None = attrs.field(default=None, converter=_first_name)
    last_name: str | None = attrs.field(default=None, converter=_last_name)
    language: str | None = attrs.field(default=None, converter=normalise_language)
    #: the code of a location; that it exists is checked against the database
    preferred_store: str | None = attrs.field(default=None, converter=_store)
    attributes: dict[str, Any] = attrs.field(factory=dict, converter=_attributes)


# -- what the service returns -----------------------------------------------------------------


@attrs.frozen
class Identity:
    """A way to recognise a customer; ``(kind, source, value)`` belongs to one customer only.

    ``value`` is normalised: lower-cased e-mail, E.164 phone, upper-cased card
    number without spaces, the external id as given. ``source`` is ``""`` except
    for ``external`` identities, where it names the system (``amazon``, ``square``).
    """

    kind: IdentityKind
    value: str
    source: str = ""
    verified: bool = False
    created_at: dt.datetime | None = None


@attrs.frozen
class Customer:
    """A customer profile with its identities."""

    id: str
    status: CustomerStatus
    first_name: str | None
    last_name: str | None
    language: str | None
    preferred_store: str | None
    attributes: dict[str, Any]
    identities: list[Identity]
    created_at: dt.datetime
    updated_at: dt.datetime

    def identity(self, kind: IdentityKind | str, source: str = "") -> Identity | None:
        """The first identity of ``kind`` (and ``source``), or None."""
        return next((i for i in self.identities if i.kind == kind and i.source == source), None)

    @property
    def email(self) -> str | None:
        found = self.identity(IdentityKind.EMAIL)
        return found.value if found else None

    @property
    def phone(self) -> str | None:
        found = self.identity(IdentityKind.PHONE)
        return found.value if found else None


@attrs.frozen
class SavedAddress:
    """A postal address in the customer's address book."""

    id: int
    address: Address
    label: str | None = None
    default: bool = False


@attrs.frozen
class ConsentDecision:
    """One recorded decision: ``granted`` or withdrawn, on a contact channel, by a source."""

    contact_channel: ContactChannel
    granted: bool
    source: str
    recorded_at: dt.datetime


@attrs.frozen
class Consents:
    """The current decision per contact channel, and every decision ever recorded (oldest first)."""

    current: dict[ContactChannel, ConsentDecision]
    history: list[ConsentDecision]

    def granted(self, contact_channel: ContactChannel | str) -> bool:
        decision = self.current.get(ContactChannel(contact_channel))
        return decision is not None and decision.granted


@attrs.frozen
class Activity:
    """Something the customer did on a channel (viewed, searched, visited …)."""

    id: int
    kind: ActivityKind
    channel: str
    occurred_at: dt.datetime
    sku: str | None = None
    category: str | None = None
    location: str | None = None
    query: str | None = None
    data: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class Favourite:
    """A favourite SKU, with its product's title when the catalog still has it."""

    sku: str
    added_at: dt.datetime
    title: str | None = None


@attrs.frozen
class CustomerMerge:
    """The audit record of one merge; ``summary`` says what moved (counts, field names)."""

    survivor_id: str
    merged_id: str
    actor: str
    summary: dict[str, Any]
    merged_at: dt.datetime


@attrs.frozen
class Erasure:
    """What ``erase`` did: the rows erased (the customer and those merged into it), counts."""

    customer_id: str
    customer_ids: list[str]
    removed: dict[str, int]
    steps: dict[str, Any]
    erased_at: dt.datetime

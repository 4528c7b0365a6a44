"""What every module of the admin API (``/admin/graphql``) shares.

Authorisation happens in the resolver, first: ``require(info, Permission.X,
location=…)`` raises ``Forbidden`` unless the caller's staff key carries the
permission (and, for a key scoped to locations, the location is one of them).
In a query that is a GraphQL error (``extensions.code`` ``forbidden``); in a
mutation it is a ``userErrors`` entry like any other typed error, and nothing
changes.

Changes made through the admin API are recorded with the actor
``staff:<key id>`` (stock movements, order history, cart trail, merges …).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import graphene
from graphene.types.generic import GenericScalar

from omnicore.auth import Permission, StaffPrincipal
from omnicore.errors import Forbidden, InvalidInput, OmnicoreError
from omnicore.gateway.context import RequestContext
from omnicore.gateway.errors import UserErrorType
from omnicore.money import Money

__all__ = [
    "JSON",
    "MoneyInput",
    "actor",
    "aware",
    "commerce_of",
    "context_of",
    "covers_channel",
    "fields_under",
    "money",
    "plain",
    "require",
    "require_each",
    "require_unscoped",
    "user_errors_field",
]

#: Any JSON value (attributes, opening hours, an export)
JSON = GenericScalar


class MoneyInput(graphene.InputObjectType):
    amount = graphene.String(required=True, description="Decimal amount as a string: \"19.90\"")
    currency = graphene.String(required=True, description="ISO 4217 code")


def user_errors_field() -> graphene.List:
    return graphene.List(graphene.NonNull(UserErrorType), required=True,
                         description="Why nothing changed (empty on success)")


def plain(value: Any) -> Any:
    """A GraphQL input as plain data for the core: dicts and lists, nulls left out
    (a null means "the default", exactly like a missing field)."""
    if isinstance(value, Mapping):
        return {key: plain(item) for key, item in value.items() if item is not None}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    return value


def money(value: Money | None) -> dict[str, Any] | None:
    """A ``Money`` as the ``Money`` GraphQL type resolves it."""
    return None if value is None else value.to_json()


def context_of(info: graphene.ResolveInfo) -> RequestContext:
    context: RequestContext = info.context
    return context


def commerce_of(info: graphene.ResolveInfo) -> Any:
    return context_of(info).commerce


def require(info: graphene.ResolveInfo, permission: Permission, *,
            location: str | None = None) -> StaffPrincipal:
    """The caller if its key has ``permission`` (for ``location``); else ``Forbidden``."""
    return context_of(info).require(permission, location=location)


def require_each(info: graphene.ResolveInfo, permission: Permission,
                 locations: Iterable[str | None]) -> StaffPrincipal:
    """``require`` for every location of ``locations`` (a channel's, an order's …)."""
    staff = require(info, permission)
    for location in locations:
        if location is not None:
            staff.require(permission, location=location)
    return staff


def require_unscoped(info: graphene.ResolveInfo, permission: Permission, what: str
                     ) -> StaffPrincipal:
    """``require``, and the key must not be scoped to locations (``what`` needs them all)."""
    staff = require(info, permission)
    if staff.locations is not None:
        raise Forbidden(f"{what} needs a staff key that is not limited to locations",
                        field="location")
    return staff


def aware(value: dt.datetime | None, field: str) -> dt.datetime | None:
    """A date-time argument, which must say its time zone (``…+01:00``, ``…Z``)."""
    if value is not None and value.tzinfo is None:
        raise InvalidInput("give the time zone: 2026-03-02T10:00:00+01:00", field=field)
    return value


def actor(staff: StaffPrincipal) -> str:
    """Who did it, as recorded by the core: ``staff:<key id>``."""
    return f"staff:{staff.key_id}"


def _join(argument: str, field: str | None) -> str:
    if not field:
        return argument
    return f"{argument}{field}" if field.startswith("[") else f"{argument}.{field}"


@contextmanager
def fields_under(argument: str) -> Iterator[None]:
    """Name the fields of typed errors from the core after the GraphQL argument they
    come from: ``variants[0].sku`` of ``input`` becomes ``input.variants[0].sku``."""
    try:
        yield
    except OmnicoreError as exc:
        exc.field = _join(argument, exc.field)
        if isinstance(exc, InvalidInput):
            for problem in exc.problems:
                problem.field = _join(argument, problem.field)
        raise


def covers_channel(staff: StaffPrincipal, channel: Any) -> bool:
    """Whether the key covers the channel: unscoped, or scoped to every one of its locations
    (a channel with no location belongs to no store: only unscoped keys cover it)."""
    if staff.locations is None:
        return True
    codes = [entry.location for entry in channel.locations]
    return bool(codes) and all(staff.may_see(code) for code in codes)

"""Storefront customers: sign-up, sign-in tokens, ``me`` and what a customer decides.

A customer token (``Authorization: Bearer oct_…``, from ``customerAccessTokenCreate``)
makes the request the customer's: ``me`` and the mutations below act on that
customer only — no operation takes a customer id. Without a token ``me`` is a
``forbidden`` error and the mutations answer a ``forbidden`` userError; an expired
or revoked token is refused with HTTP 401 before anything runs.
"""

from __future__ import annotations

from typing import Any

import graphene

from omnicore.auth import PASSWORD_MAX, PASSWORD_MIN, CustomerToken
from omnicore.customers import ActivityKind, Customer
from omnicore.errors import Forbidden, InvalidInput
from omnicore.gateway.context import RequestContext
from omnicore.gateway.errors import UserErrorType, mutation_result
from omnicore.gateway.storefront.carts import CartType
from omnicore.gateway.storefront.orders import OrderType

__all__ = ["CustomerMutation", "CustomerQuery", "CustomerType"]

#: what a storefront may record; the core records the rest (favourites, cart events)
STOREFRONT_ACTIVITY = frozenset({ActivityKind.PRODUCT_VIEWED, ActivityKind.SEARCH,
                                 ActivityKind.STORE_VISIT})
CREATED = "created_customer"


def _own(info: graphene.ResolveInfo, customer: Customer) -> str:
    """The customer's id if the request is theirs (signed in as them, or just created them)."""
    context: RequestContext = info.context
    if customer.id not in (context.customer_id, context.loaders.get(CREATED)):
        raise Forbidden("only the signed-in customer reads their own data",
                        field="authorization")
    return customer.id


def _source(context: RequestContext) -> str:
    return f"storefront:{context.require_channel().code}"


class ConsentType(graphene.ObjectType):
    class Meta:
        name = "Consent"

    contact_channel = graphene.String(required=True, description="email, sms, push or post")
    granted = graphene.Boolean(required=True)
    source = graphene.String(required=True)
    recorded_at = graphene.DateTime(required=True)

    @staticmethod
    def resolve_contact_channel(parent: Any, _: graphene.ResolveInfo) -> str:
        return str(parent.contact_channel.value)


class FavouriteType(graphene.ObjectType):
    class Meta:
        name = "Favourite"

    sku = graphene.String(required=True)
    title = graphene.String()
    added_at = graphene.DateTime(required=True)


class ActivityType(graphene.ObjectType):
    class Meta:
        name = "Activity"

    kind = graphene.String(required=True)
    channel = graphene.String(required=True)
    sku = graphene.String()
    query = graphene.String()
    category = graphene.String()
    location = graphene.String()
    occurred_at = graphene.DateTime(required=True)

    @staticmethod
    def resolve_kind(parent: Any, _: graphene.ResolveInfo) -> str:
        return str(parent.kind.value)


class CustomerType(graphene.ObjectType):
    """The signed-in customer's profile and what only they may read."""

    class Meta:
        name = "Customer"

    id = graphene.ID(required=True)
    email = graphene.String()
    phone = graphene.String()
    first_name = graphene.String()
    last_name = graphene.String()
    language = graphene.String()
    preferred_store = graphene.String()
    consents = graphene.List(graphene.NonNull(ConsentType), required=True,
                             description="The current decision per contact channel")
    favourites = graphene.List(graphene.NonNull(FavouriteType), required=True,
                               description="Newest first")
    orders = graphene.List(graphene.NonNull(OrderType), required=True,
                           first=graphene.Int(default_value=20, description="1 to 200"),
                           description="From every channel, newest first")
    open_cart = graphene.Field(CartType, description="Whatever channel it was started on")
    activity = graphene.List(graphene.NonNull(ActivityType), required=True,
                             first=graphene.Int(default_value=20, description="1 to 1000"),
                             description="Newest first")

    @staticmethod
    async def resolve_consents(parent: Customer, info: graphene.ResolveInfo) -> list[Any]:
        consents = await info.context.commerce.customers.consents(_own(info, parent))
        return sorted(consents.current.values(), key=lambda d: d.contact_channel.value)

    @staticmethod
    async def resolve_favourites(parent: Customer, info: graphene.ResolveInfo) -> Any:
        return await info.context.commerce.customers.favourites(_own(info, parent))

    @staticmethod
    async def resolve_orders(parent: Customer, info: graphene.ResolveInfo, first: int) -> Any:
        return await info.context.commerce.orders.for_customer(_own(info, parent), limit=first)

    @staticmethod
    async def resolve_open_cart(parent: Customer, info: graphene.ResolveInfo) -> Any:
        return await info.context.commerce.carts.open_cart_for(_own(info, parent))

    @staticmethod
    async def resolve_activity(parent: Customer, info: graphene.ResolveInfo, first: int) -> Any:
        return await info.context.commerce.customers.activity(_own(info, parent), limit=first)


class CustomerAccessTokenType(graphene.ObjectType):
    class Meta:
        name = "CustomerAccessToken"

    access_token = graphene.String(required=True,
                                   description="Send it as Authorization: Bearer <token>")
    expires_at = graphene.DateTime(required=True)

    @staticmethod
    def resolve_access_token(parent: CustomerToken, _: graphene.ResolveInfo) -> str:
        return parent.token


class CustomerQuery(graphene.ObjectType):
    me = graphene.Field(CustomerType, description="The signed-in customer (needs their token)")

    @staticmethod
    async def resolve_me(_: Any, info: graphene.ResolveInfo) -> Customer:
        context: RequestContext = info.context
        return await context.commerce.customers.get(context.require_customer())


def _payload(name: str, **fields: Any) -> type[graphene.ObjectType]:
    fields["user_errors"] = graphene.List(graphene.NonNull(UserErrorType), required=True)
    return type(name, (graphene.ObjectType,), fields)


CustomerCreatePayload = _payload("CustomerCreatePayload", customer=graphene.Field(CustomerType))
TokenCreatePayload = _payload("CustomerAccessTokenCreatePayload",
                              customer_access_token=graphene.Field(CustomerAccessTokenType))
TokenDeletePayload = _payload("CustomerAccessTokenDeletePayload",
                              deleted_access_token=graphene.String())
ConsentPayload = _payload("CustomerConsentUpdatePayload",
                          consents=graphene.List(graphene.NonNull(ConsentType)))
FavouritesPayload = _payload("FavouritesPayload", removed=graphene.Boolean(),
                             favourites=graphene.List(graphene.NonNull(FavouriteType)))
ActivityPayload = _payload("ActivityRecordPayload", activity=graphene.Field(ActivityType))


class CustomerMutation(graphene.ObjectType):
    customer_create = graphene.Field(
        CustomerCreatePayload, required=True, email=graphene.String(required=True),
        password=graphene.String(required=True, description=f"{PASSWORD_MIN} to "
                                                            f"{PASSWORD_MAX} characters"),
        first_name=graphene.String(), last_name=graphene.String(), phone=graphene.String(),
        language=graphene.String(description="fr, fr-FR …"),
        description="Create an account; then sign in with customerAccessTokenCreate")
    customer_access_token_create = graphene.Field(
        TokenCreatePayload, required=True, email=graphene.String(required=True),
        password=graphene.String(required=True), description="Sign in")
    customer_access_token_delete = graphene.Field(
        TokenDeletePayload, required=True,
        customer_access_token=graphene.String(required=True), description="Sign out")
    customer_consent_update = graphene.Field(
        ConsentPayload, required=True, contact_channel=graphene.String(required=True),
        granted=graphene.Boolean(required=True),
        description="Record the customer's decision on a contact channel (email, sms, push, "
                    "post)")
    favourite_add = graphene.Field(FavouritesPayload, required=True,
                                   sku=graphene.String(required=True),
                                   description="Add a SKU to the customer's favourites "
                                               "(needs their token); adding twice keeps one")
    favourite_remove = graphene.Field(FavouritesPayload, required=True,
                                      sku=graphene.String(required=True),
                                      description="Remove a SKU from the customer's favourites "
                                                  "(needs their token)")
    activity_record = graphene.Field(
        ActivityPayload, required=True,
        kind=graphene.String(required=True, description="product_viewed, search or "
                                                        "store_visit"),
        sku=graphene.String(), query=graphene.String(), category=graphene.String(),
        location=graphene.String(), description="Something the customer did on this channel")

    @staticmethod
    async def resolve_customer_create(
        _: Any, info: graphene.ResolveInfo, email: str, password: str, **profile: Any
    ) -> dict[str, Any]:
        context: RequestContext = info.context
        commerce = context.commerce

        async def work() -> dict[str, Any]:
            source = _source(context)
            # checked before anything is written: no account without a password
            if not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
                raise InvalidInput(f"must be {PASSWORD_MIN} to {PASSWORD_MAX} characters",
                                   field="password")
            customer = await commerce.customers.create(email=email, source=source, **profile)
            await commerce.auth.set_password(customer.id, password)
            context.loaders[CREATED] = customer.id
            return {"customer": customer}

        return await mutation_result(work)

    @staticmethod
    async def resolve_customer_access_token_create(
        _: Any, info: graphene.ResolveInfo, email: str, password: str
    ) -> dict[str, Any]:
        async def work() -> dict[str, Any]:
            return {"customer_access_token": await info.context.commerce.auth.login(email,
                                                                                    password)}

        return await mutation_result(work)

    @staticmethod
    async def resolve_customer_access_token_delete(
        _: Any, info: graphene.ResolveInfo, customer_access_token: str
    ) -> dict[str, Any]:
        async def work() -> dict[str, Any]:
            await info.context.commerce.auth.revoke_token(customer_access_token)
            return {"deleted_access_token": customer_access_token}

        return await mutation_result(work)

    @staticmethod
    async def resolve_customer_consent_update(
        _: Any, info: graphene.ResolveInfo, contact_channel: str, granted: bool
    ) -> dict[str, Any]:
        context: RequestContext = info.context
        customers = context.commerce.customers

        async def work() -> dict[str, Any]:
            me = context.require_customer()
            await customers.set_consent(me, contact_channel, granted, source=_source(context))
            current = (await customers.consents(me)).current
            return {"consents": sorted(current.values(), key=lambda d: d.contact_channel.value)}

        return await mutation_result(work)

    @staticmethod
    async def resolve_favourite_add(_: Any, info: graphene.ResolveInfo, sku: str
                                    ) -> dict[str, Any]:
        context: RequestContext = info.context
        customers = context.commerce.customers

        async def work() -> dict[str, Any]:
            me = context.require_customer()
            await customers.add_favourite(me, sku, channel=context.require_channel().code)
            return {"favourites": await customers.favourites(me)}

        return await mutation_result(work)

    @staticmethod
    async def resolve_favourite_remove(_: Any, info: graphene.ResolveInfo, sku: str
                                       ) -> dict[str, Any]:
        context: RequestContext = info.context
        customers = context.commerce.customers

        async def work() -> dict[str, Any]:
            me = context.require_customer()
            removed = await customers.remove_favourite(me, sku,
                                                       channel=context.require_channel().code)
            return {"removed": removed, "favourites": await customers.favourites(me)}

        return await mutation_result(work)

    @staticmethod
    async def resolve_activity_record(
        _: Any, info: graphene.ResolveInfo, kind: str, **details: Any
    ) -> dict[str, Any]:
        context: RequestContext = info.context

        async def work() -> dict[str, Any]:
            me = context.require_customer()
            if kind not in {k.value for k in STOREFRONT_ACTIVITY}:
                allowed = ", ".join(sorted(k.value for k in STOREFRONT_ACTIVITY))
                raise InvalidInput(f"a storefront records {allowed}", field="kind")
            return {"activity": await context.commerce.customers.record_activity(
                me, kind, channel=context.require_channel().code, **details)}

        return await mutation_result(work)

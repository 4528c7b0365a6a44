"""Admin API: customers (``VIEW_CUSTOMERS``: search, the 360° view; ``MANAGE_CUSTOMERS``:
merge, export, erase) and the cart hand-off (``HANDOFF_CARTS``).

Customers are one base across every channel and location: a key scoped to locations
sees them all. A hand-off moves the cart to a store channel, so the key must cover
every location of that channel (an associate of store A takes carts over at A only).
"""

from __future__ import annotations

from typing import Any

import graphene

from omnicore.auth import Permission
from omnicore.carts import Cart
from omnicore.customers import Customer, CustomerView, IdentityKind
from omnicore.errors import InvalidInput, NotFound
from omnicore.gateway.admin.common import (
    JSON,
    actor,
    commerce_of,
    money,
    require,
    require_each,
    user_errors_field,
)
from omnicore.gateway.errors import mutation_result
from omnicore.gateway.storefront.catalog import MoneyType
from omnicore.serialization import unstructure

__all__ = ["AdminCustomersMutation", "AdminCustomersQuery"]


def _value(parent: Any, name: str) -> Any:
    value = getattr(parent, name)
    return getattr(value, "value", value)  # an enum member as its string


class AdminIdentityType(graphene.ObjectType):
    class Meta:
        name = "AdminIdentity"

    kind = graphene.String(required=True, description="email, phone, loyalty_card, external")
    value = graphene.String(required=True)
    source = graphene.String(required=True, description='"" except for external identities')
    verified = graphene.Boolean(required=True)
    created_at = graphene.DateTime()

    resolve_kind = staticmethod(lambda parent, _: _value(parent, "kind"))


class AdminCustomerType(graphene.ObjectType):
    class Meta:
        name = "AdminCustomer"

    id = graphene.ID(required=True)
    status = graphene.String(required=True)
    first_name = graphene.String()
    last_name = graphene.String()
    email = graphene.String()
    phone = graphene.String()
    language = graphene.String()
    preferred_store = graphene.String()
    attributes = JSON(required=True)
    identities = graphene.List(graphene.NonNull(AdminIdentityType), required=True)
    created_at = graphene.DateTime(required=True)
    updated_at = graphene.DateTime(required=True)

    resolve_status = staticmethod(lambda parent, _: _value(parent, "status"))


class AdminConsentType(graphene.ObjectType):
    class Meta:
        name = "AdminConsent"

    contact_channel = graphene.String(required=True, description="email, sms, push, post")
    granted = graphene.Boolean(required=True)
    source = graphene.String(required=True)
    recorded_at = graphene.DateTime(required=True)

    resolve_contact_channel = staticmethod(lambda parent, _: _value(parent, "contact_channel"))


class AdminSavedAddressType(graphene.ObjectType):
    class Meta:
        name = "AdminSavedAddress"

    id = graphene.Int(required=True)
    label = graphene.String()
    default = graphene.Boolean(required=True)
    address = JSON(required=True)

    resolve_address = staticmethod(lambda parent, _: unstructure(parent.address))


class CartSummaryType(graphene.ObjectType):
    class Meta:
        name = "CustomerCartSummary"

    id = graphene.ID(required=True)
    channel = graphene.String(required=True)
    currency = graphene.String(required=True)
    line_count = graphene.Int(required=True)
    quantity = graphene.Int(required=True)
    updated_at = graphene.DateTime(required=True)


class FavouriteType(graphene.ObjectType):
    class Meta:
        name = "AdminFavourite"

    sku = graphene.String(required=True)
    title = graphene.String()
    added_at = graphene.DateTime(required=True)


class ViewedProductType(graphene.ObjectType):
    class Meta:
        name = "CustomerViewedProduct"

    sku = graphene.String(required=True)
    last_viewed_at = graphene.DateTime(required=True)
    views = graphene.Int(required=True)
    product_title = graphene.String()
    variant_title = graphene.String()


class CategoryCountType(graphene.ObjectType):
    class Meta:
        name = "CustomerCategoryCount"

    category = graphene.String(required=True)
    events = graphene.Int(required=True)


class OrderSummaryType(graphene.ObjectType):
    class Meta:
        name = "CustomerOrderSummary"

    id = graphene.ID(required=True)
    number = graphene.String(required=True)
    channel = graphene.String(required=True)
    status = graphene.String(required=True)
    total = graphene.Field(MoneyType, required=True)
    placed_at = graphene.DateTime(required=True)
    source = graphene.String(required=True, description='"" for checkouts, else the '
                                                        'marketplace or POS')
    external_id = graphene.String()

    resolve_status = staticmethod(lambda parent, _: _value(parent, "status"))
    resolve_total = staticmethod(lambda parent, _: money(parent.total))


class CustomerViewType(graphene.ObjectType):
    """The 360° view: everything an associate needs about one customer, on one screen."""

    class Meta:
        name = "CustomerView"

    customer = graphene.Field(AdminCustomerType, required=True)
    consents = graphene.List(graphene.NonNull(AdminConsentType), required=True,
                             description="The current decision per contact channel")
    addresses = graphene.List(graphene.NonNull(AdminSavedAddressType), required=True)
    open_carts = graphene.List(graphene.NonNull(CartSummaryType), required=True)
    favourites = graphene.List(graphene.NonNull(FavouriteType), required=True)
    recently_viewed = graphene.List(graphene.NonNull(ViewedProductType), required=True)
    top_categories = graphene.List(graphene.NonNull(CategoryCountType), required=True)
    orders = graphene.List(graphene.NonNull(OrderSummaryType), required=True,
                           description="The newest orders of every channel")
    order_count = graphene.Int(required=True)
    loyalty = JSON(required=True)
    extra = JSON(required=True, description="Sections plugins add to the view, by name")

    @staticmethod
    def resolve_consents(parent: CustomerView, _: graphene.ResolveInfo) -> list[Any]:
        return [parent.consents[key] for key in sorted(parent.consents)]

    resolve_loyalty = staticmethod(lambda parent, _: unstructure(parent.loyalty))
    resolve_extra = staticmethod(lambda parent, _: unstructure(parent.extra))


class CustomerMergeType(graphene.ObjectType):
    class Meta:
        name = "CustomerMerge"

    survivor_id = graphene.ID(required=True)
    merged_id = graphene.ID(required=True)
    actor = graphene.String(required=True)
    summary = JSON(required=True, description="What moved: counts and field names")
    merged_at = graphene.DateTime(required=True)


class CustomerErasureType(graphene.ObjectType):
    class Meta:
        name = "CustomerErasure"

    customer_id = graphene.ID(required=True)
    customer_ids = graphene.List(graphene.NonNull(graphene.ID), required=True,
                                 description="The customer and those merged into it")
    removed = JSON(required=True, description="Rows removed or redacted, per kind")
    erased_at = graphene.DateTime(required=True)


class AdminCartLineType(graphene.ObjectType):
    class Meta:
        name = "AdminCartLine"

    id = graphene.ID(required=True)
    sku = graphene.String(required=True)
    quantity = graphene.Int(required=True)
    fulfilment = graphene.String(required=True, description="ship or pickup")
    location = graphene.String()
    held = graphene.Boolean(required=True)
    available = graphene.Boolean(required=True)

    resolve_fulfilment = staticmethod(lambda parent, _: _value(parent, "fulfilment"))


class AdminCartTrailType(graphene.ObjectType):
    class Meta:
        name = "AdminCartTrailEntry"

    channel = graphene.String(required=True)
    action = graphene.String(required=True)
    actor = graphene.String()
    at = graphene.DateTime(required=True)


class AdminCartType(graphene.ObjectType):
    class Meta:
        name = "AdminCart"

    id = graphene.ID(required=True)
    channel = graphene.String(required=True)
    currency = graphene.String(required=True)
    customer_id = graphene.ID()
    status = graphene.String(required=True)
    version = graphene.Int(required=True)
    lines = graphene.List(graphene.NonNull(AdminCartLineType), required=True)
    trail = graphene.List(graphene.NonNull(AdminCartTrailType), required=True,
                          description="The cart's journey across channels")
    updated_at = graphene.DateTime(required=True)

    resolve_status = staticmethod(lambda parent, _: _value(parent, "status"))


SEARCH_KINDS = {"email": IdentityKind.EMAIL, "phone": IdentityKind.PHONE,
                "loyalty_card": IdentityKind.LOYALTY_CARD}


class AdminCustomersQuery(graphene.ObjectType):
    customer_search = graphene.List(
        graphene.NonNull(AdminCustomerType), required=True, email=graphene.String(),
        phone=graphene.String(), loyalty_card=graphene.String(), external_id=graphene.String(),
        source=graphene.String(description="The system of an externalId (amazon, square …)"),
        description="The customer holding an identity — give exactly one of email, phone, "
                    "loyaltyCard, externalId (with source); empty when nobody does "
                    "(VIEW_CUSTOMERS)")
    customer = graphene.Field(CustomerViewType, id=graphene.ID(required=True),
                              description="The 360° view of a customer; a merged id gives "
                                          "its survivor (VIEW_CUSTOMERS)")
    customer_export = JSON(id=graphene.ID(required=True),
                           description="Everything held about a customer, for a subject "
                                       "access request (MANAGE_CUSTOMERS)")

    @staticmethod
    async def resolve_customer_search(_: Any, info: graphene.ResolveInfo,
                                      **given: str | None) -> list[Customer]:
        require(info, Permission.VIEW_CUSTOMERS)
        source = given.pop("source", None) or ""
        wanted = {name: value for name, value in given.items() if value is not None}
        if len(wanted) != 1:
            raise InvalidInput("give exactly one of email, phone, loyaltyCard, externalId",
                               field="email")
        (name, value), = wanted.items()
        kind = SEARCH_KINDS.get(name, IdentityKind.EXTERNAL)
        try:
            found = await commerce_of(info).customers.find(
                kind, value, source=source if kind is IdentityKind.EXTERNAL else "")
        except NotFound:
            return []
        return [found]

    @staticmethod
    async def resolve_customer(_: Any, info: graphene.ResolveInfo, id: str) -> CustomerView:
        require(info, Permission.VIEW_CUSTOMERS)
        view: CustomerView = await commerce_of(info).customers.view(id)
        return view

    @staticmethod
    async def resolve_customer_export(_: Any, info: graphene.ResolveInfo, id: str) -> Any:
        require(info, Permission.MANAGE_CUSTOMERS)
        return await commerce_of(info).customers.export(id)


class CustomerMergeMutation(graphene.Mutation):
    """Merge a duplicate profile into the survivor, in one transaction; the merged id keeps
    resolving to the survivor (MANAGE_CUSTOMERS)."""

    class Meta:
        name = "CustomerMergePayload"

    class Arguments:
        survivor_id = graphene.ID(required=True)
        merged_id = graphene.ID(required=True)

    merge = graphene.Field(CustomerMergeType)
    customer = graphene.Field(AdminCustomerType, description="The survivor after the merge")
    user_errors = user_errors_field()

    @staticmethod
    async def mutate(_: Any, info: graphene.ResolveInfo, survivor_id: str,
                     merged_id: str) -> dict[str, Any]:
        async def work() -> dict[str, Any]:
            staff = require(info, Permission.MANAGE_CUSTOMERS)
            customers = commerce_of(info).customers
            merge = await customers.merge(survivor_id, merged_id, actor=actor(staff))
            return {"merge": merge, "customer": await customers.get(merge.survivor_id)}

        return await mutation_result(work)


class CustomerEraseMutation(graphene.Mutation):
    """Remove a customer's personal data — and that of the customers merged into it
    (MANAGE_CUSTOMERS)."""

    class Meta:
        name = "CustomerErasePayload"

    class Arguments:
        id = graphene.ID(required=True)

    erasure = graphene.Field(CustomerErasureType)
    user_errors = user_errors_field()

    @staticmethod
    async def mutate(_: Any, info: graphene.ResolveInfo, id: str) -> dict[str, Any]:
        async def work() -> dict[str, Any]:
            staff = require(info, Permission.MANAGE_CUSTOMERS)
            return {"erasure": await commerce_of(info).customers.erase(id, actor=actor(staff))}

        return await mutation_result(work)


class CartTakeOver(graphene.Mutation):
    """An associate takes a customer's cart over on a store channel, with the code the
    customer shows (single use) or, without it, the customer's consent on ``cartId``
    (HANDOFF_CARTS, for every location of the store channel)."""

    class Meta:
        name = "CartTakeOverPayload"

    class Arguments:
        channel = graphene.String(required=True, description="The store channel (its till)")
        code = graphene.String(description="The customer's 8-character hand-off code")
        cart_id = graphene.ID(description="The cart, when the customer allowed a hand-off")

    cart = graphene.Field(AdminCartType)
    user_errors = user_errors_field()

    @staticmethod
    async def mutate(_: Any, info: graphene.ResolveInfo, channel: str, code: str | None = None,
                     cart_id: str | None = None) -> dict[str, Any]:
        async def work() -> dict[str, Any]:
            require(info, Permission.HANDOFF_CARTS)
            commerce = commerce_of(info)
            store = await commerce.channels.get(channel)
            staff = require_each(info, Permission.HANDOFF_CARTS,
                                 [entry.location for entry in store.locations])
            cart: Cart = await commerce.carts.take_over(code=code, cart_id=cart_id,
                                                        channel=channel, associate=actor(staff))
            return {"cart": cart}

        return await mutation_result(work)


class AdminCustomersMutation(graphene.ObjectType):
    customer_merge = CustomerMergeMutation.Field(required=True)
    customer_erase = CustomerEraseMutation.Field(required=True)
    cart_take_over = CartTakeOver.Field(required=True)

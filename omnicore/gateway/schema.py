"""The two schemas, assembled from per-domain classes.

A domain module contributes a ``…Query`` and/or ``…Mutation`` (graphene
``ObjectType`` subclasses whose fields are merged here). Add a class to the
lists below to expose it; the order of the lists is the order of the fields.
"""

from __future__ import annotations

from typing import Any

import graphene

from omnicore.gateway.admin.catalog import AdminCatalogMutation, AdminCatalogQuery
from omnicore.gateway.admin.customers import AdminCustomersMutation, AdminCustomersQuery
from omnicore.gateway.admin.fulfilment import AdminFulfilmentMutation, AdminFulfilmentQuery
from omnicore.gateway.admin.orders import AdminOrdersMutation, AdminOrdersQuery
from omnicore.gateway.admin.outbox import AdminOutboxMutation, AdminOutboxQuery
from omnicore.gateway.admin.promotions import AdminPromotionsMutation, AdminPromotionsQuery
from omnicore.gateway.admin.stock import AdminStockMutation, AdminStockQuery
from omnicore.gateway.lists import bound_lists
from omnicore.gateway.storefront.carts import CartMutation, CartQuery
from omnicore.gateway.storefront.catalog import CatalogQuery
from omnicore.gateway.storefront.checkout import CheckoutMutation
from omnicore.gateway.storefront.customers import CustomerMutation, CustomerQuery
from omnicore.gateway.storefront.locations import LocationsQuery
from omnicore.gateway.storefront.orders import OrdersQuery
from omnicore.gateway.storefront.stock import StockQuery
from omnicore.gateway.storefront.subscriptions import OrderSubscription

#: storefront (``/graphql``): a channel's public token, optionally a customer token
STOREFRONT_QUERIES: list[type[Any]] = [CatalogQuery, LocationsQuery, StockQuery, CartQuery,
                                        CustomerQuery, OrdersQuery]
STOREFRONT_MUTATIONS: list[type[Any]] = [CartMutation, CheckoutMutation, CustomerMutation]
STOREFRONT_SUBSCRIPTIONS: list[type[Any]] = [OrderSubscription]

#: admin (``/admin/graphql``): a staff key with permissions
ADMIN_QUERIES: list[type[Any]] = [AdminCatalogQuery, AdminPromotionsQuery, AdminStockQuery,
                                   AdminCustomersQuery, AdminOrdersQuery, AdminFulfilmentQuery,
                                   AdminOutboxQuery]
ADMIN_MUTATIONS: list[type[Any]] = [AdminCatalogMutation, AdminPromotionsMutation,
                                     AdminStockMutation, AdminCustomersMutation,
                                     AdminOrdersMutation, AdminFulfilmentMutation,
                                     AdminOutboxMutation]


def _merge(name: str, parts: list[type[Any]], doc: str) -> type[Any] | None:
    if not parts:
        return None
    return type(name, (*parts, graphene.ObjectType), {"__doc__": doc})


def build_schema(queries: list[type[Any]], mutations: list[type[Any]],
                 subscriptions: list[type[Any]], *, prefix: str) -> graphene.Schema:
    query = _merge(f"{prefix}Query", queries, "Read operations")
    if query is None:  # a schema needs a query type
        query = type(f"{prefix}Query", (graphene.ObjectType,),
                     {"ok": graphene.Boolean(default_value=True)})
    return graphene.Schema(
        query=query,
        mutation=_merge(f"{prefix}Mutation", mutations, "Changes"),
        subscription=_merge(f"{prefix}Subscription", subscriptions, "Live updates"),
        auto_camelcase=True,
    )


storefront_schema = build_schema(STOREFRONT_QUERIES, STOREFRONT_MUTATIONS,
                                 STOREFRONT_SUBSCRIPTIONS, prefix="")
admin_schema = build_schema(ADMIN_QUERIES, ADMIN_MUTATIONS, [], prefix="Admin")
# a mutation's list beyond its maximum: a ``userError`` (``omnicore.gateway.lists``)
bound_lists(storefront_schema.graphql_schema)
bound_lists(admin_schema.graphql_schema)

"""The storefront schema, assembled from per-domain query classes."""

from __future__ import annotations

import graphene

from omnicore.gateway.catalog import CatalogQuery
from omnicore.gateway.locations import LocationsQuery


class Query(CatalogQuery, LocationsQuery, graphene.ObjectType):
    """Storefront queries (``/graphql``)."""


storefront_schema = graphene.Schema(query=Query, auto_camelcase=True)

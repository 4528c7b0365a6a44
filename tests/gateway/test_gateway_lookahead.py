"""Look-ahead: ``selects(info, *path)`` over fields, aliases, fragments and cycles.

A tiny graphene schema whose resolvers keep their ``info``; the assertions ask
``selects`` about it once the query has run.
"""

from __future__ import annotations

from typing import Any

import graphene
import pytest
from graphql import GraphQLResolveInfo, execute_sync, parse, validate

from omnicore.gateway.lookahead import selects


class Stock(graphene.ObjectType):
    total = graphene.Int()


class Money(graphene.ObjectType):
    amount = graphene.String()
    currency = graphene.String()


class Variant(graphene.ObjectType):
    sku = graphene.String()
    price = graphene.Field(Money)
    availability = graphene.Field(Stock)


class Product(graphene.ObjectType):
    title = graphene.String()
    variants = graphene.List(Variant)
    related = graphene.List(lambda: Product)

    @staticmethod
    def resolve_variants(parent: dict[str, Any], info: GraphQLResolveInfo) -> Any:
        SEEN.setdefault("variants", info)
        return parent["variants"]


class Query(graphene.ObjectType):
    product = graphene.Field(Product)

    @staticmethod
    def resolve_product(_: Any, info: GraphQLResolveInfo) -> Any:
        SEEN.setdefault("product", info)
        return {"title": "Tee", "variants": [{"sku": "TEE-M"}], "related": []}


SCHEMA = graphene.Schema(query=Query)
SEEN: dict[str, GraphQLResolveInfo] = {}


def run(query: str, *, valid: bool = True) -> dict[str, GraphQLResolveInfo]:
    """Execute ``query`` and return the ``info`` each spied resolver got first."""
    document = parse(query)
    errors = validate(SCHEMA.graphql_schema, document)
    assert (not errors) if valid else errors, errors
    SEEN.clear()
    result = execute_sync(SCHEMA.graphql_schema, document)
    assert result.errors is None, result.errors
    return dict(SEEN)


def product_info(query: str, *, valid: bool = True) -> GraphQLResolveInfo:
    return run(query, valid=valid)["product"]


def test_direct_fields() -> None:
    info = product_info("{ product { title } }")
    assert selects(info, "title")
    assert not selects(info, "variants")
    assert not selects(info, "product")  # the path starts below the field resolved


def test_nested_paths() -> None:
    info = product_info("{ product { title variants { sku price { amount } } } }")
    assert selects(info, "variants")
    assert selects(info, "variants", "sku")
    assert selects(info, "variants", "price")
    assert selects(info, "variants", "price", "amount")
    assert not selects(info, "variants", "price", "currency")
    assert not selects(info, "variants", "availability")
    assert not selects(info, "price")  # a field of the wrong level
    assert not selects(info, "title", "amount")  # a leaf has no selection set
    assert not selects(info, "variants", "availability", "total")


def test_a_nested_resolver_asks_from_its_own_level() -> None:
    seen = run("{ product { variants { availability { total } } } }")
    assert selects(seen["variants"], "availability", "total")
    assert not selects(seen["variants"], "variants")
    assert selects(seen["product"], "variants", "availability", "total")


def test_aliases_count_by_field_name() -> None:
    info = product_info("{ product { vs: variants { cost: price { amount } } } }")
    assert selects(info, "variants", "price", "amount")
    assert not selects(info, "vs")
    assert not selects(info, "variants", "cost")


def test_the_same_field_twice_merges_both_selections() -> None:
    info = product_info("{ product { title } product { variants { sku } } }")
    assert len(info.field_nodes) == 2
    assert selects(info, "title")
    assert selects(info, "variants", "sku")
    assert not selects(info, "variants", "price")


def test_named_fragments_are_followed() -> None:
    info = product_info("""
        { product { ...Card } }
        fragment Card on Product { title variants { ...Line } }
        fragment Line on Variant { sku price { ...Amount } }
        fragment Amount on Money { amount }
    """)
    assert selects(info, "title")
    assert selects(info, "variants", "sku")
    assert selects(info, "variants", "price", "amount")
    assert not selects(info, "variants", "price", "currency")
    assert not selects(info, "variants", "availability")


def test_inline_fragments_are_followed() -> None:
    info = product_info("""
        { product { ... on Product { variants { ... { availability { total } } } } } }
    """)
    assert selects(info, "variants")
    assert selects(info, "variants", "availability", "total")
    assert not selects(info, "variants", "price")


def test_fragments_mixed_with_fields_at_one_level() -> None:
    info = product_info("""
        { product { title ... on Product { variants { sku } } ...Prices } }
        fragment Prices on Product { variants { price { amount } } }
    """)
    assert selects(info, "variants", "sku")
    assert selects(info, "variants", "price", "amount")  # the second ``variants`` counts too


def test_a_fragment_spread_twice() -> None:
    info = product_info("""
        { product { ...Lines variants { sku } ...Lines } }
        fragment Lines on Product { variants { price { currency } } }
    """)
    assert selects(info, "variants", "sku")
    assert selects(info, "variants", "price", "currency")
    assert not selects(info, "variants", "price", "amount")


def test_skip_and_include_are_not_evaluated() -> None:
    info = product_info("{ product { variants @skip(if: true) { price { amount } } } }")
    assert selects(info, "variants", "price")  # documented: may be selected counts


@pytest.mark.parametrize("query", [
    """{ product { ...Loop } }
       fragment Loop on Product { title ...Loop }""",
    """{ product { ...A } }
       fragment A on Product { ...B title }
       fragment B on Product { ...A variants { sku } }""",
    """{ product { ...A } }
       fragment A on Product { ... on Product { ...A } title variants { sku } }""",
], ids=["self", "mutual", "through-inline"])
def test_a_fragment_cycle_ends(query: str) -> None:
    # validation refuses cycles; selects must still end on a document that was not validated
    info = product_info(query, valid=False)
    assert selects(info, "title")
    assert not selects(info, "variants", "price")
    assert not selects(info, "nothing", "here")


def test_a_recursive_fragment_across_levels() -> None:
    info = product_info("""
        { product { ...Tree } }
        fragment Tree on Product { title related { ...Tree } }
    """, valid=False)
    assert selects(info, "related", "related", "related", "title")
    assert not selects(info, "related", "variants")


def test_an_unknown_fragment_is_ignored() -> None:
    info = product_info("{ product { ...Nowhere title } }", valid=False)
    assert selects(info, "title")
    assert not selects(info, "variants")

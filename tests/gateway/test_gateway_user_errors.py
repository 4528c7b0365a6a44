"""userErrors speak GraphQL: camelCase fields and arguments, operations instead of core calls."""

from __future__ import annotations

import pytest

from omnicore.errors import Conflict, InvalidInput, NotFound, Problem
from omnicore.gateway.errors import graphql_field, graphql_message, mutation_result, user_errors


@pytest.mark.parametrize(("core", "graphql"), [
    ("cart_id", "cartId"),
    ("lines[0].quantity", "lines[0].quantity"),
    ("lines[2].unit_price", "lines[2].unitPrice"),
    ("delivery[0].address.postal_code", "delivery[0].address.postalCode"),
    ("radius_km", "radiusKm"),
    ("sku", "sku"),
    (None, None),
])
def test_field_paths_are_camel_case(core: str | None, graphql: str | None) -> None:
    assert graphql_field(core) == graphql


def test_messages_name_the_mutation_not_the_core_call() -> None:
    assert graphql_message("no delivery address: set one with set_delivery") == (
        "no delivery address: set one with cartDeliveryUpdate")
    assert "cartTakeOver" in graphql_message("a store channel takes a cart over with take_over")
    assert graphql_message("a plain message") == "a plain message"


def test_every_problem_of_an_invalid_input_is_translated() -> None:
    error = InvalidInput("2 problems", problems=[Problem("lines[0].unit_price", "bad"),
                                                 Problem("cart_id", "bad")])
    assert [e["field"] for e in user_errors(error)] == ["lines[0].unitPrice", "cartId"]


async def test_a_mutation_may_rename_a_core_field_to_its_own_argument() -> None:
    async def revoke() -> dict[str, object]:
        raise NotFound("no such key", field="key_id")

    assert (await mutation_result(revoke, fields={"key_id": "id"}))["user_errors"] == [
        {"field": "id", "code": "not_found", "message": "no such key"}]

    async def conflict() -> dict[str, object]:
        raise Conflict("the customer has an open cart: continue it (open_cart_for)",
                       field="customer_id")

    [error] = (await mutation_result(conflict))["user_errors"]
    assert error["field"] == "customerId"
    assert "open_cart_for" not in error["message"] and "openCart" in error["message"]

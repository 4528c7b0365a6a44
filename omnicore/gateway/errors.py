"""``userErrors``: the core's typed errors as mutation results.

Every mutation returns a payload with ``userErrors { field code message }``
instead of failing the request: an ``OmnicoreError`` raised by the core becomes
one entry per problem (an ``InvalidInput`` with several problems gives several),
and the payload's other fields are null. Anything else is a bug and is left to
the gateway's error formatting ("internal error", logged).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import graphene

from omnicore.errors import InvalidInput, OmnicoreError

__all__ = ["UserErrorType", "graphql_field", "graphql_message", "mutation_result",
           "user_errors"]

T = TypeVar("T")


class UserErrorType(graphene.ObjectType):
    class Meta:
        name = "UserError"

    field = graphene.String(description="The input at fault, as a dotted path (or null)")
    code = graphene.String(required=True, description="Stable machine code (invalid_input …)")
    message = graphene.String(required=True)


#: core calls a message may name, and the GraphQL operation a gateway caller uses instead
OPERATIONS = {
    "set_delivery": "cartDeliveryUpdate",
    "take_over": "cartTakeOver",
    "open_cart_for": "customer { openCart }",
    "handoff_code": "cartHandoffCode",
}
_OPERATION = re.compile(r"\b(" + "|".join(map(re.escape, OPERATIONS)) + r")\b")
_SNAKE = re.compile(r"(?<=[a-z0-9])_([a-z0-9])")


def graphql_field(field: str | None) -> str | None:
    """A core field path as the GraphQL caller wrote it: ``lines[0].unit_price`` →
    ``lines[0].unitPrice``, ``cart_id`` → ``cartId`` (graphene's camelCase)."""
    if field is None:
        return None
    return _SNAKE.sub(lambda m: m.group(1).upper(), field)


def graphql_message(message: str) -> str:
    """A core message in the caller's language: core calls become GraphQL operations."""
    return _OPERATION.sub(lambda m: OPERATIONS[m.group(1)], message)


def user_errors(exc: OmnicoreError) -> list[dict[str, Any]]:
    """The entries of ``userErrors`` for one typed error, in GraphQL's terms (camelCase
    fields, operations instead of core calls)."""
    if isinstance(exc, InvalidInput) and len(exc.problems) > 1:
        return [{"field": graphql_field(p.field), "code": exc.code,
                 "message": graphql_message(p.message)} for p in exc.problems]
    return [{"field": graphql_field(exc.field), "code": exc.code,
             "message": graphql_message(exc.message)}]


async def mutation_result(
    work: Callable[[], Awaitable[dict[str, Any]]], *, fields: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Run ``work`` (returning the payload's fields); typed errors become ``userErrors``.

    :param fields: core field → the mutation's own argument, where they differ by more
        than camelCase (``{"key_id": "id"}``).
    """
    try:
        result = await work()
    except OmnicoreError as exc:
        errors = user_errors(exc)
        if fields:
            renamed = {graphql_field(core): mine for core, mine in fields.items()}
            for error in errors:
                error["field"] = renamed.get(error["field"], error["field"])
        return {"user_errors": errors}
    return {**result, "user_errors": []}

"""``userErrors``: the core's typed errors as mutation results.

Every mutation returns a payload with ``userErrors { field code message }``
instead of failing the request: an ``OmnicoreError`` raised by the core becomes
one entry per problem (an ``InvalidInput`` with several problems gives several),
and the payload's other fields are null. Anything else is a bug and is left to
the gateway's error formatting ("internal error", logged).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import graphene

from omnicore.errors import InvalidInput, OmnicoreError

__all__ = ["UserErrorType", "mutation_result", "user_errors"]

T = TypeVar("T")


class UserErrorType(graphene.ObjectType):
    class Meta:
        name = "UserError"

    field = graphene.String(description="The input at fault, as a dotted path (or null)")
    code = graphene.String(required=True, description="Stable machine code (invalid_input …)")
    message = graphene.String(required=True)


def user_errors(exc: OmnicoreError) -> list[dict[str, Any]]:
    """The entries of ``userErrors`` for one typed error."""
    if isinstance(exc, InvalidInput) and len(exc.problems) > 1:
        return [{"field": p.field, "code": exc.code, "message": p.message} for p in exc.problems]
    return [{"field": exc.field, "code": exc.code, "message": exc.message}]


async def mutation_result(work: Callable[[], Awaitable[dict[str, Any]]]) -> dict[str, Any]:
    """Run ``work`` (returning the payload's fields); typed errors become ``userErrors``."""
    try:
        result = await work()
    except OmnicoreError as exc:
        return {"user_errors": user_errors(exc)}
    return {**result, "user_errors": []}

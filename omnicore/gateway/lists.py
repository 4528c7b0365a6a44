"""The maximum length of a mutation's list arguments, answered as a ``userError``.

``omnicore.gateway.cost`` counts every item of a list argument in the cost and notes
the lists beyond their maximum (``LIST_MAXIMA``); the guard refuses such a query
before it runs. A mutation answers in its payload instead, as it answers every
problem of its input: ``bound_lists`` wraps the resolver of each root mutation field
that takes a list (directly or inside an input object), and a list beyond its
maximum gives ``userErrors: [{field: "prices", code: "invalid_input", …}]`` with
nothing done — the resolver is not called. (A list so long that the operation's
cost passes ``[gateway] max_cost`` was refused before, as any costly query.)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from graphql import GraphQLField, GraphQLObjectType, GraphQLSchema, get_named_type

from omnicore.gateway.cost import holds_list, list_items

__all__ = ["bound_lists", "too_long_errors"]


def too_long_errors(type_name: str, field_name: str, field: GraphQLField,
                    args: dict[str, Any]) -> list[dict[str, Any]]:
    """``userErrors`` entries for the (coerced) ``args`` whose lists are too long."""
    too_long: list[tuple[str, int, int]] = []
    for name, argument in field.args.items():
        if holds_list(argument.type):
            list_items(args.get(argument.out_name or name), argument.type,
                       f"{type_name}.{field_name}.{name}", name, too_long)
    return [{"field": path, "code": "invalid_input",
             "message": f"at most {limit} items ({length} given)"}
            for path, limit, length in too_long]


def _bounded(resolve: Callable[..., Any], type_name: str, field_name: str,
             field: GraphQLField) -> Callable[..., Any]:
    def resolver(root: Any, info: Any, **args: Any) -> Any:
        errors = too_long_errors(type_name, field_name, field, args)
        if errors:
            return {"user_errors": errors}
        return resolve(root, info, **args)

    resolver.__wrapped__ = resolve  # type: ignore[attr-defined]
    return resolver


def bound_lists(schema: GraphQLSchema) -> None:
    """Wrap the root mutation fields of ``schema`` that take lists (once)."""
    root = schema.mutation_type
    if root is None:
        return
    for name, field in root.fields.items():
        if getattr(field.resolve, "__wrapped__", None) is not None:
            continue
        if field.resolve is None or not any(holds_list(a.type) for a in field.args.values()):
            continue
        payload = get_named_type(field.type)
        if not isinstance(payload, GraphQLObjectType) or "userErrors" not in payload.fields:
            continue
        field.resolve = _bounded(field.resolve, root.name, name, field)

"""graphql-core's execution, with a fast path for plain fields.

A product page completes a few hundred fields, and most of them are plain: a
scalar read from an attribute or a dict key by graphene's default resolver
(``Money.amount``, ``LocationStock.available``…). For each one graphql-core
builds a ``GraphQLResolveInfo``, a ``Path``, the (empty) arguments, and walks
``complete_value`` — several times the cost of reading the value.

``GatewayExecutionContext`` reads such fields directly: the value of the
attribute (or key), serialized by the field's scalar. The answer is the same
as graphql-core's. Anything else, or anything unusual on the way (a ``None``
for a non-null field, a value the scalar refuses, an exception), goes through
graphql-core's own ``execute_field``, which reports it as it always does.
Custom resolvers, arguments, lists and objects always take graphql-core's path.
A field named otherwise than the attribute it shows stays plain with
``resolver=reads("attribute")`` (graphene's own default resolver, for that name)
instead of a ``resolve_*`` method.

``is_awaitable`` is graphql-core's test with a fast answer for plain values:
graphql-core asks it of every value a resolver returns, and its own test ends
in a ``hasattr`` that misses for every plain value.

``GatewayExecutionContext`` overrides methods of graphql-core's ``ExecutionContext``
(``execute_fields``, ``complete_list_value``) and calls others (``execute_field``,
``collect_subfields``, ``get_field_def``) whose signatures are graphql-core 3.2's,
not a public API: pyproject.toml pins ``graphql-core>=3.2,<3.3``,
``tests/gateway/test_gateway_execution.py`` fails naming any that is missing, and
``[gateway] fast_execution = false`` runs graphql-core's own execution instead (the
suite runs the gateway's tests that way too: ``nox -s slow_paths``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import decimal
from collections.abc import AsyncIterable, Callable, Iterable, Mapping, Sequence
from functools import partial
from inspect import isawaitable
from typing import Any

from graphene.types.resolver import attr_resolver, dict_or_attr_resolver, dict_resolver
from graphql import (
    DocumentNode,
    ExecutionContext,
    ExecutionResult,
    FieldNode,
    GraphQLEnumType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLResolveInfo,
    GraphQLScalarType,
    GraphQLSchema,
    Undefined,
    execute,
)
from graphql.execution.execute import get_field_def
from graphql.pyutils import AwaitableOrValue, Path
from graphql.pyutils import is_awaitable as graphql_is_awaitable

__all__ = ["GatewayExecutionContext", "is_awaitable", "reads", "run"]

_PLAIN: frozenset[type] = frozenset({
    str, int, float, bool, type(None), list, tuple, dict, set, frozenset,
    decimal.Decimal, dt.datetime, dt.date,
})

_DEFAULT_RESOLVERS = (dict_or_attr_resolver, attr_resolver, dict_resolver)


def is_awaitable(value: Any) -> bool:
    """Whether graphql-core must await ``value``: its own test, after a fast path."""
    if type(value) in _PLAIN:
        return False
    return graphql_is_awaitable(value)


def reads(attname: str, default: Any = None) -> Callable[..., Any]:
    """A graphene resolver showing the attribute (or key) ``attname`` of the parent:
    graphene's default resolver for another name, which the gateway reads directly."""
    return partial(dict_or_attr_resolver, attname, default)


#: what ``_PlainField.value_of`` answers when graphql-core must complete the field itself
UNUSUAL: Any = object()


class _PlainField:
    """How to read one plain field: its attribute (or key), default and scalar."""

    __slots__ = ("attname", "default", "nullable", "serialize")

    def __init__(self, attname: str, default: Any, nullable: bool,
                 serialize: Callable[[Any], Any]) -> None:
        self.attname = attname
        self.default = default
        self.nullable = nullable
        self.serialize = serialize

    def value_of(self, source: Any, source_is_dict: bool) -> Any:
        """The field's serialized value on ``source``; ``UNUSUAL`` for anything that is
        not simply read (``None`` in a non-null field, an exception, a refused value)."""
        try:
            value = (source.get(self.attname, self.default) if source_is_dict
                     else getattr(source, self.attname, self.default))
            if value is None:
                return None if self.nullable else UNUSUAL
            if value is Undefined or isinstance(value, Exception):
                return UNUSUAL
            serialized = self.serialize(value)
        except Exception:
            return UNUSUAL
        if serialized is Undefined or serialized is None:
            return UNUSUAL
        return serialized


#: per (object type, field name) of a schema: how to read the field, if it is plain
_PLAIN_FIELDS: dict[tuple[GraphQLObjectType, str], _PlainField | None] = {}


def _plain_field(schema: GraphQLSchema, parent_type: GraphQLObjectType,
                 field_nodes: list[FieldNode]) -> _PlainField | None:
    """The reading of a field answered by graphene's default resolver with a scalar,
    without arguments; ``None`` for every other field. Known once per field of a type."""
    key = (parent_type, field_nodes[0].name.value)
    try:
        return _PLAIN_FIELDS[key]
    except KeyError:
        found = _PLAIN_FIELDS[key] = _read_plain(schema, parent_type, field_nodes[0])
        return found


def _read_plain(schema: GraphQLSchema, parent_type: GraphQLObjectType,
                field_node: FieldNode) -> _PlainField | None:
    field_def = get_field_def(schema, parent_type, field_node)
    if field_def is None or field_def.args:
        return None
    resolve = field_def.resolve
    if not (isinstance(resolve, partial) and resolve.func in _DEFAULT_RESOLVERS
            and not resolve.keywords and len(resolve.args) == 2):
        return None
    field_type = field_def.type
    nullable = not isinstance(field_type, GraphQLNonNull)
    leaf = field_type.of_type if isinstance(field_type, GraphQLNonNull) else field_type
    if not isinstance(leaf, GraphQLScalarType | GraphQLEnumType):
        return None
    attname, default = resolve.args
    return _PlainField(attname, default, nullable, leaf.serialize)


class GatewayExecutionContext(ExecutionContext):
    """graphql-core's ``ExecutionContext``, reading plain fields directly."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # per selection (a ``fields`` mapping, cached by graphql-core for the request)
        self._plans: dict[int, tuple[Mapping[str, list[FieldNode]],
                                     list[tuple[str, list[FieldNode], _PlainField | None]]]] = {}

    def _plan(self, parent_type: GraphQLObjectType, fields: dict[str, list[FieldNode]]
              ) -> list[tuple[str, list[FieldNode], _PlainField | None]]:
        found = self._plans.get(id(fields))
        if found is not None and found[0] is fields:
            return found[1]
        plan = [(name, nodes, None if self.middleware_manager
                 else _plain_field(self.schema, parent_type, nodes))
                for name, nodes in fields.items()]
        self._plans[id(fields)] = (fields, plan)  # keeps ``fields`` alive: its id stays its own
        return plan

    def complete_list_value(self, return_type: GraphQLList[GraphQLOutputType],
                            field_nodes: list[FieldNode], info: GraphQLResolveInfo,
                            path: Path, result: AsyncIterable[Any] | Iterable[Any]
                            ) -> AwaitableOrValue[list[Any]]:
        """graphql-core's ``complete_list_value``; a list of objects whose selected fields
        are all plain (``locations { locationCode available }``) is read in one loop."""
        item_type = return_type.of_type
        if isinstance(item_type, GraphQLNonNull):
            item_type = item_type.of_type
        if (isinstance(item_type, GraphQLObjectType) and item_type.is_type_of is None
                and isinstance(result, list | tuple)):
            plan = self._plan(item_type, self.collect_subfields(item_type, field_nodes))
            if all(plain is not None for _, _, plain in plan):
                read = _read_plain_objects(plan, result)  # type: ignore[arg-type]
                if read is not None:
                    return read
        return super().complete_list_value(return_type, field_nodes, info, path, result)

    def execute_fields(self, parent_type: GraphQLObjectType, source_value: Any,
                       path: Path | None, fields: dict[str, list[FieldNode]]
                       ) -> AwaitableOrValue[dict[str, Any]]:
        """graphql-core's ``execute_fields``; a plain field is read without its machinery."""
        results: dict[str, Any] = {}
        awaitable_fields: list[str] = []
        source_is_dict = isinstance(source_value, dict)
        for response_name, field_nodes, plain in self._plan(parent_type, fields):
            if plain is not None:
                value = plain.value_of(source_value, source_is_dict)
                if value is not UNUSUAL:
                    results[response_name] = value
                    continue
            result = self.execute_field(parent_type, source_value, field_nodes,
                                        Path(path, response_name, parent_type.name))
            if result is not Undefined:
                results[response_name] = result
                if self.is_awaitable(result):
                    awaitable_fields.append(response_name)
        if not awaitable_fields:
            return results
        return self._gather_fields(results, awaitable_fields)

    @staticmethod
    async def _gather_fields(results: dict[str, Any], names: list[str]) -> dict[str, Any]:
        if len(names) == 1:  # one field to wait for (a root resolver): no task for it
            results[names[0]] = await results[names[0]]
            return results
        results.update(zip(names, await asyncio.gather(*(results[name] for name in names)),
                           strict=True))
        return results


def _read_plain_objects(plan: list[tuple[str, list[FieldNode], _PlainField]],
                        items: Sequence[Any]) -> list[dict[str, Any]] | None:
    """Each item's plain fields, or ``None`` at the first value that is not simply
    read (a ``None`` item, see ``_PlainField.value_of``): graphql-core then completes
    the whole list itself, and reports what it finds."""
    completed = []
    for item in items:
        if item is None:
            return None
        is_dict = isinstance(item, dict)
        values: dict[str, Any] = {}
        for response_name, _, plain in plan:
            value = plain.value_of(item, is_dict)
            if value is UNUSUAL:
                return None
            values[response_name] = value
        completed.append(values)
    return completed


async def run(schema: GraphQLSchema, document: DocumentNode, *, context: Any,
              variables: dict[str, Any] | None, operation_name: str | None,
              root: Any = None, fast: bool = True) -> ExecutionResult:
    """``graphql.execute`` with the gateway's execution context and ``is_awaitable``;
    with ``fast=False`` (``[gateway] fast_execution = false``), graphql-core's own."""
    if fast:
        outcome = execute(schema, document, root_value=root, context_value=context,
                          variable_values=variables, operation_name=operation_name,
                          execution_context_class=GatewayExecutionContext,
                          is_awaitable=is_awaitable)
    else:
        outcome = execute(schema, document, root_value=root, context_value=context,
                          variable_values=variables, operation_name=operation_name)
    return await outcome if isawaitable(outcome) else outcome

"""What the gateway checks before it runs a query: syntax, validity, depth, aliases, cost.

    guard = QueryGuard(schema.graphql_schema, commerce.config.gateway)
    checked = guard.check(query, variables, operation_name)   # a Checked or a Rejection

A request's text is first scanned by ``omnicore.gateway.prepass`` (selections,
aliases, repeated names, fragments, nesting: a cheap bound on what parsing and
validation may cost), then parsed (at most ``MAX_TOKENS`` lexical tokens), validated with
graphql-core's specified rules (``MaxIntrospectionDepthRule`` among them) plus
``NoIntrospection`` when ``[gateway] introspection = false``; then the operation
to run is walked once to measure its depth, its aliases and its cost, which
must stay within ``max_depth``, ``max_aliases`` and ``max_cost`` (the cost map
and the walk: ``omnicore.gateway.cost``). Parsed and validated documents are
cached by query text, so a client repeating a query pays for parsing and
validation once; so are the measures, by query text and
the values of the variables the walk consulted (the page sizes), so a product
page asked for with another ``$handle`` is not walked again.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import attrs
from graphql import (
    DocumentNode,
    FieldNode,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
    ValidationRule,
    assert_valid_schema,
    parse,
    specified_rules,
    validate,
)

from omnicore.gateway.cost import (
    DEFAULT_LIST_SIZE,
    FIELD_COSTS,
    LIST_SIZES,
    MUTATION_COST,
    WALK_DEPTH,
    Measure,
    measure,
    measure_reading,
)
from omnicore.gateway.prepass import TextLimits, prepass
from omnicore.gateway.settings import GatewaySettings

__all__ = [
    "DEFAULT_LIST_SIZE",
    "FIELD_COSTS",
    "LIST_SIZES",
    "MAX_QUERY_CHARS",
    "MAX_TOKENS",
    "MUTATION_COST",
    "WALK_DEPTH",
    "Checked",
    "GatewaySettings",
    "Measure",
    "QueryGuard",
    "Rejection",
    "measure",
    "without_suggestions",
]

#: Lexical tokens a document may have: far above any real query, a bound on parsing work.
MAX_TOKENS = 10_000
#: Characters a document may have (a string literal is one token, lexed character by
#: character): far above any real query.
MAX_QUERY_CHARS = 100_000
#: graphql-core's suggestions ("Did you mean 'order' or 'orders'?"), left out of messages
#: when introspection is off: they would show the schema to whoever asks
_SUGGESTION = re.compile(r"\s*Did you mean [^?]*\?")
CACHE_SIZE = 512
#: measures kept per query (one per value of its page sizes)
MEASURES_PER_QUERY = 64


@attrs.frozen
class Rejection:
    """Why a request is refused before it runs: a 400 answer with ``errors``."""

    message: str
    code: str
    status: int = 400
    limit: int | None = None
    value: int | None = None
    locations: list[dict[str, int]] | None = None

    def body(self) -> dict[str, Any]:
        extensions: dict[str, Any] = {"code": self.code}
        if self.limit is not None:
            extensions |= {"limit": self.limit, "value": self.value}
        error: dict[str, Any] = {"message": self.message}
        if self.locations:
            error["locations"] = self.locations
        error["extensions"] = extensions
        return {"errors": [error]}


@attrs.frozen
class Checked:
    """A request that may run: its document and the operation it selects."""

    document: DocumentNode
    operation: OperationDefinitionNode
    measure: Measure


class NoIntrospection(ValidationRule):
    """Refuses ``__schema`` and ``__type`` (``[gateway] introspection = false``)."""

    def enter_field(self, node: FieldNode, *_: Any) -> None:
        if node.name.value in ("__schema", "__type"):
            self.report_error(GraphQLError(
                f"introspection is disabled on this server ([gateway] introspection = false): "
                f"{node.name.value} is refused", node))


def _locations(error: GraphQLError) -> list[dict[str, int]] | None:
    if not error.locations:
        return None
    return [{"line": loc.line, "column": loc.column} for loc in error.locations]


def without_suggestions(message: str) -> str:
    """``message`` without graphql-core's "Did you mean …?" suggestions."""
    return _SUGGESTION.sub("", message)


def _parsed(schema: GraphQLSchema, query: str, settings: GatewaySettings
            ) -> DocumentNode | Rejection:
    introspection = settings.introspection
    if len(query) > MAX_QUERY_CHARS:
        return Rejection(f"the document has more than {MAX_QUERY_CHARS} characters",
                         "query_too_large", limit=MAX_QUERY_CHARS, value=len(query))
    found = prepass(query, TextLimits(settings.max_selections, settings.max_aliases,
                                       MAX_TOKENS))
    if found is not None:
        return Rejection(found.message, found.code, limit=found.limit, value=found.value)
    try:
        document = parse(query, max_tokens=MAX_TOKENS)
    except GraphQLError as exc:
        return Rejection(exc.message, "syntax_error", locations=_locations(exc))
    rules = [*specified_rules] if introspection else [*specified_rules, NoIntrospection]
    errors = validate(schema, document, rules)
    if errors:
        first = errors[0]
        code = "introspection_disabled" if "introspection is disabled" in first.message \
            else "invalid_query"
        more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
        message = first.message if introspection else without_suggestions(first.message)
        return Rejection(message + more, code, locations=_locations(first))
    return document


def _operation(document: DocumentNode, name: str | None) -> OperationDefinitionNode | Rejection:
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if name is None:
        if len(operations) == 1:
            return operations[0]
        return Rejection(f"the document has {len(operations)} operations: give operationName",
                         "operation_name_required")
    for operation in operations:
        if operation.name is not None and operation.name.value == name:
            return operation
    return Rejection(f"unknown operation name {name!r}", "unknown_operation")


class QueryGuard:
    """Checks requests against one schema and the ``[gateway]`` limits; caches documents."""

    def __init__(self, schema: GraphQLSchema, settings: GatewaySettings,
                 *, cache_size: int = CACHE_SIZE) -> None:
        assert_valid_schema(schema)
        self.schema = schema
        self.settings = settings
        self._cache: OrderedDict[str, DocumentNode | Rejection] = OrderedDict()
        self._cache_size = cache_size
        # (query, operation name) -> (the variables the walk consulted, measure per values)
        self._measures: OrderedDict[tuple[str, str | None],
                                    tuple[tuple[str, ...], dict[tuple[Any, ...], Measure]]] = \
            OrderedDict()

    def document(self, query: str) -> DocumentNode | Rejection:
        """The parsed and validated document of ``query`` (cached), or why it is refused."""
        found = self._cache.get(query)
        if found is not None:
            self._cache.move_to_end(query)
            return found
        found = _parsed(self.schema, query, self.settings)
        self._cache[query] = found
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return found

    def check(self, query: str, variables: Mapping[str, Any] | None = None,
              operation_name: str | None = None) -> Checked | Rejection:
        """The document to run, or a ``Rejection`` naming the limit and its value."""
        document = self.document(query)
        if isinstance(document, Rejection):
            return document
        operation = _operation(document, operation_name)
        if isinstance(operation, Rejection):
            return operation
        found = self._measure(query, operation_name, document, operation, variables or {})
        limits = self.settings
        if found.depth > limits.max_depth:
            shown = f"more than {WALK_DEPTH}" if found.depth > WALK_DEPTH else found.depth
            return Rejection(
                f"query depth {shown} exceeds the limit of {limits.max_depth} "
                "([gateway] max_depth)", "query_too_deep", limit=limits.max_depth,
                value=found.depth)
        if found.aliases > limits.max_aliases:
            return Rejection(
                f"{found.aliases} aliases exceed the limit of {limits.max_aliases} "
                "([gateway] max_aliases)", "too_many_aliases", limit=limits.max_aliases,
                value=found.aliases)
        if found.too_long and operation.operation is not OperationType.MUTATION:
            path, limit, length = found.too_long[0]
            return Rejection(
                f"argument {path} has {length} items: at most {limit}", "list_too_long",
                limit=limit, value=length)
        if found.cost > limits.max_cost:
            return Rejection(
                f"query cost {found.cost} exceeds the limit of {limits.max_cost} "
                "([gateway] max_cost): ask for fewer objects (first / limit) or fewer fields",
                "query_too_costly", limit=limits.max_cost, value=found.cost)
        return Checked(document, operation, found)

    def _measure(self, query: str, operation_name: str | None, document: DocumentNode,
                 operation: OperationDefinitionNode, variables: Mapping[str, Any]) -> Measure:
        """``measure``, remembered per query and values of the variables it consulted."""
        key = (query, operation_name)
        known = self._measures.get(key)
        if known is not None:
            values = _values_key(known[0], variables)
            found = known[1].get(values) if values is not None else None
            if found is not None:
                self._measures.move_to_end(key)
                return found
        found, consulted = measure_reading(self.schema, document, operation, variables)
        names = tuple(sorted(consulted))
        values = _values_key(names, variables)
        if values is not None:
            if known is None or known[0] != names:
                known = self._measures[key] = (names, {})
            if len(known[1]) < MEASURES_PER_QUERY:
                known[1][values] = found
            if len(self._measures) > self._cache_size:
                self._measures.popitem(last=False)
        return found


def _values_key(names: tuple[str, ...], variables: Mapping[str, Any]
                ) -> tuple[Any, ...] | None:
    """The values of ``names`` as a key of the cache of measures, or ``None`` when one
    cannot key it: page sizes are ints; a bool or a float would share an int's key
    (``True == 1.0 == 1``), so only ints, strings and ``None`` do."""
    values = tuple(variables.get(name) for name in names)
    if all(value is None or type(value) in (int, str) for value in values):
        return values
    return None



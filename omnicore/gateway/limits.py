"""What the gateway checks before it runs a query: syntax, validity, depth, aliases, cost.

    guard = QueryGuard(schema.graphql_schema, GatewaySettings.from_config(commerce.config.extra))
    checked = guard.check(query, variables, operation_name)   # a Checked or a Rejection

A request is parsed (at most ``MAX_TOKENS`` lexical tokens), validated with
graphql-core's specified rules (``MaxIntrospectionDepthRule`` among them) plus
``NoIntrospection`` when ``[gateway] introspection = false``; then the operation
to run is walked once to measure its depth, its aliases and its cost, which
must stay within ``max_depth``, ``max_aliases`` and ``max_cost``. The walk is not
a ``ValidationRule`` because the cost depends on the request's variables
(``products(first: $n)``), which validation rules do not see. Parsed and
validated documents are cached by query text, so a client repeating a query
pays for parsing and validation once; so are the measures, by query text and
the values of the variables the walk consulted (the page sizes), so a product
page asked for with another ``$handle`` is not walked again.

The cost of a field is 1 (``FIELD_COSTS`` names the exceptions; a mutation's
root field costs ``MUTATION_COST``), plus the cost of its selection multiplied
by how many objects it may return: the value of its ``first`` / ``last`` /
``limit`` argument (or that argument's default), else for a list
``LIST_SIZES`` or ``DEFAULT_LIST_SIZE``. A list right below a paginated field
(``products(first: 50) { nodes { … } }``) counts once: the page size is already
in the multiplier. The introspection fields ``__schema`` and ``__type`` are
left out of depth, aliases and cost: introspection is allowed or refused as a
whole, and ``MaxIntrospectionDepthRule`` bounds its nesting.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import attrs
from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLList,
    GraphQLNonNull,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    ValidationRule,
    VariableNode,
    assert_valid_schema,
    get_named_type,
    parse,
    specified_rules,
    validate,
)

from omnicore.gateway.settings import GatewaySettings

__all__ = [
    "DEFAULT_LIST_SIZE",
    "FIELD_COSTS",
    "LIST_SIZES",
    "MAX_TOKENS",
    "MUTATION_COST",
    "Checked",
    "GatewaySettings",
    "Measure",
    "QueryGuard",
    "Rejection",
    "measure",
]

#: Lexical tokens a document may have: far above any real query, a bound on parsing work.
MAX_TOKENS = 10_000
#: Objects a list field without ``first`` / ``limit`` is assumed to return.
DEFAULT_LIST_SIZE = 10
#: Arguments whose value is the number of objects a field returns.
PAGE_ARGUMENTS = ("first", "last", "limit")
#: What a root field of a mutation costs by itself: a write transaction.
MUTATION_COST = 10
#: Own cost of some fields (``Type.field``), instead of 1.
FIELD_COSTS: dict[str, int] = {
    "Query.storeAvailability": 5,  # a geographic search with stock per location
    "Query.products": 2,           # a search when ``query`` is given
    "AdminQuery.customerSearch": 5,
}
#: Objects some lists hold, instead of ``DEFAULT_LIST_SIZE`` (``Type.field``).
LIST_SIZES: dict[str, int] = {
    "Product.variants": 5,          # sizes of one colour; the demo has 1 to 6
    "Product.availability": 5,      # one entry per variant
    "AdminProduct.variants": 5,
    "OpeningHours.weekly": 7,
    "DayHours.intervals": 2,
    "HoursException.intervals": 2,
}
#: Payloads' ``userErrors`` lists are short: one entry per problem of the input.
USER_ERRORS_SIZE = 3
CACHE_SIZE = 512
#: measures kept per query (one per value of its page sizes)
MEASURES_PER_QUERY = 64
#: The walk stops descending past this many levels (the depth is then reported as more).
WALK_DEPTH = 100

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


@attrs.frozen
class Measure:
    """The depth, aliases and cost of an operation (introspection fields left out)."""

    depth: int
    aliases: int
    cost: int


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


def _parsed(schema: GraphQLSchema, query: str, introspection: bool
            ) -> DocumentNode | Rejection:
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
        return Rejection(first.message + more, code, locations=_locations(first))
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
        found = _parsed(self.schema, query, self.settings.introspection)
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
            names, by_values = known
            values = tuple(variables.get(name) for name in names)
            if all(_plain_value(value) for value in values):
                found = by_values.get(values)
                if found is not None:
                    self._measures.move_to_end(key)
                    return found
        found, consulted = _measured(self.schema, document, operation, variables)
        names = tuple(sorted(consulted))
        values = tuple(variables.get(name) for name in names)
        if all(_plain_value(value) for value in values):
            if known is None or known[0] != names:
                known = self._measures[key] = (names, {})
            if len(known[1]) < MEASURES_PER_QUERY:
                known[1][values] = found
            if len(self._measures) > self._cache_size:
                self._measures.popitem(last=False)
        return found


def _plain_value(value: Any) -> bool:
    """A variable's value that can key the cache of measures: page sizes are ints (a
    bool or a float would share an int's key, ``True == 1.0 == 1``, so they are not)."""
    return value is None or type(value) in (int, str)


# -- the walk ----------------------------------------------------------------------------------


class _TooDeep(Exception):
    pass


class _Walk:
    """One pass over an operation; each result is (cost, depth below, aliases)."""

    def __init__(self, schema: GraphQLSchema, document: DocumentNode,
                 operation: OperationDefinitionNode, variables: Mapping[str, Any]) -> None:
        self.schema = schema
        self.fragments = {d.name.value: d for d in document.definitions
                          if isinstance(d, FragmentDefinitionNode)}
        self.variables = dict(variables)
        for definition in operation.variable_definitions or ():
            name = definition.variable.name.value
            if name not in self.variables and isinstance(definition.default_value, IntValueNode):
                self.variables[name] = int(definition.default_value.value)
        self.mutation_root = operation.operation == OperationType.MUTATION
        #: the variables the walk read (the measure depends on nothing else of them)
        self.consulted: set[str] = set()
        # a fragment measures the same wherever it is spread (for one ``paged`` flag):
        # memoised, so fragments spreading fragments twice over cannot blow the walk up
        self.memo: dict[tuple[str, bool], tuple[int, int, int]] = {}

    def page_size(self, node: FieldNode, definition: Any) -> int | None:
        """The value of the field's ``first`` / ``last`` / ``limit`` argument, if it has one."""
        for name in PAGE_ARGUMENTS:
            if name not in definition.args:
                continue
            for argument in node.arguments or ():
                if argument.name.value != name:
                    continue
                value: Any = argument.value
                if isinstance(value, IntValueNode):
                    return max(int(value.value), 0)
                if isinstance(value, VariableNode):
                    self.consulted.add(value.name.value)
                    given = self.variables.get(value.name.value)
                    if isinstance(given, int) and not isinstance(given, bool):
                        return max(given, 0)
                break
            default = definition.args[name].default_value
            if isinstance(default, int) and not isinstance(default, bool):
                return max(default, 0)
            return DEFAULT_LIST_SIZE
        return None

    def selection(self, selection_set: SelectionSetNode, parent: Any, *, paged: bool,
                  level: int, root: bool = False) -> tuple[int, int, int]:
        cost = depth = aliases = 0
        for node in selection_set.selections:
            if isinstance(node, FieldNode):
                c, d, a = self.field(node, parent, paged=paged, level=level, root=root)
            elif isinstance(node, InlineFragmentNode):
                on = parent if node.type_condition is None \
                    else self.schema.get_type(node.type_condition.name.value)
                c, d, a = self.selection(node.selection_set, on, paged=paged, level=level,
                                         root=root)
            elif isinstance(node, FragmentSpreadNode):
                c, d, a = self.spread(node.name.value, paged=paged, level=level, root=root)
            else:  # pragma: no cover - graphql has no other kind of selection
                continue
            cost += c
            depth = max(depth, d)
            aliases += a
        return cost, depth, aliases

    def spread(self, name: str, *, paged: bool, level: int, root: bool
               ) -> tuple[int, int, int]:
        key = (name, paged)
        if key not in self.memo:
            self.memo[key] = (0, 0, 0)  # a cycle (refused by validation) counts nothing
            fragment = self.fragments[name]
            on = self.schema.get_type(fragment.type_condition.name.value)
            self.memo[key] = self.selection(fragment.selection_set, on, paged=paged,
                                            level=level, root=root)
        return self.memo[key]

    def field(self, node: FieldNode, parent: Any, *, paged: bool, level: int, root: bool
              ) -> tuple[int, int, int]:
        name = node.name.value
        if name in ("__schema", "__type"):
            return 0, 0, 0
        if level >= WALK_DEPTH:
            raise _TooDeep
        aliases = 1 if node.alias is not None else 0
        definition = getattr(parent, "fields", {}).get(name)
        key = f"{parent.name}.{name}"
        own = FIELD_COSTS.get(key, MUTATION_COST if root and self.mutation_root else 1)
        if definition is None or node.selection_set is None:  # __typename, a scalar
            return own, 1, aliases
        field_type = definition.type
        while isinstance(field_type, GraphQLNonNull):
            field_type = field_type.of_type
        is_list = isinstance(field_type, GraphQLList)
        page = self.page_size(node, definition)
        if page is not None:
            size = page
        elif not is_list or paged:
            size = 1
        elif name == "userErrors":
            size = USER_ERRORS_SIZE
        else:
            size = LIST_SIZES.get(key, DEFAULT_LIST_SIZE)
        cost, depth, inner_aliases = self.selection(
            node.selection_set, get_named_type(definition.type),
            paged=page is not None and not is_list, level=level + 1)
        return own + size * cost, depth + 1, aliases + inner_aliases


def measure(schema: GraphQLSchema, document: DocumentNode, operation: OperationDefinitionNode,
            variables: Mapping[str, Any] | None = None) -> Measure:
    """Depth, aliases and cost of ``operation`` with ``variables`` (see the module's doc).

    A depth beyond ``WALK_DEPTH`` is reported as ``WALK_DEPTH + 1`` (the walk stops there).
    """
    return _measured(schema, document, operation, variables or {})[0]


def _measured(schema: GraphQLSchema, document: DocumentNode,
              operation: OperationDefinitionNode, variables: Mapping[str, Any]
              ) -> tuple[Measure, set[str]]:
    """``measure``, and the names of the variables it read."""
    walk = _Walk(schema, document, operation, variables)
    root = schema.get_root_type(operation.operation)
    if root is None:  # pragma: no cover - validation refused the operation
        return Measure(0, 0, 0), walk.consulted
    try:
        cost, depth, aliases = walk.selection(operation.selection_set, root, paged=False,
                                              level=0, root=True)
    except _TooDeep:
        return Measure(WALK_DEPTH + 1, 0, 0), walk.consulted
    return Measure(depth, aliases, cost), walk.consulted

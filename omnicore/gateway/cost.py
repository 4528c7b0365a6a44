"""What a GraphQL operation costs: its depth, aliases and cost, by one walk of its AST.

The cost of a field is 1 (``FIELD_COSTS`` names the exceptions; a mutation's
root field costs ``MUTATION_COST``), plus the cost of its selection multiplied
by how many objects it may return: the value of its ``first`` / ``last`` /
``limit`` argument (or that argument's default), else for a list
``LIST_SIZES`` or ``DEFAULT_LIST_SIZE``. A list right below a paginated field
(``products(first: 50) { nodes { … } }``) counts once: the page size is already
in the multiplier. The introspection fields ``__schema`` and ``__type`` are
left out of depth, aliases and cost: introspection is allowed or refused as a
whole, and ``MaxIntrospectionDepthRule`` bounds its nesting.

Every item of a list argument (``storeAvailability(skus:)``, a cart's ``lines``,
``cartDeliveryUpdate``'s groups and their ``lineIds``, ``pricesSet``'s prices …, in
input objects too) costs 1 more, and each list has a maximum length
(``LIST_MAXIMA``, ``DEFAULT_LIST_MAXIMUM`` for any other): the walk reports the lists
beyond it in ``Measure.too_long`` (the guard refuses a query or subscription naming
the argument; a mutation answers a ``userError``, see ``omnicore.gateway.lists``).
A list beyond its maximum is counted, not walked item by item.

``measure`` is what ``omnicore.gateway.limits.QueryGuard`` checks against the
``[gateway]`` limits. The walk is not a ``ValidationRule`` because the cost
depends on the request's variables (``products(first: $n)``), which validation
rules do not see. Fragments are measured once each however often they are
spread (memoised), so a "fragment bomb" is measured in linear time.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs
from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLInputObjectType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    ListValueNode,
    ObjectValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    ValueNode,
    VariableNode,
    get_named_type,
)

__all__ = [
    "DEFAULT_LIST_MAXIMUM",
    "DEFAULT_LIST_SIZE",
    "FIELD_COSTS",
    "LIST_MAXIMA",
    "LIST_SIZES",
    "MUTATION_COST",
    "WALK_DEPTH",
    "Measure",
    "holds_list",
    "list_items",
    "list_maximum",
    "measure",
    "measure_reading",
]

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
#: The longest list a list argument or input field may hold (``Type.field.argument`` for
#: an argument, ``InputType.field`` for a field of an input object); each item costs 1.
LIST_MAXIMA: dict[str, int] = {
    # storefront
    "Query.storeAvailability.skus": 50,
    "Mutation.checkoutComplete.payments": 10,
    "Mutation.cartCreate.lines": 100,
    "Mutation.cartCreate.attributes": 50,
    "Mutation.cartLinesAdd.lines": 100,
    "Mutation.cartLinesUpdate.lines": 100,
    "Mutation.cartLinesRemove.lineIds": 100,
    "Mutation.cartDeliveryUpdate.delivery": 20,
    "DeliveryGroupInput.lineIds": 100,
    "Mutation.cartDiscountCodesUpdate.discountCodes": 10,
    # admin
    "AdminQuery.channelKpis.channels": 100,
    "AdminQuery.fulfilments.status": 20,
    "AdminQuery.orders.status": 20,
    "AdminQuery.stockLevels.locations": 100,
    "AdminMutation.outboxRetry.ids": 500,
    "AdminMutation.staffKeyCreate.locations": 100,
    "AdminMutation.staffKeyCreate.permissions": 50,
    "AdminMutation.returnCreate.lines": 100,
    "AdminMutation.promotionAddCodes.codes": 1000,
    "AdminMutation.pricesSet.prices": 1000,
    "PromotionInput.skus": 1000,
    "PromotionInput.families": 100,
    "PromotionInput.channels": 100,
    "PromotionInput.codes": 1000,
    "ProductInput.variants": 100,
    "ProductInput.images": 50,
    "LocationInput.capabilities": 20,
    "ChannelInput.locations": 200,
}
#: The maximum of a list argument or input field ``LIST_MAXIMA`` does not name.
DEFAULT_LIST_MAXIMUM = 100
#: Payloads' ``userErrors`` lists are short: one entry per problem of the input.
USER_ERRORS_SIZE = 3
#: The walk stops descending past this many levels (the depth is then reported as more).
WALK_DEPTH = 100


@attrs.frozen
class Measure:
    """The depth, aliases and cost of an operation (introspection fields left out)."""

    depth: int
    aliases: int
    cost: int
    #: lists beyond their maximum: (the argument's path, its maximum, its length)
    too_long: tuple[tuple[str, int, int], ...] = ()


def list_maximum(key: str) -> int:
    """The maximum length of the list argument or input field ``key`` (see ``LIST_MAXIMA``)."""
    return LIST_MAXIMA.get(key, DEFAULT_LIST_MAXIMUM)


def list_items(value: Any, type_: Any, key: str, path: str,
               too_long: list[tuple[str, int, int]]) -> int:
    """Items of the lists in a (coerced or JSON) ``value`` of input type ``type_``; the
    lists beyond their maximum are added to ``too_long`` (and not walked further)."""
    while isinstance(type_, GraphQLNonNull):
        type_ = type_.of_type
    if value is None:
        return 0
    if isinstance(type_, GraphQLList):
        entries = value if isinstance(value, list | tuple) else [value]
        limit = list_maximum(key)
        if len(entries) > limit:
            too_long.append((path, limit, len(entries)))
            return len(entries)
        return len(entries) + sum(list_items(entry, type_.of_type, key, f"{path}[{i}]", too_long)
                                  for i, entry in enumerate(entries))
    if isinstance(type_, GraphQLInputObjectType) and isinstance(value, Mapping):
        total = 0
        for name, field in type_.fields.items():
            given = value.get(name, value.get(field.out_name or name))
            total += list_items(given, field.type, f"{type_.name}.{name}", f"{path}.{name}",
                                too_long)
        return total
    return 0


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
        #: variables' default values, for the lists (``$skus: [String!] = ["A"]``)
        self.defaults: dict[str, ValueNode] = {}
        for definition in operation.variable_definitions or ():
            name = definition.variable.name.value
            if definition.default_value is not None:
                self.defaults[name] = definition.default_value
            if name not in self.variables and isinstance(definition.default_value, IntValueNode):
                self.variables[name] = int(definition.default_value.value)
        self.too_long: list[tuple[str, int, int]] = []
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

    def value(self, node: ValueNode) -> Any:
        """An argument's value as JSON would give it: variables resolved (and consulted),
        lists and objects as lists and dicts, other literals as ``True`` (one item)."""
        if isinstance(node, VariableNode):
            name = node.name.value
            self.consulted.add(name)
            if name in self.variables:
                return self.variables[name]
            default = self.defaults.get(name)
            return None if default is None else self.value(default)
        if isinstance(node, ListValueNode):
            return [self.value(item) for item in node.values]
        if isinstance(node, ObjectValueNode):
            return {field.name.value: self.value(field.value) for field in node.fields}
        return True

    def list_arguments(self, node: FieldNode, parent: Any, definition: Any) -> int:
        """Items of the field's list arguments; lists beyond their maximum noted."""
        total = 0
        for argument in node.arguments or ():
            name = argument.name.value
            arg = definition.args.get(name)
            if arg is None or not holds_list(arg.type):
                continue
            total += list_items(self.value(argument.value), arg.type,
                                f"{parent.name}.{node.name.value}.{name}",
                                f"{node.name.value}.{name}", self.too_long)
        return total

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
        if definition is not None and node.arguments:
            own += self.list_arguments(node, parent, definition)
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
    return measure_reading(schema, document, operation, variables or {})[0]


def measure_reading(schema: GraphQLSchema, document: DocumentNode,
                    operation: OperationDefinitionNode, variables: Mapping[str, Any]
                    ) -> tuple[Measure, set[str]]:
    """``measure``, and the names of the variables it read (its page sizes): the
    measure depends on nothing else of the variables."""
    walk = _Walk(schema, document, operation, variables)
    root = schema.get_root_type(operation.operation)
    if root is None:  # pragma: no cover - validation refused the operation
        return Measure(0, 0, 0), walk.consulted
    try:
        cost, depth, aliases = walk.selection(operation.selection_set, root, paged=False,
                                              level=0, root=True)
    except _TooDeep:
        return Measure(WALK_DEPTH + 1, 0, 0), walk.consulted
    return Measure(depth, aliases, cost, tuple(walk.too_long)), walk.consulted


_HOLDS_LIST: dict[Any, bool] = {}


def holds_list(type_: Any) -> bool:
    """Whether an input type is a list or an input object with a list somewhere inside."""
    found = _HOLDS_LIST.get(type_)
    if found is None:
        _HOLDS_LIST[type_] = False  # a recursive input type: settled below
        found = _HOLDS_LIST[type_] = _finds_list(type_)
    return found


def _finds_list(type_: Any) -> bool:
    while isinstance(type_, GraphQLNonNull):
        type_ = type_.of_type
    if isinstance(type_, GraphQLList):
        return True
    if isinstance(type_, GraphQLInputObjectType):
        return any(holds_list(field.type) for field in type_.fields.values())
    return False

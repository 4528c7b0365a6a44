"""``GatewayExecutionContext`` answers exactly what graphql-core's own execution answers.

Each query runs twice on one schema: with graphql-core's ``ExecutionContext`` and
with the gateway's (plain fields read directly). Data, error messages and error
paths must be equal, for objects and dicts, for values a scalar refuses, for
``None`` in a non-null field, for an exception kept as a value, and next to
custom, argument-taking and asynchronous resolvers.
"""

from __future__ import annotations

import asyncio
import enum
import gc
from collections.abc import Iterator
from inspect import isawaitable
from typing import Any

import attrs
import graphene
import pytest
from graphql import ExecutionContext, ExecutionResult, Undefined, execute, parse

from omnicore.gateway.execution import _PLAIN_FIELDS, GatewayExecutionContext, _plain_field, run
from omnicore.gateway.schema import storefront_schema


@pytest.fixture(autouse=True)
def collect_abandoned_coroutines() -> Iterator[None]:
    """graphql-core leaves the coroutines of fields it abandons (an error beside them)
    unawaited; collect them before the test ends, so that the warning they give is the
    test's (whose filter expects it), not the next test's."""
    yield
    gc.collect()


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


ColourType = graphene.Enum.from_enum(Colour)


class Even(graphene.Scalar):
    """A custom scalar that refuses by answering ``None`` (odd) or ``Undefined`` (< 0)."""

    @staticmethod
    def serialize(value: Any) -> Any:
        if value < 0:
            return Undefined
        return value if value % 2 == 0 else None


class Anything(graphene.Scalar):
    """A custom scalar that serializes whatever it is given."""

    @staticmethod
    def serialize(value: Any) -> Any:
        return str(value)


class PartType(graphene.ObjectType):
    class Meta:
        name = "Part"

    code = graphene.String(required=True)
    size = graphene.Int()
    even = Even()
    tag = Anything()


class ThingType(graphene.ObjectType):
    class Meta:
        name = "Thing"

    name = graphene.String(required=True)
    count = graphene.Int(required=True)
    ratio = graphene.Float()
    flag = graphene.Boolean()
    colour = graphene.Field(ColourType)
    note = graphene.String()
    even = Even()
    anything = Anything()
    label = graphene.String(source="name")
    shout = graphene.String()
    times = graphene.String(n=graphene.Int(required=True))
    later = graphene.Int()
    parts = graphene.List(graphene.NonNull(PartType), required=True)
    maybe = graphene.List(PartType)

    @staticmethod
    def resolve_shout(parent: Any, _: graphene.ResolveInfo) -> str:
        name = parent["name"] if isinstance(parent, dict) else parent.name
        return f"{name}!"

    @staticmethod
    def resolve_times(parent: Any, _: graphene.ResolveInfo, n: int) -> str:
        name = parent["name"] if isinstance(parent, dict) else parent.name
        return str(name) * n

    @staticmethod
    async def resolve_later(parent: Any, _: graphene.ResolveInfo) -> int:
        await asyncio.sleep(0)
        return 7


@attrs.define
class Part:
    code: Any
    size: Any = None
    even: Any = 0
    tag: Any = "t"


@attrs.define
class Thing:
    name: Any
    count: Any
    ratio: Any = None
    flag: Any = None
    colour: Any = None
    note: Any = None
    parts: Any = attrs.Factory(list)
    even: Any = 2
    anything: Any = "ok"
    maybe: Any = None


GOOD = Thing("lamp", 3, 0.5, True, Colour.BLUE, None, [Part("A", 1), Part("B")])
SOURCES: dict[str, Any] = {
    "objects": [GOOD, Thing("desk", 0, flag=False, colour=Colour.RED)],
    "dicts": [attrs.asdict(GOOD, recurse=False) | {"parts": [{"code": "C", "size": 2}],
                                                   "maybe": [{"code": "D"}]}],
    "refused values": [Thing("x", "not a number"), Thing("y", 2, ratio="half")],
    "null in a non-null field": [Thing(None, 1), Thing("z", None)],
    "an exception as a value": [Thing(ValueError("kept"), 1)],
    "a bad enum value": [Thing("w", 1, colour="green")],
    "a custom scalar answering None": [Thing("u", 1, even=3)],
    "a custom scalar answering Undefined": [Thing("t", 1, even=-2)],
    "an exception for a scalar that takes anything": [Thing("s", 1, anything=KeyError("k"))],
    "a non-null field in a list": [Thing("v", 1, parts=[Part(None), Part("ok", "big")])],
    "a refused value in a list": [Thing("r", 1, parts=[Part("a", 1), Part("b", "big")])],
    "an exception in a list": [Thing("q", 1, parts=[Part("a"), Part(KeyError("k"))])],
    "a null in a list of nullable objects": [Thing("p", 1, parts=[Part("a")], maybe=[
        Part("b", 2), None, {"code": "c"}])],
    "a null for a non-null list item": [Thing("o", 1, parts=[Part("a"), None])],
    "a custom scalar answering None in a list": [Thing("n", 1, parts=[Part("a", even=1)])],
    "a custom scalar answering Undefined in a list": [Thing("m", 1, parts=[
        Part("a", even=-2)])],
    "an exception for a scalar that takes anything, in a list": [Thing("l", 1, parts=[
        Part("a", tag=KeyError("k"))])],
}


class Query(graphene.ObjectType):
    things = graphene.List(graphene.NonNull(ThingType))
    one_thing = graphene.Field(ThingType)

    @staticmethod
    def resolve_things(_: Any, info: graphene.ResolveInfo) -> Any:
        return info.context["things"]

    @staticmethod
    async def resolve_one_thing(_: Any, info: graphene.ResolveInfo) -> Any:
        await asyncio.sleep(0)
        return info.context["things"][0]


SCHEMA = graphene.Schema(query=Query).graphql_schema
QUERY = parse("""
{ things { name count ratio flag colour note even anything label shout times(n: 2) later
           parts { code size even tag } maybe { code size } sizes: maybe { size }
           __typename }
  oneThing { name count parts { code } } }
""")


async def outcome(context_class: type[ExecutionContext], things: list[Any]
                  ) -> tuple[Any, list[tuple[str, Any]]]:
    found = execute(SCHEMA, QUERY, context_value={"things": things},
                    execution_context_class=context_class)
    result: ExecutionResult = await found if isawaitable(found) else found  # type: ignore[misc]
    errors = sorted((e.message, e.path) for e in result.errors or ())
    return result.data, errors


@pytest.mark.filterwarnings("ignore:coroutine .* was never awaited:RuntimeWarning")
@pytest.mark.parametrize("case", list(SOURCES))  # (an error in a list leaves its siblings)
async def test_the_answer_is_graphql_cores(case: str) -> None:
    expected = await outcome(ExecutionContext, SOURCES[case])
    assert await outcome(GatewayExecutionContext, SOURCES[case]) == expected
    if case in ("objects", "dicts"):
        assert expected[1] == []
        assert expected[0]["things"][0]["label"] == "lamp"
    elif case == "a null in a list of nullable objects":
        assert expected[1] == []
        assert expected[0]["things"][0]["maybe"] == [
            {"code": "b", "size": 2}, None, {"code": "c", "size": None}]
        assert expected[0]["things"][0]["sizes"] == [{"size": 2}, None, {"size": None}]
    else:
        assert expected[1]  # the case does make graphql-core report an error


def test_plain_fields_are_the_default_resolvers_scalars_without_arguments() -> None:
    thing = SCHEMA.get_type("Thing")
    node = {field.name.value: [field] for field in QUERY.definitions[0]  # type: ignore[attr-defined]
            .selection_set.selections[0].selection_set.selections}
    plain = {name for name in node if _plain_field(SCHEMA, thing, node[name])}  # type: ignore[arg-type]
    assert plain == {"name", "count", "ratio", "flag", "colour", "note", "even", "anything"}
    # ``label`` reads another attribute (graphene's source resolver), ``shout`` and
    # ``times`` have resolvers, ``later`` is async, ``parts`` is a list of objects


async def test_run_executes_the_storefront_schema() -> None:
    result = await run(storefront_schema.graphql_schema, parse("{ __typename }"),
                       context=None, variables=None, operation_name=None)
    assert result.data == {"__typename": "Query"}
    assert result.errors is None


@pytest.mark.filterwarnings("ignore:coroutine .* was never awaited:RuntimeWarning")
async def test_run_switched_off_is_graphql_cores_own_execution() -> None:
    """``[gateway] fast_execution = false``: the same answers, and no plain field read."""
    things = SOURCES["objects"]
    context = {"things": things}
    fast = await run(SCHEMA, QUERY, context=context, variables=None, operation_name=None)
    _PLAIN_FIELDS.clear()  # a cache: it fills again as fields are seen
    slow = await run(SCHEMA, QUERY, context=context, variables=None, operation_name=None,
                     fast=False)
    assert _PLAIN_FIELDS == {}, "graphql-core's own execution reads no plain field"
    assert (slow.data, slow.errors) == (fast.data, fast.errors)
    assert slow.data == (await outcome(ExecutionContext, things))[0]
    await run(SCHEMA, QUERY, context=context, variables=None, operation_name=None)
    assert _PLAIN_FIELDS, "the fast path reads plain fields"


# -- the graphql-core internals the fast path stands on --------------------------------------

#: what ``GatewayExecutionContext`` overrides or calls, with the parameters it relies on
INTERNALS: dict[str, tuple[str, ...]] = {
    "ExecutionContext.execute_fields": ("self", "parent_type", "source_value", "path", "fields"),
    "ExecutionContext.complete_list_value": (
        "self", "return_type", "field_nodes", "info", "path", "result"),
    "ExecutionContext.execute_field": ("self", "parent_type", "source", "field_nodes", "path"),
    "ExecutionContext.collect_subfields": ("self", "return_type", "field_nodes"),
    "graphql.execution.execute.get_field_def": ("schema", "parent_type", "field_node"),
}


def _internal(name: str) -> Any:
    import importlib

    if name.startswith("ExecutionContext."):
        return getattr(ExecutionContext, name.split(".", 1)[1], None)
    module, _, attribute = name.rpartition(".")
    return getattr(importlib.import_module(module), attribute, None)


def test_the_graphql_core_internals_of_the_fast_path_are_there() -> None:
    """Should an upgrade of graphql-core change them (3.3 does), this names what changed;
    ``[gateway] fast_execution = false`` keeps the gateway running meanwhile."""
    import inspect

    import graphql

    problems = []
    for name, parameters in INTERNALS.items():
        found = _internal(name)
        if found is None:
            problems.append(f"{name} is gone")
        elif tuple(inspect.signature(found).parameters) != parameters:
            problems.append(f"{name}{inspect.signature(found)} no longer takes {parameters}")
    context = ExecutionContext.build(SCHEMA, parse("{ __typename }"))
    for attribute in ("schema", "middleware_manager", "is_awaitable"):
        if not hasattr(context, attribute):
            problems.append(f"ExecutionContext().{attribute} is gone")
    if "execution_context_class" not in inspect.signature(graphql.execute).parameters:
        problems.append("graphql.execute(execution_context_class=...) is gone")
    assert not problems, (
        f"graphql-core {graphql.__version__} changed what omnicore.gateway.execution relies "
        "on: " + "; ".join(problems) + ". Set [gateway] fast_execution = false and adapt "
        "GatewayExecutionContext, or keep graphql-core within the range pinned in "
        "pyproject.toml.")

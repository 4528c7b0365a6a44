"""Gateway limits: depth, aliases, cost, introspection, and 400s that name what was refused.

The checks run before execution and touch no table, so the app-level tests use
a SQLite file; ``measure`` is tested on small SDL schemas with recursive types.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from graphql import build_schema, get_introspection_query, parse

from omnicore import Commerce
from omnicore.config import load_config
from omnicore.errors import InvalidInput
from omnicore.gateway import create_app
from omnicore.gateway.app import CHANNEL_HEADER
from omnicore.gateway.limits import (
    DEFAULT_LIST_SIZE,
    MAX_TOKENS,
    MUTATION_COST,
    WALK_DEPTH,
    Checked,
    GatewaySettings,
    QueryGuard,
    Rejection,
    measure,
)
from omnicore.testing import seed_minimal

PRODUCTS = ("{ products(first: %d) { nodes { handle variants { sku price { amount } "
            "availability { total locations { locationCode available } } } } } }")


async def _client(url: str, gateway: dict[str, Any] | None = None) -> Any:
    config = {"gateway": gateway} if gateway else {}
    commerce = await Commerce.open(url, dispatch=False, load_entry_points=False,
                                   auto_migrate=True, config=config)
    seeded = await seed_minimal(commerce)
    key = (await commerce.auth.create_staff_key("ops", ["VIEW_ORDERS"])).key
    transport = httpx.ASGITransport(app=create_app(commerce))
    client = httpx.AsyncClient(transport=transport, base_url="http://shop")
    client.headers[CHANNEL_HEADER] = seeded["channel"].public_token
    return commerce, client, key


@pytest.fixture
async def shop(sqlite_url: str) -> Any:
    commerce, client, key = await _client(sqlite_url)
    client.staff_key = key
    async with client:
        yield client
    await commerce.close()


@pytest.fixture
async def production(sqlite_url: str) -> Any:
    """A gateway with introspection off and tight limits, from ``[gateway]``."""
    commerce, client, _ = await _client(sqlite_url, {
        "introspection": False, "max_depth": 4, "max_aliases": 2, "max_cost": 50})
    async with client:
        yield client
    await commerce.close()


async def refused(client: httpx.AsyncClient, query: str, path: str = "/graphql",
                  **body: Any) -> dict[str, Any]:
    """The first error of a request that must be refused with 400 before it runs."""
    response = await client.post(path, json={"query": query, **body})
    assert response.status_code == 400, response.text
    assert "Traceback" not in response.text
    payload = response.json()
    assert "data" not in payload  # nothing ran
    error: dict[str, Any] = payload["errors"][0]
    return error


async def ok(client: httpx.AsyncClient, query: str, **body: Any) -> dict[str, Any]:
    response = await client.post("/graphql", json={"query": query, **body})
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    assert "errors" not in data, data
    return data


# -- refusals over HTTP --------------------------------------------------------------------------


async def test_depth_beyond_the_limit_is_refused_naming_it(production: httpx.AsyncClient) -> None:
    await ok(production, "{ product(sku: \"TEE-M\") { variants { availability { total } } } }")
    error = await refused(production, "{ product(sku: \"TEE-M\") { variants { availability "
                                      "{ locations { available } } } } }")
    assert error["extensions"] == {"code": "query_too_deep", "limit": 4, "value": 5}
    assert error["message"] == "query depth 5 exceeds the limit of 4 ([gateway] max_depth)"


async def test_aliases_beyond_the_limit_are_refused(production: httpx.AsyncClient) -> None:
    await ok(production, "{ a: __typename b: __typename }")
    error = await refused(production, "{ a: __typename b: __typename c: __typename }")
    assert error["extensions"] == {"code": "too_many_aliases", "limit": 2, "value": 3}
    assert "[gateway] max_aliases" in error["message"] and "limit of 2" in error["message"]


async def test_aliases_spread_through_fragments_count_each_time(
    production: httpx.AsyncClient,
) -> None:
    query = ("query { ...F x: channel { ...G } } fragment F on Query { a: __typename } "
             "fragment G on Channel { b: code }")
    error = await refused(production, query)
    assert error["extensions"]["value"] == 3


async def test_default_limits(shop: httpx.AsyncClient) -> None:
    aliases = " ".join(f"a{i}: __typename" for i in range(30))
    await ok(shop, f"{{ {aliases} }}")
    error = await refused(shop, f"{{ {aliases} b: __typename }}")
    assert error["extensions"] == {"code": "too_many_aliases", "limit": 30, "value": 31}

    await ok(shop, PRODUCTS % 20)  # a listing page with stock per location
    error = await refused(shop, PRODUCTS % 250)
    assert error["extensions"]["code"] == "query_too_costly"
    assert error["extensions"]["limit"] == 5000 and error["extensions"]["value"] > 5000
    assert "[gateway] max_cost" in error["message"] and "5000" in error["message"]


async def test_cost_reads_page_sizes_from_variables(shop: httpx.AsyncClient) -> None:
    query = ("query($n: Int) { products(first: $n) { nodes { variants { sku availability "
             "{ locations { available } } } } } }")
    await ok(shop, query, variables={"n": 10})
    error = await refused(shop, query, variables={"n": 250})
    assert error["extensions"]["code"] == "query_too_costly"
    # without the variable, the argument's default page size (20) counts
    await ok(shop, query)


async def test_introspection_switched_off(production: httpx.AsyncClient) -> None:
    for query in ("{ __schema { types { name } } }", '{ __type(name: "Product") { name } }'):
        error = await refused(production, query)
        assert error["extensions"] == {"code": "introspection_disabled"}
        assert "[gateway] introspection = false" in error["message"]
    await ok(production, "{ __typename }")  # not introspection: clients need it
    page = await production.get("/graphql", headers={"accept": "text/html"})
    assert page.status_code == 405  # no GraphiQL without introspection


async def test_introspection_on_serves_graphiql_queries(shop: httpx.AsyncClient) -> None:
    query = get_introspection_query(descriptions=True, specified_by_url=True,
                                    directive_is_repeatable=True, schema_description=True,
                                    input_value_deprecation=True)
    data = await ok(shop, query)
    assert data["data"]["__schema"]["queryType"]["name"] == "Query"
    # nesting introspection lists is how introspection floods a server: refused
    error = await refused(shop, "{ __schema { types { fields { type { fields { type { fields "
                                "{ name } } } } } } } }")
    assert error["extensions"]["code"] == "invalid_query"
    assert "introspection depth" in error["message"]


@pytest.mark.parametrize(
    ("body", "code", "words"),
    [
        (b"{not json", "malformed_json", "malformed JSON"),
        (b'{"query": "{ channel { code "}', "syntax_error", "Syntax Error"),
        (b'{"query": "{ nothing }"}', "invalid_query", "nothing"),
        (b'{"query": "query A { __typename }", "operationName": "B"}', "unknown_operation",
         "'B'"),
        (b'{"query": "query A { __typename } query B { __typename }"}',
         "operation_name_required", "operationName"),
        (b'{"query": "{ __typename }", "operationName": 3}', "bad_request", "operationName"),
        (b'{"query": "query($n: Int) { products(first: $n) { nodes { handle } } }", '
         b'"variables": {"n": "many"}}', "invalid_variables", "Int cannot represent"),
    ],
)
async def test_bad_requests_answer_400_without_a_trace(
    shop: httpx.AsyncClient, body: bytes, code: str, words: str
) -> None:
    response = await shop.post("/graphql", content=body,
                               headers={"content-type": "application/json"})
    assert response.status_code == 400, response.text
    assert "Traceback" not in response.text
    error = response.json()["errors"][0]
    assert words in error["message"]
    assert error["extensions"]["code"] == code


async def test_syntax_errors_carry_their_location(shop: httpx.AsyncClient) -> None:
    error = await refused(shop, "{\n  channel { code ")
    assert error["locations"] == [{"line": 2, "column": 18}]


async def test_operation_name_selects_the_operation(shop: httpx.AsyncClient) -> None:
    query = "query A { channel { code } } query B { __typename }"
    data = await ok(shop, query, operationName="B")
    assert data["data"] == {"__typename": "Query"}


async def test_too_many_tokens_are_refused_before_validation(shop: httpx.AsyncClient) -> None:
    # tokens that are not selections (a literal list), so that only the token count trips
    query = "{ channel(x: [" + "1 " * (MAX_TOKENS + 1) + "]) { code } }"
    error = await refused(shop, query)
    assert error["extensions"]["code"] == "query_too_large"
    assert str(MAX_TOKENS) in error["message"]
    assert "refused before parsing" in error["message"]


async def test_admin_api_has_the_same_limits(shop: httpx.AsyncClient) -> None:
    headers = {"authorization": f"Bearer {shop.staff_key}"}  # type: ignore[attr-defined]
    aliases = " ".join(f"a{i}: __typename" for i in range(31))
    response = await shop.post("/admin/graphql", headers=headers,
                               json={"query": f"{{ {aliases} }}"})
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "too_many_aliases"
    fine = await shop.post("/admin/graphql", headers=headers, json={"query": "{ __typename }"})
    assert fine.json() == {"data": {"__typename": "AdminQuery"}}


async def test_bad_gateway_settings_fail_at_start_up(sqlite_url: str) -> None:
    for section, field in (({"max_cost": 0}, "gateway.max_cost"),
                           ({"max_depth": "12"}, "gateway.max_depth"),
                           ({"max_aliases": True}, "gateway.max_aliases"),
                           ({"introspection": "no"}, "gateway.introspection"),
                           ({"fast_execution": 0}, "gateway.fast_execution"),
                           ({"max_cots": 10}, "gateway.max_cots")):
        with pytest.raises(InvalidInput) as raised:
            await Commerce.open(sqlite_url, dispatch=False, load_entry_points=False,
                                auto_migrate=True, config={"gateway": section})
        assert raised.value.field == field


def test_settings_defaults_and_graphiql_follows_introspection() -> None:
    default = load_config({}, environ={}).gateway
    assert default == GatewaySettings()
    assert (default.max_depth, default.max_aliases, default.max_cost) == (12, 30, 5000)
    assert default.introspection and default.serves_graphiql and default.fast_execution
    off = load_config({"gateway": {"introspection": False}}, environ={}).gateway
    assert not off.serves_graphiql
    both = load_config({"gateway": {"introspection": False, "graphiql": True}},
                       environ={}).gateway
    assert both.serves_graphiql


# -- the cost map, on small schemas ------------------------------------------------------------

SDL = """
type Query {
  item(id: ID): Item
  items: [Item!]!
  page(first: Int = 20): ItemConnection!
  search(limit: Int): [Item!]!
}
type Mutation { touch(id: ID!): Item }
type ItemConnection { nodes: [Item!]! total: Int }
type Item { id: ID! name: String tags: [String!]! children: [Item!]! parent: Item }
"""
SCHEMA = build_schema(SDL)


def cost_of(query: str, variables: dict[str, Any] | None = None) -> tuple[int, int, int]:
    document = parse(query)
    operation = document.definitions[0]
    found = measure(SCHEMA, document, operation, variables)  # type: ignore[arg-type]
    return found.cost, found.depth, found.aliases


def test_each_field_costs_one_and_lists_multiply() -> None:
    assert cost_of("{ item { id name } }") == (3, 2, 0)
    assert cost_of("{ item { tags } }") == (2, 2, 0)  # a list of scalars is one field
    assert cost_of("{ items { id } }") == (1 + DEFAULT_LIST_SIZE, 2, 0)
    assert cost_of("{ items { children { id } } }") == (
        1 + DEFAULT_LIST_SIZE * (1 + DEFAULT_LIST_SIZE), 3, 0)


def test_page_arguments_multiply_once() -> None:
    # the page size counts on the paginated field, its ``nodes`` list does not multiply again
    assert cost_of("{ page(first: 5) { nodes { id name } total } }") == (1 + 5 * (1 + 2 + 1),
                                                                        3, 0)
    assert cost_of("{ page { nodes { id } } }") == (1 + 20 * 2, 3, 0)  # the argument's default
    assert cost_of("query($n: Int) { page(first: $n) { nodes { id } } }", {"n": 7}) == (15, 3, 0)
    assert cost_of("query($n: Int = 3) { page(first: $n) { nodes { id } } }") == (7, 3, 0)
    assert cost_of("{ search(limit: 2) { id } }") == (3, 2, 0)
    assert cost_of("{ search { id } }")[0] == 1 + DEFAULT_LIST_SIZE  # no default: the list size


def test_mutation_root_fields_cost_more() -> None:
    assert cost_of('mutation { touch(id: "1") { id } }') == (MUTATION_COST + 1, 2, 0)


def test_fragments_and_aliases() -> None:
    query = ("{ a: item { ...I } b: item { ... on Item { c: id } } } "
             "fragment I on Item { id parent { id } }")
    assert cost_of(query) == (1 + 3 + 1 + 1, 3, 3)


def test_fragment_bombs_are_measured_without_expanding_them() -> None:
    # F0 doubles at every level: 2**40 fields once expanded, measured in linear time
    fragments = " ".join(f"fragment F{i} on Item {{ a: parent {{ ...F{i + 1} }} "
                         f"b: parent {{ ...F{i + 1} }} }}" for i in range(40))
    query = f"{{ item {{ ...F0 }} }} {fragments} fragment F40 on Item {{ id }}"
    started = time.perf_counter()
    cost, depth, aliases = cost_of(query)
    assert time.perf_counter() - started < 1
    assert cost > 2**40 and depth == 42 and aliases > 2**40
    guard = QueryGuard(SCHEMA, GatewaySettings(max_depth=100, max_aliases=10**20))
    refusal = guard.check(query)
    assert isinstance(refusal, Rejection) and refusal.code == "query_too_costly"


def test_very_deep_queries_stop_the_walk() -> None:
    query = "{ item " + "{ parent " * (WALK_DEPTH + 5) + "{ id }" + " }" * (WALK_DEPTH + 6)
    document = parse(query)
    operation = document.definitions[0]
    assert measure(SCHEMA, document, operation).depth == WALK_DEPTH + 1  # type: ignore[arg-type]
    guard = QueryGuard(SCHEMA, GatewaySettings())
    refusal = guard.check(query)  # the pre-pass refuses such nesting before parsing
    assert isinstance(refusal, Rejection)
    assert refusal.code == "query_too_deep"


def test_documents_are_parsed_and_validated_once() -> None:
    guard = QueryGuard(SCHEMA, GatewaySettings())
    first = guard.check("{ item { id } }")
    again = guard.check("{ item { id } }")
    assert isinstance(first, Checked) and isinstance(again, Checked)
    assert first.document is again.document
    bad = guard.check("{ item { nope } }")
    assert isinstance(bad, Rejection) and guard.check("{ item { nope } }") is bad


def test_measures_are_kept_per_value_of_the_page_sizes() -> None:
    """A measure is reused only when the variables it read are the same: another
    ``$id`` reuses it, another ``$n`` is measured (and refused) on its own."""
    guard = QueryGuard(SCHEMA, GatewaySettings(max_cost=100))
    query = "query($n: Int, $id: ID) { item(id: $id) { id } page(first: $n) { nodes { id } } }"
    small = guard.check(query, {"n": 5, "id": "a"})
    other_item = guard.check(query, {"n": 5, "id": "b"})
    assert isinstance(small, Checked) and isinstance(other_item, Checked)
    assert other_item.measure is small.measure  # the same walk: ``$id`` is not a page size
    assert small.measure.cost == 2 + 1 + 5 * 2
    big = guard.check(query, {"n": 60, "id": "a"})
    assert isinstance(big, Rejection) and big.code == "query_too_costly"
    assert big.value == 2 + 1 + 60 * 2
    unset = guard.check(query, {"id": "a"})  # the argument's default (20) counts
    assert isinstance(unset, Checked) and unset.measure.cost == 2 + 1 + 20 * 2
    again = guard.check(query, {"n": 5, "id": "c"})
    assert isinstance(again, Checked) and again.measure is small.measure


@pytest.mark.parametrize("odd", [True, 5.0, [5], {"n": 5}])
def test_page_sizes_of_other_types_are_never_confused_with_ints(odd: Any) -> None:
    guard = QueryGuard(SCHEMA, GatewaySettings())
    query = "query($n: Int) { page(first: $n) { nodes { id } } }"
    one = guard.check(query, {"n": 1})
    assert isinstance(one, Checked) and one.measure.cost == 1 + 1 * 2
    found = guard.check(query, {"n": odd})  # measured as no page size: the default, 20
    assert isinstance(found, Checked) and found.measure.cost == 1 + 20 * 2
    assert guard.check(query, {"n": 1}).measure is one.measure  # type: ignore[union-attr]

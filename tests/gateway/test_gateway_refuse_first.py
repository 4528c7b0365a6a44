"""Refuse before you work (DESIGN §6, issue 15 §1): credentials before parsing, a cheap
pre-pass before validation, list arguments bounded and costed, bodies read up to the
limit only, no schema names suggested when introspection is off.

Each test sends the request of the issue through the real ASGI app over httpx.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from graphql import GraphQLInputObjectType, GraphQLList, GraphQLNonNull
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

import omnicore.gateway.limits as limits_module
from omnicore import Commerce
from omnicore.gateway import create_app
from omnicore.gateway.app import CHANNEL_HEADER
from omnicore.gateway.cost import LIST_MAXIMA, list_maximum
from omnicore.gateway.limits import GatewaySettings, QueryGuard, Rejection
from omnicore.gateway.lists import too_long_errors
from omnicore.gateway.schema import admin_schema, storefront_schema
from omnicore.testing import seed_minimal

#: the issue's document: 1,600 aliased ``channel`` selections, 25 KB
STALL = "{" + " ".join("c:channel{code}" for _ in range(1600)) + "}"


@pytest.fixture
async def gateway(db_url: str) -> AsyncIterator[Any]:
    commerce = await Commerce.open(db_url, dispatch=False, load_entry_points=False,
                                   auto_migrate=True,
                                   config={"gateway": {"introspection": False}})
    seeded = await seed_minimal(commerce)
    key = (await commerce.auth.create_staff_key("ops", ["MANAGE_CATALOG"])).key
    app = create_app(commerce)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://shop")
    client.app = app  # type: ignore[attr-defined]
    client.staff_key = key  # type: ignore[attr-defined]
    client.channel_token = seeded["channel"].public_token  # type: ignore[attr-defined]
    async with client:
        yield client
    await commerce.close()


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The documents graphql-core is asked to parse."""
    seen: list[str] = []
    real = limits_module.parse

    def spy(source: str, **kwargs: Any) -> Any:
        seen.append(source)
        return real(source, **kwargs)

    monkeypatch.setattr(limits_module, "parse", spy)
    return seen


async def test_a_bad_staff_key_is_refused_before_the_document_is_parsed(
        gateway: Any, parses: list[str]) -> None:
    started = time.perf_counter()
    response = await gateway.post("/admin/graphql", json={"query": STALL},
                                  headers={"authorization": "Bearer not-a-key"})
    refused_in = time.perf_counter() - started
    assert response.status_code == 401
    assert response.json()["errors"][0]["extensions"]["code"] == "unauthenticated"
    assert parses == []
    print(f"\nstalling document, bad key: refused in {refused_in * 1000:.2f} ms")

    started = time.perf_counter()
    response = await gateway.post("/admin/graphql", json={"query": STALL},
                                  headers={"authorization": f"Bearer {gateway.staff_key}"})
    refused_in = time.perf_counter() - started
    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert error["extensions"]["code"] in ("too_many_selections", "too_many_aliases")
    assert "refused before parsing" in error["message"]
    assert parses == []  # the pre-pass refused it, not graphql-core
    print(f"stalling document, good key: refused in {refused_in * 1000:.2f} ms")


async def test_a_bad_channel_token_is_refused_before_the_document_is_parsed(
        gateway: Any, parses: list[str]) -> None:
    response = await gateway.post("/graphql", json={"query": STALL},
                                  headers={CHANNEL_HEADER: "pub_unknown"})
    assert response.status_code == 401
    assert parses == []
    response = await gateway.post("/graphql", json={"query": "{ channel { code } }"},
                                  headers={CHANNEL_HEADER: gateway.channel_token,
                                           "authorization": "Bearer not-a-token"})
    assert response.status_code == 401
    assert parses == []
    response = await gateway.post("/graphql", json={"query": STALL},
                                  headers={CHANNEL_HEADER: gateway.channel_token})
    assert response.status_code == 400
    assert parses == []


@pytest.mark.parametrize("document", [
    STALL,
    "{" + " ".join("channel{code}" for _ in range(1600)) + "}",              # no aliases
    "{" + " ".join("... on Query { channel { code } }" for _ in range(400)) + "}",
    "{" + " ".join(f"a{i}: channel {{ code }}" for i in range(40)) + "}",
    "{ channel { code } } " + " ".join(f"fragment F{i} on Query {{ channel {{ code }} }}"
                                       for i in range(60)),
    "{" * 100 + "}" * 100,
    "{ channel { code } }" + " " * 10 + "#" + "x" * 200_000,
])
def test_the_pre_pass_refuses_costly_shapes_before_parsing(
        document: str, parses: list[str]) -> None:
    guard = QueryGuard(storefront_schema.graphql_schema, GatewaySettings())
    started = time.perf_counter()
    refused = guard.check(document)
    print(f"\n{len(document)} characters refused in "
          f"{(time.perf_counter() - started) * 1000:.2f} ms")
    assert isinstance(refused, Rejection)
    assert parses == []


def test_the_pre_pass_lets_real_documents_through() -> None:
    from graphql import get_introspection_query
    guard = QueryGuard(storefront_schema.graphql_schema, GatewaySettings())
    assert not isinstance(guard.check(get_introspection_query()), Rejection)
    query = """query Q($h: String!) { product(handle: $h) { handle ...P
        variants { sku a: price { amount } } } } fragment P on Product { title }"""
    assert not isinstance(guard.check(query, {"h": "tee"}), Rejection)


async def test_no_suggestions_and_no_admin_names_when_introspection_is_off(
        gateway: Any) -> None:
    response = await gateway.post("/admin/graphql", json={"query": "{ orde }"},
                                  headers={"authorization": "Bearer not-a-key"})
    assert response.status_code == 401
    assert "order" not in response.text.replace("unknown or revoked", "")
    response = await gateway.post("/admin/graphql", json={"query": "{ orde }"},
                                  headers={"authorization": f"Bearer {gateway.staff_key}"})
    assert response.status_code == 400
    assert "Did you mean" not in response.text
    assert "'order'" not in response.text
    response = await gateway.post("/graphql", json={"query": "{ chanel { code } }"},
                                  headers={CHANNEL_HEADER: gateway.channel_token})
    assert response.status_code == 400
    assert "Did you mean" not in response.text


# -- bodies -----------------------------------------------------------------------------------

CHUNK = 64 * 1024


@pytest.mark.parametrize("path", ["/graphql", "/admin/graphql", "/webhooks/test"])
async def test_a_chunked_body_is_read_no_further_than_the_limit(gateway: Any, path: str) -> None:
    received: list[int] = []

    async def webhook(request: Request) -> PlainTextResponse:  # a plugin's route
        received.append(len(await request.body()))
        return PlainTextResponse("ok")

    gateway.app.router.routes.append(Route("/webhooks/test", webhook, methods=["POST"]))
    limit = gateway.app.state.gateway_settings.max_body_bytes
    pulled = 0

    async def body() -> AsyncIterator[bytes]:  # 300 MB, chunked (no Content-Length)
        nonlocal pulled
        for _ in range(300 * 1024 * 1024 // CHUNK):
            pulled += 1
            yield b" " * CHUNK

    response = await gateway.post(path, content=body(), headers={
        "authorization": f"Bearer {gateway.staff_key}", CHANNEL_HEADER: gateway.channel_token})
    assert response.status_code == 413
    assert response.json()["errors"][0]["extensions"]["code"] == "payload_too_large"
    assert pulled <= limit // CHUNK + 2  # stopped right after the limit
    assert received == []


async def test_a_body_within_the_limit_reaches_a_plugin_route(gateway: Any) -> None:
    received: list[bytes] = []

    async def webhook(request: Request) -> PlainTextResponse:
        received.append(await request.body())
        return PlainTextResponse("ok")

    gateway.app.router.routes.append(Route("/webhooks/test", webhook, methods=["POST"]))

    async def body() -> AsyncIterator[bytes]:
        for _ in range(3):
            yield b"abc"

    response = await gateway.post("/webhooks/test", content=body())
    assert response.status_code == 200
    assert received == [b"abcabcabc"]


# -- list arguments ---------------------------------------------------------------------------

def _list_arguments() -> list[tuple[str, Any, str, str, Any]]:
    """(schema name, schema, root type, field, argument) of every list argument."""
    found = []
    for label, schema in (("storefront", storefront_schema.graphql_schema),
                          ("admin", admin_schema.graphql_schema)):
        for type_ in (schema.query_type, schema.mutation_type):
            assert type_ is not None
            for name, field in type_.fields.items():
                for arg_name, arg in field.args.items():
                    if _unwrap(arg.type) is not None:
                        found.append((label, schema, type_.name, name, arg_name))
    return found


def _unwrap(type_: Any) -> Any:
    while isinstance(type_, GraphQLNonNull):
        type_ = type_.of_type
    if isinstance(type_, GraphQLList):
        return type_
    if isinstance(type_, GraphQLInputObjectType) and any(
            _unwrap(f.type) is not None for f in type_.fields.values()):
        return type_
    return None


def test_every_list_argument_and_input_field_has_a_documented_maximum() -> None:
    from pathlib import Path

    docs = (Path(__file__).parents[2] / "docs" / "graphql.md").read_text()
    missing = []
    for schema in (storefront_schema.graphql_schema, admin_schema.graphql_schema):
        for type_name, type_ in schema.type_map.items():
            if type_name.startswith("__") or not hasattr(type_, "fields"):
                continue
            for name, field in type_.fields.items():
                keys = []
                if isinstance(type_, GraphQLInputObjectType):
                    if isinstance(_unwrap(field.type), GraphQLList):
                        keys.append(f"{type_name}.{name}")
                else:
                    keys += [f"{type_name}.{name}.{a}" for a, arg in field.args.items()
                             if isinstance(_unwrap(arg.type), GraphQLList)]
                for key in keys:
                    if key not in LIST_MAXIMA:
                        missing.append(key)
                    elif f"`{key}` | {LIST_MAXIMA[key]}" not in docs:
                        missing.append(f"{key} (docs/graphql.md)")
    assert missing == []


@pytest.mark.parametrize(("label", "schema", "root", "field", "argument"), _list_arguments(),
                         ids=lambda v: v if isinstance(v, str) else "")
def test_a_list_one_item_too_long_is_refused_naming_the_argument(
        label: str, schema: Any, root: str, field: str, argument: str) -> None:
    definition = schema.type_map[root].fields[field]
    arg = definition.args[argument]
    outer = arg.type.of_type if isinstance(arg.type, GraphQLNonNull) else arg.type
    if isinstance(outer, GraphQLList):
        key, path = f"{root}.{field}.{argument}", argument
        value: Any = [None] * (list_maximum(key) + 1)
    else:  # an input object holding lists: the first list field, one item too long
        name = next(n for n, f in outer.fields.items()
                           if isinstance(_unwrap(f.type), GraphQLList))
        key, path = f"{outer.name}.{name}", f"{argument}.{name}"
        value = {name: [None] * (list_maximum(key) + 1)}
    if root.endswith("Mutation"):  # a userError, before the resolver runs
        errors = too_long_errors(root, field, definition, {arg.out_name or argument: value})
        assert [e["field"] for e in errors] == [path]
        assert errors[0]["code"] == "invalid_input"
        assert f"at most {list_maximum(key)}" in errors[0]["message"]
        assert getattr(definition.resolve, "__wrapped__", None) is not None
    else:  # a query: refused by the guard, before it runs
        from omnicore.gateway.cost import list_items
        too_long: list[tuple[str, int, int]] = []
        list_items(value, arg.type, key, path, too_long)
        assert too_long and too_long[0][0] == path


async def test_store_availability_with_too_many_skus_is_refused(gateway: Any) -> None:
    query = ("query($s: [String!]!) { " + " ".join(
        f"a{i}: storeAvailability(skus: $s, near: {{lat: 48.86, lng: 2.33}}) "
        "{ location { code } }" for i in range(30)) + " }")
    skus = [f"SKU-{i}" for i in range(30_000)]
    started = time.perf_counter()
    response = await gateway.post("/graphql", json={"query": query, "variables": {"s": skus}},
                                  headers={CHANNEL_HEADER: gateway.channel_token})
    print(f"\n30 aliases x 30,000 skus refused in "
          f"{(time.perf_counter() - started) * 1000:.1f} ms")
    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert error["extensions"]["code"] == "list_too_long"
    assert "storeAvailability.skus" in error["message"]
    one = ("query($s: [String!]!) { storeAvailability(skus: $s, near: {lat: 48.86, "
           "lng: 2.33}) { location { code } } }")
    response = await gateway.post("/graphql", json={"query": one, "variables": {"s": skus[:51]}},
                                  headers={CHANNEL_HEADER: gateway.channel_token})
    assert response.json()["errors"][0]["extensions"]["code"] == "list_too_long"


async def test_list_items_count_in_the_cost(gateway: Any) -> None:
    guard = QueryGuard(storefront_schema.graphql_schema, GatewaySettings())
    query = ("query($s: [String!]!) { storeAvailability(skus: $s, near: {lat: 1, lng: 2}) "
             "{ location { code } } }")
    one = guard.check(query, {"s": ["A"]})
    many = guard.check(query, {"s": ["A"] * 40})
    assert not isinstance(one, Rejection) and not isinstance(many, Rejection)
    assert many.measure.cost - one.measure.cost == 39


PRICES_SET = """mutation($prices: [PriceInput!]!) { pricesSet(prices: $prices) {
  count userErrors { field code message } } }"""


async def test_prices_set_beyond_its_maximum_answers_a_user_error(gateway: Any) -> None:
    maximum = LIST_MAXIMA["AdminMutation.pricesSet.prices"]
    price = {"sku": "TEE-M", "amount": {"amount": "1.00", "currency": "EUR"}}
    response = await gateway.post("/admin/graphql", json={
        "query": PRICES_SET, "variables": {"prices": [price] * (maximum + 1)}},
        headers={"authorization": f"Bearer {gateway.staff_key}"})
    assert response.status_code == 200, response.text
    payload = response.json()["data"]["pricesSet"]
    assert payload["count"] is None
    assert [(e["field"], e["code"]) for e in payload["userErrors"]] == [
        ("prices", "invalid_input")]
    response = await gateway.post("/admin/graphql", json={
        "query": PRICES_SET, "variables": {"prices": [price] * 10_640}},
        headers={"authorization": f"Bearer {gateway.staff_key}"})
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "query_too_costly"


DELIVERY = ("mutation($groups: [DeliveryGroupInput!]!) { "
            "cartDeliveryUpdate(cartId: \"c\", version: 1, delivery: $groups) { cart { version } "
            "userErrors { field code message } } }")


async def test_cart_delivery_update_with_too_many_groups_answers_a_user_error(
        gateway: Any) -> None:
    group = {"key": "k", "kind": "ship", "method": "standard"}
    maximum = LIST_MAXIMA["Mutation.cartDeliveryUpdate.delivery"]
    response = await gateway.post("/graphql", json={
        "query": DELIVERY, "variables": {"groups": [group] * (maximum + 1)}},
        headers={CHANNEL_HEADER: gateway.channel_token})
    assert response.status_code == 200, response.text
    errors = response.json()["data"]["cartDeliveryUpdate"]["userErrors"]
    assert [e["field"] for e in errors] == ["delivery"]
    response = await gateway.post("/graphql", json={
        "query": DELIVERY, "variables": {"groups": [group] * 5000}},
        headers={CHANNEL_HEADER: gateway.channel_token})
    assert response.status_code == 400

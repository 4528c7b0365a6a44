"""The admin API (``/admin/graphql``) over the real ASGI app: staff keys and who may do what.

Also the world the other ``test_gateway_admin_*`` modules share (``open_admin``):
``helpers.cart_world`` (warehouse ``wh``, stores ``paris-1``, ``paris-2`` …, channels
``web``, ``app``, ``pos-paris-1`` …), a card gateway, and staff keys:

- ``admin``: every permission, every location;
- ``paris``: a store associate's key for ``paris-1`` only;
- ``reports``: ``VIEW_REPORTS`` only, every location.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest
from click.testing import CliRunner
from graphql import (
    GraphQLInputObjectType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    parse,
    validate,
)
from helpers.cart_world import build_world
from helpers.gateways import FakeGateway, GatewayPlugin
from sqlalchemy import select

from omnicore import Commerce
from omnicore.auth import Permission
from omnicore.cli.main import main
from omnicore.gateway import create_app
from omnicore.gateway.schema import admin_schema
from omnicore.store.auth_tables import staff_keys
from omnicore.testing import FakeClock

PARIS = [Permission.MANAGE_STOCK, Permission.VIEW_ORDERS, Permission.MANAGE_ORDERS,
         Permission.HANDOFF_CARTS, Permission.VIEW_CUSTOMERS, Permission.VIEW_REPORTS,
         Permission.MANAGE_CHANNELS, Permission.MANAGE_STAFF]
KEYS: dict[str, tuple[list[Permission], list[str] | None]] = {
    "admin": (list(Permission), None),
    "paris": (PARIS, ["paris-1"]),
    "reports": ([Permission.VIEW_REPORTS], None),
}
HOME = {"key": "home", "kind": "ship", "method": "standard",
        "address": {"line1": "3 rue de Rivoli", "city": "Paris", "postal_code": "75004",
                    "country": "FR"},
        "geo": {"lat": 48.8556, "lng": 2.3590}}


@attrs.define
class Admin:
    """The app, its ``Commerce`` and the plain staff keys, by name."""

    commerce: Commerce
    client: httpx.AsyncClient
    keys: dict[str, str]
    clock: FakeClock
    gateway: FakeGateway

    async def post(self, key: str | None, query: str, **variables: Any) -> httpx.Response:
        headers = {} if key is None else {"authorization": f"Bearer {self.keys.get(key, key)}"}
        return await self.client.post("/admin/graphql", headers=headers,
                                      json={"query": query, "variables": variables})

    async def call(self, key: str, query: str, **variables: Any) -> dict[str, Any]:
        """The whole body (``data`` and perhaps ``errors``) of a request with ``key``."""
        response = await self.post(key, query, **variables)
        assert response.status_code in (200, 400), response.text
        body: dict[str, Any] = response.json()
        return body

    async def data(self, key: str, query: str, **variables: Any) -> dict[str, Any]:
        """``data`` of a request that must succeed."""
        body = await self.call(key, query, **variables)
        assert "errors" not in body, body
        data: dict[str, Any] = body["data"]
        return data

    async def error(self, key: str, query: str, **variables: Any) -> dict[str, Any]:
        """``extensions`` (code, field) of the first error of a query that must fail."""
        body = await self.call(key, query, **variables)
        assert body.get("errors"), body
        extensions: dict[str, Any] = body["errors"][0]["extensions"]
        return extensions

    async def mutate(self, key: str, query: str, **variables: Any) -> dict[str, Any]:
        """The payload of a one-field mutation (``userErrors`` included)."""
        data = await self.data(key, query, **variables)
        (payload,) = data.values()
        assert isinstance(payload, dict)
        return payload

    async def place(self, lines: list[dict[str, Any]], *, delivery: list[Any] | None = None,
                    gateway: str = "card", key: str = "k", channel: str = "web",
                    customer_id: str | None = None) -> Any:
        """An order through the real checkout."""
        carts = self.commerce.carts
        cart = await carts.create(channel, customer_id=customer_id)
        cart = await carts.add_lines(cart.id, lines, version=cart.version)
        if delivery:
            cart = await carts.set_delivery(cart.id, delivery, version=cart.version)
        return await self.commerce.checkout(cart.id, payments=[{"gateway": gateway}],
                                            idempotency_key=key, email="ada@example.com",
                                            phone="+33612345678")


def errors_of(payload: dict[str, Any]) -> list[tuple[str, str | None]]:
    """``userErrors`` as (code, field)."""
    return [(e["code"], e["field"]) for e in payload["userErrors"]]


@asynccontextmanager
async def open_admin(db_url: str, clock: FakeClock, *plugins: object,
                     **sections: Any) -> AsyncIterator[Admin]:
    """The world, with more ``plugins`` and configuration ``sections`` if given."""
    gateway = FakeGateway("card")
    async with Commerce.open(db_url, clock=clock, dispatch=False, load_entry_points=False,
                             auto_migrate=True, plugins=[GatewayPlugin(gateway), *plugins],
                             config={"database": {"pool_size": 5}, **sections}) as commerce:
        await build_world(commerce)
        keys = {}
        for name, (permissions, locations) in KEYS.items():
            issued = await commerce.auth.create_staff_key(name, permissions, locations=locations)
            keys[name] = issued.key
        transport = httpx.ASGITransport(app=create_app(commerce))
        async with httpx.AsyncClient(transport=transport, base_url="http://shop") as client:
            yield Admin(commerce, client, keys, clock, gateway)


@pytest.fixture
async def admin(db_url: str, clock: FakeClock) -> AsyncIterator[Admin]:
    async with open_admin(db_url, clock) as world:
        yield world


# -- authentication -------------------------------------------------------------------------------

ME = "{ staffMe { id name permissions locations } }"


async def test_requests_without_a_valid_staff_key_are_refused(admin: Admin) -> None:
    missing = await admin.post(None, ME)
    assert missing.status_code == 401 and "Bearer" in missing.text
    for forged in ("ock_forged", "oct_a-customer-token", "not-a-key"):
        response = await admin.post(forged, ME)
        assert response.status_code == 401, forged
    token = (await admin.commerce.channels.get("web")).public_token
    assert (await admin.post(token, ME)).status_code == 401  # a channel token is not a key
    assert "Traceback" not in missing.text


async def test_staff_me_shows_the_calling_key(admin: Admin) -> None:
    me = (await admin.data("paris", ME))["staffMe"]
    assert me["name"] == "paris" and me["locations"] == ["paris-1"]
    assert set(me["permissions"]) == {p.value for p in PARIS}
    assert (await admin.data("admin", ME))["staffMe"]["locations"] is None


# -- staff keys -----------------------------------------------------------------------------------

CREATE = """mutation($name: String!, $permissions: [Permission!]!, $locations: [String!]) {
  staffKeyCreate(name: $name, permissions: $permissions, locations: $locations) {
    key { id name permissions locations } plainKey userErrors { field code message } } }"""
REVOKE = "mutation($id: ID!) { staffKeyRevoke(id: $id) { revokedId userErrors { field code } } }"


async def test_a_created_key_is_shown_once_works_and_stops_when_revoked(admin: Admin) -> None:
    created = await admin.mutate("admin", CREATE, name="Rivoli tablet",
                                 permissions=["VIEW_ORDERS", "MANAGE_STOCK"],
                                 locations=["paris-1"])
    assert created["userErrors"] == []
    plain, key = created["plainKey"], created["key"]
    assert plain.startswith("ock_")
    assert key["permissions"] == ["MANAGE_STOCK", "VIEW_ORDERS"]
    assert key["locations"] == ["paris-1"]
    async with admin.commerce.db.read() as conn:
        stored = (await conn.execute(select(staff_keys).where(
            staff_keys.c.id == key["id"]))).one()
    assert stored.key_hash == hashlib.sha256(plain.encode()).hexdigest()
    assert plain not in repr(tuple(stored))  # only the hash is kept

    me = (await admin.data(plain, ME))["staffMe"]
    assert (me["id"], me["name"]) == (key["id"], "Rivoli tablet")

    revoked = await admin.mutate("admin", REVOKE, id=key["id"])
    assert revoked == {"revokedId": key["id"], "userErrors": []}
    refused = await admin.post(plain, ME)
    assert refused.status_code == 401 and "revoked" in refused.text
    again = await admin.mutate("admin", REVOKE, id=key["id"])
    assert errors_of(again) == [("not_found", "id")]


async def test_a_key_cannot_grant_more_than_it_has(admin: Admin) -> None:
    async def create(key: str, permissions: list[str], locations: list[str] | None
                     ) -> dict[str, Any]:
        return await admin.mutate(key, CREATE, name="sub", permissions=permissions,
                                  locations=locations)

    lacking = await create("paris", ["MANAGE_STOCK", "MANAGE_CATALOG"], ["paris-1"])
    assert errors_of(lacking) == [("forbidden", "permissions[1]")]
    assert lacking["plainKey"] is None
    assert errors_of(await create("paris", ["MANAGE_STOCK"], None)) == [
        ("forbidden", "locations")]
    assert errors_of(await create("paris", ["MANAGE_STOCK"], ["paris-1", "paris-2"])) == [
        ("forbidden", "locations[1]")]
    assert errors_of(await create("admin", ["MANAGE_STOCK"], ["atlantis"])) == [
        ("not_found", "location")]
    assert errors_of(await create("reports", ["VIEW_REPORTS"], None)) == [
        ("forbidden", "permission")]
    sub = await create("paris", ["MANAGE_STOCK"], ["paris-1"])
    assert errors_of(sub) == [] and sub["key"]["locations"] == ["paris-1"]
    # revoking needs a key that is not limited to locations
    denied = await admin.mutate("paris", REVOKE, id=sub["key"]["id"])
    assert errors_of(denied) == [("forbidden", "location")]
    assert (await admin.post(sub["plainKey"], ME)).status_code == 200


# -- every operation checks a permission ------------------------------------------------------


def _dummy(kind: Any) -> str:
    """A GraphQL literal of the input type ``kind`` (required fields only)."""
    if isinstance(kind, GraphQLNonNull):
        return _dummy(kind.of_type)
    if isinstance(kind, GraphQLList):
        return f"[{_dummy(kind.of_type)}]"
    if isinstance(kind, GraphQLInputObjectType):
        fields = [f"{name}: {_dummy(field.type)}" for name, field in kind.fields.items()
                  if isinstance(field.type, GraphQLNonNull)]
        return "{" + ", ".join(fields) + "}"
    return {"Int": "1", "Float": "1.5", "Boolean": "true", "Permission": "VIEW_ORDERS",
            "DateTime": '"2026-03-01T00:00:00+00:00"', "GenericScalar": "{}"}.get(
        kind.name, '"x"')


def _operation(root: str, name: str, field: Any) -> str:
    arguments = [f"{arg}: {_dummy(spec.type)}" for arg, spec in field.args.items()
                 if isinstance(spec.type, GraphQLNonNull)]
    call = f"{name}({', '.join(arguments)})" if arguments else name
    kind = field.type.of_type if isinstance(field.type, GraphQLNonNull) else field.type
    while isinstance(kind, GraphQLList | GraphQLNonNull):
        kind = kind.of_type
    selection = ""
    if isinstance(kind, GraphQLObjectType):
        selection = " { userErrors { code field } }" if root == "mutation" else " { __typename }"
    return f"{root} {{ {call}{selection} }}"


async def test_every_operation_refuses_a_key_without_its_permission(admin: Admin) -> None:
    schema = admin_schema.graphql_schema
    checked = 0
    for root, kind in (("query", schema.query_type), ("mutation", schema.mutation_type)):
        assert kind is not None
        for name, field in kind.fields.items():
            if name in ("staffMe", "channelKpis"):  # any key / the key's own permission
                continue
            body = await admin.call("reports", _operation(root, name, field))
            if root == "query":
                assert body["errors"][0]["extensions"] == {
                    "code": "forbidden", "field": "permission"}, (name, body)
            else:
                assert errors_of(body["data"][name]) == [("forbidden", "permission")], name
            checked += 1
    assert checked >= 40


def test_every_operation_is_documented_with_its_permission_and_an_example() -> None:
    page = (Path(__file__).resolve().parents[2] / "docs" / "graphql-admin.md").read_text(
        encoding="utf-8")
    schema = admin_schema.graphql_schema
    assert schema.mutation_type is not None
    names = set(schema.query_type.fields) | set(schema.mutation_type.fields)
    documented = re.findall(r"^### (\w+)\s*$", page, re.MULTILINE)
    assert sorted(documented) == sorted(names)
    permissions = page.split("## Permissions", 1)[1].split("\n## ", 1)[0]
    for name in names:
        assert name == "staffMe" or f"`{name}`" in permissions, f"{name}: no permission"
        section = page.split(f"### {name}\n", 1)[1].split("\n### ", 1)[0]
        example = re.search(r"```graphql\n(.*?)```", section, re.DOTALL)
        assert example and name in example.group(1), f"{name}: no example"
    for example in re.findall(r"```graphql\n(.*?)```", page, re.DOTALL):
        assert validate(schema, parse(example)) == [], example


# -- the command line -----------------------------------------------------------------------------


def test_cli_issues_the_first_key(sqlite_url: str, tmp_path: Path,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)

    async def seed() -> None:
        async with Commerce.open(sqlite_url, dispatch=False, load_entry_points=False) as shop:
            await build_world(shop)

    asyncio.run(seed())
    runner = CliRunner()
    result = runner.invoke(main, ["--database-url", sqlite_url, "staff", "create-key",
                                  "Head office", "-p", "manage_staff", "--permission",
                                  "VIEW_REPORTS", "-l", "paris-1"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    plain = result.stdout.strip()
    assert plain.startswith("ock_") and "\n" not in plain
    assert "MANAGE_STAFF, VIEW_REPORTS; paris-1" in result.stderr

    async def check() -> Any:
        async with Commerce.open(sqlite_url, dispatch=False, load_entry_points=False) as shop:
            return await shop.auth.authenticate_staff(plain)

    principal = asyncio.run(check())
    assert principal.name == "Head office"
    assert principal.permissions == {Permission.MANAGE_STAFF, Permission.VIEW_REPORTS}
    assert principal.locations == {"paris-1"}

    unknown = runner.invoke(main, ["--database-url", sqlite_url, "staff", "create-key", "X",
                                   "-p", "VIEW_ORDERS", "-l", "atlantis"])
    assert unknown.exit_code == 1 and "atlantis" in unknown.output
    bad = runner.invoke(main, ["--database-url", sqlite_url, "staff", "create-key", "X",
                               "-p", "BE_GOD"])
    assert bad.exit_code == 2 and "BE_GOD" in bad.output
    none = runner.invoke(main, ["--database-url", sqlite_url, "staff", "create-key", "X"])
    assert none.exit_code == 2

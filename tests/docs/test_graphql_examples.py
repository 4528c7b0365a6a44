"""Every GraphQL example of docs/ runs against the demo retailer as ``omnicore demo`` ships it.

The demo is created once in a SQLite file; each example runs on a fresh copy of it,
through the real ASGI app over httpx, with the ``web`` channel's token (storefront)
or a demo staff key (admin), after the test has made what its placeholders stand
for (``helpers.doc_examples``, listed in docs/demo.md). The answer must have no
``errors`` and no ``userErrors``. Fragments are validated against their schema;
subscriptions run over the WebSocket until their first event.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from graphql import parse, specified_rules, validate
from graphql.language import FragmentDefinitionNode, OperationDefinitionNode
from graphql.validation import NoUnusedFragmentsRule
from helpers.doc_examples import (
    DOCS,
    PLACEHOLDERS,
    Example,
    World,
    all_examples,
    fill,
)
from httpx_ws import aconnect_ws
from httpx_ws.transport import ASGIWebSocketTransport

from omnicore import Commerce
from omnicore.demo import create_demo, issue_demo_staff_key
from omnicore.gateway import create_app
from omnicore.gateway.schema import admin_schema, storefront_schema

EXAMPLES = all_examples()
RUN = [e for e in EXAMPLES if e.not_run is None]
#: Examples marked ``<!-- example not run: … -->``: keep this short.
MAX_NOT_RUN = 1


def _open(url: str) -> Any:
    return Commerce.open(url, dispatch=False, load_entry_points=False, auto_migrate=True,
                         config={"plugins": {"allow": []}})


@pytest.fixture(scope="module")
def demo_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo, created once (``create_demo``, as ``omnicore demo`` does)."""
    import asyncio

    path = tmp_path_factory.mktemp("demo") / "demo.db"

    async def make() -> None:
        async with _open(f"sqlite+aiosqlite:///{path}") as commerce:
            assert (await create_demo(commerce)).created

    asyncio.run(make())
    return path


@pytest.fixture
async def world(demo_file: Path, tmp_path: Path) -> AsyncIterator[World]:
    copy = tmp_path / "demo.db"
    shutil.copyfile(demo_file, copy)
    async with _open(f"sqlite+aiosqlite:///{copy}") as commerce:
        key = await issue_demo_staff_key(commerce)
        web = await commerce.channels.get("web")
        app = create_app(commerce)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://demo") as client:
            yield World(client, str(web.public_token), key.key, app)


def _schema(example: Example) -> Any:
    schema = admin_schema if example.endpoint.startswith("/admin") else storefront_schema
    return schema.graphql_schema


def test_examples_are_found() -> None:
    pages = {e.page for e in EXAMPLES}
    assert {"graphql-storefront.md", "graphql-admin.md"} <= pages
    assert len(EXAMPLES) > 60


def test_few_examples_are_not_run_and_each_says_why() -> None:
    not_run = [e for e in EXAMPLES if e.not_run is not None]
    assert len(not_run) <= MAX_NOT_RUN, [e.id for e in not_run]
    assert all(len(str(e.not_run)) > 20 for e in not_run), [e.id for e in not_run]


def test_every_placeholder_is_made_by_the_test_and_listed_on_the_demo_page() -> None:
    run = {name for e in RUN for name in e.placeholders()}
    unknown = run - set(PLACEHOLDERS)
    assert not unknown, f"placeholders without a maker in helpers/doc_examples.py: {unknown}"
    used = {name for e in EXAMPLES for name in e.placeholders()}
    listed = set(re.findall(r"^\| `<([^<>]+)>`", (DOCS / "demo.md").read_text(), re.M))
    assert used <= listed, f"docs/demo.md does not explain {used - listed}"
    assert listed <= used, f"docs/demo.md explains placeholders no example uses: {listed - used}"
    assert set(PLACEHOLDERS) <= used, f"makers no example needs: {set(PLACEHOLDERS) - used}"


def test_every_admin_and_storefront_operation_has_an_example() -> None:
    for endpoint, schema in (("/graphql", storefront_schema), ("/admin/graphql", admin_schema)):
        graphql_schema = schema.graphql_schema
        roots = [graphql_schema.query_type, graphql_schema.mutation_type,
                 graphql_schema.subscription_type]
        operations = {name for root in roots if root is not None for name in root.fields}
        shown = {e.name for e in EXAMPLES if e.endpoint == endpoint}
        missing = operations - shown
        assert not missing, f"{endpoint}: operations without an example: {sorted(missing)}"


@pytest.mark.parametrize("example", RUN, ids=[e.id for e in RUN])
async def test_example_runs_on_the_demo(example: Example, world: World) -> None:
    document = parse(example.body)
    definitions = document.definitions
    operations = [d for d in definitions if isinstance(d, OperationDefinitionNode)]
    assert len(operations) <= 1, f"{example.id}: one operation per example"
    if not operations:
        assert all(isinstance(d, FragmentDefinitionNode) for d in definitions)
        rules = [rule for rule in specified_rules if rule is not NoUnusedFragmentsRule]
        errors = validate(_schema(example), document, rules)
        assert not errors, f"{example.id}: {errors}"
        return

    for name in example.placeholders():
        await world.need(name)
    variables = fill(example.variables, world.known)
    headers = fill(example.headers, world.known)
    if operations[0].operation.value == "subscription":
        answer = await _first_event(world, example, variables, headers)
    else:
        response = await world.call(example.endpoint, example.body, variables, headers)
        answer = response.json()
        assert response.status_code == 200, f"{example.id}: {answer}"
    assert "errors" not in answer, f"{example.id}: {answer['errors']}"
    for payload in (answer["data"] or {}).values():
        if isinstance(payload, dict) and payload.get("userErrors"):
            raise AssertionError(f"{example.id}: {payload['userErrors']}")


async def _first_event(world: World, example: Example, variables: dict[str, Any],
                       headers: dict[str, str]) -> dict[str, Any]:
    """The subscription's first ``next`` over graphql-transport-ws at /graphql."""
    payload = {"channelToken": world.channel_token}
    if "Authorization" in headers:
        payload["customerToken"] = headers["Authorization"].removeprefix("Bearer ")
    async with ASGIWebSocketTransport(app=world.app) as transport, httpx.AsyncClient(
            transport=transport, base_url="http://demo") as client, aconnect_ws(
            "/graphql", client, subprotocols=["graphql-transport-ws"]) as socket:
        await socket.send_json({"type": "connection_init", "payload": payload})
        assert json.loads(await socket.receive_text())["type"] == "connection_ack"
        await socket.send_json({"id": "1", "type": "subscribe", "payload": {
            "query": example.body, "variables": variables}})
        message = json.loads(await socket.receive_text())
        assert message["type"] == "next", f"{example.id}: {message}"
        await socket.send_json({"id": "1", "type": "complete"})
        answer: dict[str, Any] = message["payload"]
        return answer

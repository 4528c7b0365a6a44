"""The GraphQL examples of docs/ and the demo world they run in (no tests here).

An example is a ```` ```graphql ```` block of a docs page. Its first lines may be
comments the reader needs too (docs/demo.md, "Running the examples"):

    # variables: {"id": "<cart id>", "v": "<cart version>"}
    # headers: Authorization: Bearer <customer token>
    # given: <Ada's account> (customerCreate above)

``<…>`` is a **placeholder**: something the reader made earlier (a cart, an order
…). ``PLACEHOLDERS`` says how the test makes each one on the demo, through the
same API a reader uses. A variable whose value is a whole placeholder takes the
value itself (an ``Int`` version stays an int); in a header it is replaced in the
text. ``given`` names what must exist without being passed.

An example that cannot run on the demo as it ships is preceded by
``<!-- example not run: the reason -->``; ``test_graphql_examples.py`` counts them.
Storefront examples run with the ``web`` channel's token; those of
docs/graphql-admin.md (or with ``# endpoint: /admin/graphql``) with the demo staff key.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import attrs
import httpx

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"

#: a fenced block: its language, the rest of its info string, its body
FENCE = re.compile(r"^```(\w*)([^\n]*)\n(.*?)^```", re.MULTILINE | re.DOTALL)
HEADER = re.compile(r"^#\s*(variables|headers|given|endpoint):\s*(.*)$")
NOT_RUN = re.compile(r"<!--\s*example not run:\s*(.*?)\s*-->\s*$", re.DOTALL)
PLACEHOLDER = re.compile(r"<([^<>]+)>")
ADMIN_PAGES = {"graphql-admin.md"}
PASSWORD = "correct horse battery"


@attrs.frozen
class Example:
    """One ```` ```graphql ```` block of a page."""

    page: str
    line: int
    body: str
    variables: dict[str, Any]
    headers: dict[str, str]
    given: tuple[str, ...]
    endpoint: str
    not_run: str | None

    @property
    def id(self) -> str:
        return f"{self.page}:{self.line}:{self.name}"

    @property
    def name(self) -> str:
        """The first root field of the operation (``cartCreate``), or the fragment's name."""
        text = "\n".join(line.split("#")[0] for line in self.body.splitlines())
        fragment = re.match(r"\s*fragment\s+(\w+)", text)
        if fragment:
            return fragment.group(1)
        brace = text.index("{")
        field = re.match(r"\s*(\w+)", text[brace + 1:])
        return field.group(1) if field else "?"

    def placeholders(self) -> list[str]:
        """Every placeholder the example needs, in order of appearance."""
        found: list[str] = []
        texts = [json.dumps(self.variables), *self.headers.values(), *self.given]
        for text in texts:
            found += [name for name in PLACEHOLDER.findall(text) if name not in found]
        return found


def _header_lines(body: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in body.splitlines():
        match = HEADER.match(line.strip())
        if not match:
            if line.strip().startswith("#"):
                continue
            break
        found.setdefault(match.group(1), []).append(match.group(2))
    return found


def parse_page(path: Path) -> list[Example]:
    text = path.read_text(encoding="utf-8")
    examples = []
    for match in FENCE.finditer(text):
        if match.group(1) != "graphql":
            continue
        body = match.group(3)
        before = text[: match.start()].rstrip()
        not_run = NOT_RUN.search(before[-400:])
        headers = _header_lines(body)
        variables = json.loads(headers["variables"][0]) if "variables" in headers else {}
        pairs = {}
        for value in headers.get("headers", []):
            name, _, content = value.partition(":")
            pairs[name.strip()] = content.strip()
        admin = path.name in ADMIN_PAGES
        endpoint = headers.get("endpoint", ["/admin/graphql" if admin else "/graphql"])[0]
        examples.append(Example(
            page=path.name, line=text.count("\n", 0, match.start()) + 1, body=body,
            variables=variables, headers=pairs, given=tuple(headers.get("given", [])),
            endpoint=endpoint, not_run=not_run.group(1) if not_run else None,
        ))
    return examples


def all_examples() -> list[Example]:
    return [example for page in sorted(DOCS.glob("*.md")) for example in parse_page(page)]


def fill(value: Any, known: dict[str, Any]) -> Any:
    """``value`` with its placeholders replaced by what ``known`` holds."""
    if isinstance(value, dict):
        return {key: fill(item, known) for key, item in value.items()}
    if isinstance(value, list):
        return [fill(item, known) for item in value]
    if isinstance(value, str):
        whole = PLACEHOLDER.fullmatch(value)
        if whole:
            return known[whole.group(1)]
        return PLACEHOLDER.sub(lambda m: str(known[m.group(1)]), value)
    return value


# -- the world the examples run in ------------------------------------------------------------

CART_LINES = [{"sku": "TSH-NOI-M", "quantity": 2},
              {"sku": "TSH-NOI-S", "quantity": 1, "fulfilment": "pickup",
               "location": "paris-halles"}]
ORDER_LINES = {"ship": CART_LINES[0], "pickup": CART_LINES[1]}
HOME = {"key": "home", "kind": "ship", "method": "standard",
        "address": {"line1": "3 rue de Rivoli", "city": "Paris", "postalCode": "75004",
                    "country": "FR"}}
PICKUP = {"key": "store", "kind": "pickup", "method": "click_and_collect",
          "location": "paris-halles"}
CART = """mutation($lines: [CartLineInput!]) { cartCreate(lines: $lines) {
  cart { id version lines { id sku } } userErrors { field code message } } }"""
DELIVERY = """mutation($id: ID!, $v: Int!, $groups: [DeliveryGroupInput!]!) {
  cartDeliveryUpdate(cartId: $id, version: $v, delivery: $groups) {
    cart { id version } userErrors { field code message } } }"""
CHECKOUT = """mutation($id: ID!, $key: String!) {
  checkoutComplete(cartId: $id, idempotencyKey: $key, email: "ada@example.com",
                   payments: [{gateway: "manual"}]) {
    order { id number lines { id sku } payments { id }
            fulfilments { id kind status location pickupLocation } }
    userErrors { field code message } } }"""
STEP = """mutation($id: ID!) { %s(id: $id) { fulfilment { id status } %s
  userErrors { field code message } } }"""


@attrs.define
class World:
    """The demo behind the real ASGI app, and what the placeholders made so far."""

    client: httpx.AsyncClient
    channel_token: str
    staff_key: str
    app: Any = None
    known: dict[str, Any] = attrs.field(factory=dict)

    async def call(self, endpoint: str, query: str, variables: dict[str, Any] | None = None,
                   headers: dict[str, str] | None = None) -> httpx.Response:
        sent = dict(headers or {})
        if endpoint.startswith("/admin"):
            sent.setdefault("Authorization", f"Bearer {self.staff_key}")
        else:
            sent.setdefault("X-Omnicore-Channel-Token", self.channel_token)
        return await self.client.post(endpoint, json={"query": query,
                                                      "variables": variables or {}},
                                      headers=sent)

    async def _payload(self, endpoint: str, query: str, variables: dict[str, Any],
                       headers: dict[str, str] | None = None) -> dict[str, Any]:
        answer = (await self.call(endpoint, query, variables, headers)).json()
        assert "errors" not in answer, answer
        (payload,) = answer["data"].values()
        assert not payload.get("userErrors"), payload
        result: dict[str, Any] = payload
        return result

    async def storefront(self, query: str, token: str | None = None,
                         **variables: Any) -> dict[str, Any]:
        """The payload of a storefront mutation without userErrors."""
        headers = {"Authorization": f"Bearer {token}"} if token else None
        return await self._payload("/graphql", query, variables, headers)

    async def admin(self, query: str, **variables: Any) -> dict[str, Any]:
        """The payload of an admin operation without userErrors."""
        return await self._payload("/admin/graphql", query, variables)

    async def need(self, name: str) -> Any:
        """The value of placeholder ``name``, made once."""
        if name not in self.known:
            if name not in PLACEHOLDERS:
                raise AssertionError(f"unknown placeholder <{name}>: add it to PLACEHOLDERS "
                                     "(tests/helpers/doc_examples.py) and docs/demo.md")
            self.known[name] = await PLACEHOLDERS[name](self)
        return self.known[name]

    # -- the things placeholders stand for

    async def cart(self) -> dict[str, Any]:
        if "_cart" not in self.known:
            self.known["_cart"] = (await self.storefront(CART, lines=CART_LINES))["cart"]
        cart: dict[str, Any] = self.known["_cart"]
        return cart

    async def order(self, kind: str) -> dict[str, Any]:
        """An order placed on ``web`` with the e-mail ada@example.com, paid with ``manual``:
        ``ship`` (TSH-NOI-M from the warehouse to an address) or ``pickup`` (TSH-NOI-S
        collected at paris-halles, from its shelf)."""
        if f"_order_{kind}" not in self.known:
            cart = (await self.storefront(CART, lines=[ORDER_LINES[kind]]))["cart"]
            groups = [HOME] if kind == "ship" else [PICKUP]
            cart = (await self.storefront(DELIVERY, id=cart["id"], v=cart["version"],
                                          groups=groups))["cart"]
            done = await self.storefront(CHECKOUT, id=cart["id"], key=f"doc-{kind}")
            self.known[f"_order_{kind}"] = done["order"]
        order: dict[str, Any] = self.known[f"_order_{kind}"]
        return order

    async def fulfilment(self, steps: list[str], extra: str = "") -> dict[str, Any]:
        """The shipped order's fulfilment after ``steps`` (admin mutations)."""
        fulfilment: dict[str, Any] = (await self.order("ship"))["fulfilments"][0]
        result: dict[str, Any] = {"fulfilment": fulfilment}
        for step in steps:
            result = await self.admin(STEP % (step, extra), id=fulfilment["id"])
        return result

    async def pickup(self, ready: bool) -> dict[str, Any]:
        """The click & collect order's fulfilment, waiting at paris-halles (``ready``:
        announced to the customer, with a pickup code)."""
        fulfilment: dict[str, Any] = (await self.order("pickup"))["fulfilments"][0]
        result = {"fulfilment": fulfilment}
        if ready:
            result = await self.admin(STEP % ("fulfilmentReadyForPickup", "pickupCode"),
                                      id=fulfilment["id"])
        return result

    async def customer(self, email: str = "ada@example.com") -> dict[str, Any]:
        """A customer account, signed in: ``id`` and ``token``."""
        key = f"_customer_{email}"
        if key not in self.known:
            created = await self.storefront(
                "mutation($e: String!, $p: String!) { customerCreate(email: $e, password: $p,"
                " firstName: \"Ada\", lastName: \"Lovelace\") { customer { id } "
                "userErrors { field code message } } }", e=email, p=PASSWORD)
            signed = await self.storefront(
                "mutation($e: String!, $p: String!) { customerAccessTokenCreate(email: $e, "
                "password: $p) { customerAccessToken { accessToken } "
                "userErrors { field code message } } }", e=email, p=PASSWORD)
            self.known[key] = {"id": created["customer"]["id"],
                               "token": signed["customerAccessToken"]["accessToken"]}
        customer: dict[str, Any] = self.known[key]
        return customer


async def _cart_id(world: World) -> str:
    return str((await world.cart())["id"])


async def _cart_version(world: World) -> int:
    return int((await world.cart())["version"])


async def _line_id(world: World) -> str:
    return str((await world.cart())["lines"][0]["id"])


async def _ready_cart(world: World) -> str:
    cart = await world.cart()
    done = await world.storefront(DELIVERY, id=cart["id"], v=cart["version"],
                                  groups=[HOME, PICKUP])
    world.known["_cart"] = {**cart, "version": done["cart"]["version"]}
    return str(cart["id"])


async def _discount_code(world: World) -> str:
    await world.admin("""mutation { promotionCreate(input: {name: "Bienvenue",
      kind: "percent_off", percent: "10", codes: ["BIENVENUE10"], automatic: false}) {
      promotion { id } userErrors { field code message } } }""")
    return "BIENVENUE10"


async def _promotion_id(world: World) -> str:
    done = await world.admin("""mutation { promotionCreate(input: {name: "Soldes d'hiver",
      kind: "percent_off", percent: "20", codes: ["HIVER20"], automatic: false}) {
      promotion { id } userErrors { field code message } } }""")
    return str(done["promotion"]["id"])


async def _handoff_code(world: World) -> str:
    cart = await world.cart()
    done = await world.storefront(
        "mutation($id: ID!, $v: Int!) { cartHandoffCode(cartId: $id, version: $v) { code "
        "cart { version } userErrors { field code message } } }",
        id=cart["id"], v=cart["version"])
    return str(done["code"])


async def _transfer_id(world: World) -> str:
    done = await world.admin("""mutation { stockTransfer(sku: "TSH-NOI-M",
      fromLocation: "dc-garonor", toLocation: "paris-halles", quantity: 6) {
      transfer { id } userErrors { field code message } } }""")
    return str(done["transfer"]["id"])


async def _staff_key_id(world: World) -> str:
    done = await world.admin("""mutation { staffKeyCreate(name: "Tablette Les Halles",
      permissions: [VIEW_ORDERS], locations: ["paris-halles"]) { key { id }
      userErrors { field code message } } }""")
    return str(done["key"]["id"])


async def _customer_id(world: World) -> str:
    return str((await world.customer())["id"])


async def _other_customer_id(world: World) -> str:
    return str((await world.customer("ada.lovelace@example.org"))["id"])


async def _customer_token(world: World) -> str:
    return str((await world.customer())["token"])


async def _account(world: World) -> None:
    await world.customer()


async def _shipped_order(world: World) -> dict[str, Any]:
    """The ``ship`` order, picked, packed and shipped (the goods left: payment captured)."""
    if "_shipped" in world.known:
        return await world.order("ship")
    world.known["_shipped"] = True
    await world.fulfilment(["fulfilmentStartPicking", "fulfilmentPack"])
    fulfilment = (await world.order("ship"))["fulfilments"][0]
    await world.admin("""mutation($id: ID!) { fulfilmentShip(id: $id, carrier: "Colissimo",
      trackingNumber: "6A12345678") { fulfilment { status } userErrors { field code message } }
      }""", id=fulfilment["id"])
    return await world.order("ship")


async def _payment_id(world: World) -> str:
    return str((await _shipped_order(world))["payments"][0]["id"])


async def _shipped_order_id(world: World) -> str:
    return str((await _shipped_order(world))["id"])


async def _shipped_order_line(world: World) -> str:
    return str((await _shipped_order(world))["lines"][0]["id"])


async def _fulfilment_after(world: World, *steps: str) -> str:
    return str((await world.fulfilment(list(steps)))["fulfilment"]["id"])


async def _shipped_fulfilment(world: World) -> str:
    await _shipped_order(world)
    return str((await world.order("ship"))["fulfilments"][0]["id"])


async def _pickup_open(world: World) -> str:
    return str((await world.pickup(ready=False))["fulfilment"]["id"])


async def _pickup_ready(world: World) -> str:
    return str((await world.pickup(ready=True))["fulfilment"]["id"])


async def _pickup_code(world: World) -> str:
    if "_pickup_ready" not in world.known:
        world.known["_pickup_ready"] = await world.pickup(ready=True)
    return str(world.known["_pickup_ready"]["pickupCode"])


async def _pickup_order_number(world: World) -> str:
    await _pickup_code(world)
    return str((await world.order("pickup"))["number"])


async def _order_number(world: World) -> str:
    return str((await world.order("ship"))["number"])


async def _order_id(world: World) -> str:
    return str((await world.order("ship"))["id"])


#: What each placeholder of the docs stands for, made on the demo (docs/demo.md lists them).
PLACEHOLDERS: dict[str, Callable[[World], Awaitable[Any]]] = {
    "cart id": _cart_id,
    "cart version": _cart_version,
    "line id": _line_id,
    "id of a cart with its delivery chosen": _ready_cart,
    "discount code": _discount_code,
    "hand-off code": _handoff_code,
    "customer token": _customer_token,
    "Ada's account": _account,
    "customer id": _customer_id,
    "id of another customer": _other_customer_id,
    "order number": _order_number,
    "order id": _order_id,
    "id of a shipped order": _shipped_order_id,
    "id of a line of the shipped order": _shipped_order_line,
    "id of a captured payment": _payment_id,
    "id of an open fulfilment": lambda w: _fulfilment_after(w),
    "id of a fulfilment being picked": lambda w: _fulfilment_after(w, "fulfilmentStartPicking"),
    "id of a packed fulfilment": lambda w: _fulfilment_after(
        w, "fulfilmentStartPicking", "fulfilmentPack"),
    "id of a shipped fulfilment": _shipped_fulfilment,
    "id of a pickup fulfilment at its store": _pickup_open,
    "id of a fulfilment ready for pickup": _pickup_ready,
    "number of an order ready for pickup": _pickup_order_number,
    "its pickup code": _pickup_code,
    "transfer id": _transfer_id,
    "promotion id": _promotion_id,
    "staff key id": _staff_key_id,
}

"""Every hook, implemented here and called by the code that uses it, through the host.

One test per hook, ``test_hook_<name>``, marked ``plugin_hook("<name>")``: the marker
fails the test unless an implementation defined in the tests was called through
pluggy (``tests/helpers/hook_coverage.py``), and ``test_hook_coverage.py`` checks
that every hook of ``hookspecs.py`` has such a test.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import attrs
import click
import httpx
import pytest
from click.testing import CliRunner
from helpers.gateways import FakeGateway
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from omnicore import Commerce, InvalidInput, Money, PluginError, hookimpl
from omnicore.delivery import ShippingMethod
from omnicore.errors import Problem
from omnicore.events import Event
from omnicore.network import Capability, GeoPoint, LocationKind
from omnicore.plugins import PluginHost
from omnicore.pricing import Adjustment, PricingContext, Totals, validate
from omnicore.sourcing import (
    Assignment,
    Candidate,
    GroupKind,
    SourcingGroup,
    SourcingLine,
    SourcingPlan,
    SourcingRequest,
    choose,
)
from omnicore.testing import FakeClock, paris_address, seed_minimal


async def open_commerce(url: str, clock: FakeClock, *plugins: object,
                        config: dict[str, Any] | None = None) -> Commerce:
    return await Commerce.open(url, plugins=plugins, load_entry_points=False, dispatch=False,
                               clock=clock, auto_migrate=True, config=config)


@pytest.fixture
async def shop(sqlite_url: str, clock: FakeClock) -> AsyncIterator[Any]:
    """A function that opens a seeded Commerce with the given plugins (closed at the end)."""
    opened: list[Commerce] = []

    async def open_with(*plugins: object) -> Commerce:
        commerce = await open_commerce(sqlite_url, clock, *plugins)
        opened.append(commerce)
        await seed_minimal(commerce)
        return commerce

    yield open_with
    for commerce in opened:
        await commerce.close()


# -- lifetime ---------------------------------------------------------------------------------


@attrs.frozen
class TokenSettings:
    token: str


class Lifetime:
    """Settings of its own, and a log of its lifetime shared with the others."""

    def __init__(self, name: str, log: list[str]) -> None:
        self.name = name
        self.log = log
        self.settings: Any = None

    @hookimpl
    def register_settings(self) -> type[Any]:
        return TokenSettings

    @hookimpl
    async def startup(self, commerce: Commerce, settings: TokenSettings) -> None:
        await asyncio.sleep(0)
        self.settings = settings
        self.log.append(f"{self.name} started with {len(await commerce.locations.list())}")

    @hookimpl
    def shutdown(self) -> None:
        self.log.append(f"{self.name} shut down")


@pytest.mark.plugin_hook("register_settings", "startup", "shutdown")
async def test_hook_register_settings_startup_and_shutdown(
    sqlite_url: str, clock: FakeClock
) -> None:
    log: list[str] = []
    first, second = Lifetime("first", log), Lifetime("second", log)
    commerce = await open_commerce(sqlite_url, clock, first, second, config={
        "plugins": {"first": {"token": "one"}, "second": {"token": "two"}}})
    # each plugin gets its own settings; the one registered last is called first
    assert (first.settings, second.settings) == (TokenSettings("one"), TokenSettings("two"))
    assert commerce.plugins.settings == {"first": TokenSettings("one"),
                                         "second": TokenSettings("two")}
    await commerce.close()
    assert log == ["second started with 0", "first started with 0",
                   "second shut down", "first shut down"]


# -- events -------------------------------------------------------------------------------------


class Consumer:
    name = "consumer"

    def __init__(self) -> None:
        self.received: list[tuple[str, str]] = []

    @hookimpl
    async def on_event(self, event: Event, commerce: Commerce) -> None:
        location = await commerce.locations.get(event.payload["code"])
        self.received.append((event.topic, location.code))


@pytest.mark.plugin_hook("on_event")
async def test_hook_on_event(sqlite_url: str, clock: FakeClock) -> None:
    consumer = Consumer()
    async with await open_commerce(sqlite_url, clock, consumer) as commerce:
        assert commerce.plugins.consumers() == ["consumer"]
        await commerce.locations.save({"code": "wh", "name": "Warehouse", "kind": "warehouse",
                                       "address": paris_address(),
                                       "geo": {"lat": 48.9, "lng": 2.4}})
        assert await commerce.outbox.drain() == 1
        assert consumer.received == [("location.updated", "wh")]
        with pytest.raises(PluginError) as caught:  # a consumer this process does not load
            await commerce.plugins.on_event("elsewhere", event=Event(
                1, "location.updated", {"code": "wh"}, NOW), commerce=commerce)
        assert caught.value.plugin == "elsewhere"


# -- contributions --------------------------------------------------------------------------------


class Contributor:
    """A command, a route, a gateway and a delivery method."""

    name = "contributor"

    @hookimpl
    def register_commands(self, cli: click.Group) -> None:
        @cli.command()
        def hello() -> None:
            """Say hello."""
            click.echo("hello from a plugin")

    @hookimpl
    def register_routes(self, commerce: Commerce) -> list[Route]:
        async def ping(request: Request) -> PlainTextResponse:
            return PlainTextResponse(f"pong {len(await commerce.locations.list())}")

        return [Route("/webhooks/contributor", ping)]

    @hookimpl
    def register_payment_gateways(self) -> list[Any]:
        return [FakeGateway("contributed")]

    @hookimpl
    def register_shipping_methods(self) -> list[ShippingMethod]:
        return [ShippingMethod("courier", "Courier", "ship",
                               {"EUR": Money("9.00", "EUR")})]


@pytest.mark.plugin_hook("register_commands")
def test_hook_register_commands() -> None:
    group = click.Group("omnicore")
    PluginHost(plugins=[Contributor()], load_entry_points=False).register_commands(group)
    ran = CliRunner().invoke(group, ["hello"])
    assert (ran.exit_code, ran.output) == (0, "hello from a plugin\n")


@pytest.mark.plugin_hook("register_routes")
async def test_hook_register_routes(shop: Any) -> None:
    from omnicore.gateway.app import create_app

    commerce = await shop(Contributor())
    transport = httpx.ASGITransport(app=create_app(commerce))
    async with httpx.AsyncClient(transport=transport, base_url="http://shop") as client:
        answered = await client.get("/webhooks/contributor")
    assert (answered.status_code, answered.text) == (200, "pong 2")


@pytest.mark.plugin_hook("register_payment_gateways")
async def test_hook_register_payment_gateways(shop: Any) -> None:
    commerce = await shop(Contributor())
    assert sorted(commerce.payments.gateways()) == ["contributed", "manual"]
    assert commerce.plugins.register_payment_gateways(commerce)[0].plugin == "contributor"


@pytest.mark.plugin_hook("register_shipping_methods")
async def test_hook_register_shipping_methods(shop: Any) -> None:
    commerce = await shop(Contributor())
    methods = await commerce.delivery.methods(currency="EUR")
    assert "courier" in [method.code for method in methods]
    [answer] = commerce.plugins.register_shipping_methods(commerce)
    assert (answer.plugin, answer.value.code) == ("contributor", "courier")


class Wrong:
    """Returns the wrong things from the hooks whose results are checked."""

    name = "wrong"

    @hookimpl
    def register_payment_gateways(self) -> Any:
        return [object()]

    @hookimpl
    def register_shipping_methods(self) -> Any:
        return "courier"

    @hookimpl
    def register_routes(self) -> Any:
        return Route("/one", lambda request: None)  # not a list

    @hookimpl
    def validate_cart(self) -> Any:
        return Problem("lines", "one problem, not a list")

    @hookimpl
    def calculate_adjustments(self) -> Any:
        return [Money("1.00", "EUR")]

    @hookimpl
    def choose_sources(self) -> Any:
        return {"l1": "wh"}


async def test_wrong_results_are_plugin_errors_naming_the_plugin(shop: Any) -> None:
    commerce = await shop(Wrong())
    failures = {
        "gateways": lambda: commerce.payments.gateways(),
        "methods": lambda: commerce.plugins.register_shipping_methods(commerce),
        "routes": lambda: commerce.plugins.register_routes(commerce),
    }
    messages = {}
    for what, call in failures.items():
        with pytest.raises(PluginError) as caught:
            call()
        assert caught.value.plugin == "wrong"
        messages[what] = caught.value.message
    assert messages == {
        "gateways": "plugin 'wrong': returned an object that is not a PaymentGateway",
        "methods": "plugin 'wrong': register_shipping_methods must return a list, not str",
        "routes": "plugin 'wrong': register_routes must return a list, not Route",
    }
    with pytest.raises(PluginError, match="validate_cart must return a list of Problem"):
        await commerce.plugins.validate_cart(commerce=commerce, cart=None)
    with pytest.raises(PluginError, match="Money is not an Adjustment"):
        await commerce.pricing.price(channel="web", currency="EUR", lines=[("l", "TEE-M", 1)])
    with pytest.raises(PluginError, match="choose_sources returned dict, not a SourcingPlan"):
        await choose(commerce, sourcing_request())


# -- decisions --------------------------------------------------------------------------------


class Tax:
    def __init__(self, name: str, label: str) -> None:
        self.name = name
        self.label = label

    @hookimpl
    def calculate_adjustments(self, context: PricingContext, totals: Totals) -> list[Adjustment]:
        assert context.channel == "web"
        return [Adjustment(self.label, Money("1.00", totals.currency), kind="tax")]


class FirstTax(Tax):
    @hookimpl(tryfirst=True)
    def calculate_adjustments(self, context: PricingContext, totals: Totals) -> list[Adjustment]:
        return super().calculate_adjustments(context, totals)


class LastTax(Tax):
    @hookimpl(trylast=True)
    async def calculate_adjustments(self, context: PricingContext,
                                    totals: Totals) -> list[Adjustment]:
        await asyncio.sleep(0)
        return super().calculate_adjustments(context, totals)


@pytest.mark.plugin_hook("calculate_adjustments")
async def test_hook_calculate_adjustments(shop: Any) -> None:
    # registered: last, first, plain; called: tryfirst, plain, trylast
    commerce = await shop(LastTax("c", "eco-fee"), FirstTax("a", "VAT"), Tax("b", "deposit"))
    totals = await commerce.pricing.price(channel="web", currency="EUR",
                                          lines=[("l1", "TEE-M", 1)])
    assert [(a.label, a.source) for a in totals.adjustments] == [
        ("VAT", "a"), ("deposit", "b"), ("eco-fee", "c")]
    assert totals.total == Money("22.90", "EUR")


class Veto:
    def __init__(self, name: str, problems: list[Problem] | None) -> None:
        self.name = name
        self.problems = problems

    @hookimpl
    async def validate_cart(self, commerce: Commerce, cart: Any) -> list[Problem] | None:
        assert cart == "the cart"
        return self.problems


@pytest.mark.plugin_hook("validate_cart")
async def test_hook_validate_cart(shop: Any) -> None:
    commerce = await shop(Veto("fine", None), Veto("age", [Problem("customer_id", "too young")]),
                          Veto("stores", [Problem("lines[0].sku", "in store only")]))
    problems = await commerce.plugins.validate_cart(commerce=commerce, cart="the cart")
    assert problems == [Problem("lines[0].sku", "plugin 'stores': in store only"),
                        Problem("customer_id", "plugin 'age': too young")]
    with pytest.raises(InvalidInput) as caught:
        await validate(commerce, "the cart")
    assert caught.value.problems == problems
    assert str(caught.value) == ("lines[0].sku: plugin 'stores': in store only; "
                                 "customer_id: plugin 'age': too young")


NOW = dt.datetime(2026, 11, 30, 16, 0, tzinfo=dt.UTC)


def sourcing_request() -> SourcingRequest:
    home = GeoPoint(48.8566, 2.3522)
    return SourcingRequest(
        "web", [SourcingLine("l1", "TEE-M", 1, "home")],
        (SourcingGroup("home", GroupKind.SHIP, home),),
        (Candidate("wh", LocationKind.WAREHOUSE, home, 0, frozenset({Capability.SHIP}),
                   {"TEE-M": 5}),
         Candidate("paris-1", LocationKind.STORE, home, 5,
                   frozenset({Capability.SHIP_FROM_STORE}), {"TEE-M": 5})),
        NOW, dt.timedelta(hours=2))


class Chooser:
    def __init__(self, name: str, location: str | None, calls: list[str]) -> None:
        self.name = name
        self.location = location
        self.calls = calls

    @hookimpl
    async def choose_sources(self, request: SourcingRequest) -> SourcingPlan | None:
        self.calls.append(self.name)
        if self.location is None:
            return None
        line = request.lines[0]
        return SourcingPlan([Assignment(line.line_id, line.sku, line.group, self.location,
                                        line.quantity)], [f"{self.location} by {self.name}"])


class FirstChooser(Chooser):
    @hookimpl(tryfirst=True)
    async def choose_sources(self, request: SourcingRequest) -> SourcingPlan | None:
        return await super().choose_sources(request)


@pytest.mark.plugin_hook("choose_sources")
async def test_hook_choose_sources(shop: Any) -> None:
    calls: list[str] = []
    # called: "abstains" (tryfirst), then "store" (registered last) answers: "warehouse"
    # is never called, and the plan names the plugin that answered
    commerce = await shop(Chooser("warehouse", "wh", calls), Chooser("store", "paris-1", calls),
                          FirstChooser("abstains", None, calls))
    plan = await choose(commerce, sourcing_request())
    assert calls == ["abstains", "store"]
    assert (plan.strategy, [a.location for a in plan.assignments]) == ("store", ["paris-1"])
    answer = await commerce.plugins.choose_sources(commerce=commerce, request=sourcing_request())
    assert answer is not None and answer.plugin == "store"

"""Fixtures: a Commerce on a SQLite file with the Stripe plugin, Stripe faked with respx,
and the real ASGI gateway app for webhooks.

Nothing here imports the core's ``tests/`` helpers: what is needed is copied into
``stripe_world.py`` and ``stripe_fake.py``.

Every request a test sends to ``api.stripe.com`` is checked, when the test ends, against
Stripe's parameters for API version 2025-08-27.basil (``contracts/``, see its README):
``vendor_requests`` from ``omnicore.testing``.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from omnicore_stripe import StripePlugin
from stripe_fake import FakeStripe
from stripe_world import build_world

from omnicore import Commerce
from omnicore.testing import ApiConformance, FakeClock, OpenApiDocument, conformance_fixture

SECRET_KEY = "sk_test_51OmniCoreTestKey7fQ2pLx9Zr4Vb8Nc3Wd6Ye1Ua5Th0Sg"
WEBHOOK_SECRET = "whsec_5bY2nQ8rT4vK9mW1xZ6cJ3hF7dL0pS2a"
SETTINGS = {"secret_key": SECRET_KEY, "webhook_secret": WEBHOOK_SECRET}


#: Stripe's request parameters of the operations the plugin calls (contracts/README.md)
CONTRACT = Path(__file__).parent / "contracts" / "stripe-2025-08-27.basil.json"


def stripe_api() -> ApiConformance:
    return ApiConformance([OpenApiDocument.load(CONTRACT)], hosts=["api.stripe.com"])


#: every test's requests to Stripe, checked against the contract when it ends
vendor_requests = conformance_fixture(stripe_api)


class Sleeps:
    """Records the back-off the client asked for, without waiting."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """No omnicore.toml or OMNICORE_* variable of the developer leaks into a test."""
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith("OMNICORE_"):
            monkeypatch.delenv(name)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(scope="session")
def migrated_db(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A SQLite file migrated once; each test gets a copy (migrating takes a second)."""
    path = tmp_path_factory.mktemp("template") / "template.db"

    async def migrate() -> None:
        async with Commerce.open(f"sqlite+aiosqlite:///{path}", dispatch=False,
                                 load_entry_points=False, config={}):
            pass

    asyncio.run(migrate())
    return path


@pytest.fixture
def db_url(tmp_path: Any, migrated_db: Any) -> str:
    shutil.copy(migrated_db, tmp_path / "shop.db")
    return f"sqlite+aiosqlite:///{tmp_path}/shop.db"


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def stripe() -> Iterator[FakeStripe]:
    with respx.mock(assert_all_called=False) as router:
        yield FakeStripe(router)


@pytest.fixture
def plugin(sleeps: Sleeps) -> StripePlugin:
    return StripePlugin(sleep=sleeps, jitter=lambda: 0.5)


async def open_shop(db_url: str, clock: FakeClock, plugin: StripePlugin,
                    **config: Any) -> Commerce:
    settings = {**SETTINGS, **config.pop("stripe", {})}
    return await Commerce.open(
        db_url, clock=clock, dispatch=False, load_entry_points=False, plugins=[plugin],
        config={"plugins": {"stripe": settings}, **config})


@pytest.fixture
async def shop(db_url: str, clock: FakeClock, plugin: StripePlugin,
               stripe: FakeStripe) -> AsyncIterator[Commerce]:
    commerce = await open_shop(db_url, clock, plugin)
    try:
        await build_world(commerce)
        yield commerce
    finally:
        await commerce.close()


@pytest.fixture
async def app(shop: Commerce) -> AsyncIterator[httpx.AsyncClient]:
    """The real gateway app (``omnicore.gateway.app.create_app``) over ASGI."""
    from omnicore.gateway.app import create_app

    transport = httpx.ASGITransport(app=create_app(shop))
    async with httpx.AsyncClient(transport=transport, base_url="http://shop.test") as client:
        yield client

"""Fixtures: a Commerce on a SQLite file with the Amazon plugin, Amazon faked with respx.

Nothing here imports the core's ``tests/``: what is needed lives in
``amazon_world.py`` (the shop) and ``amazon_fake.py`` (Amazon).

Every request a test sends to SP-API is checked, when the test ends, against Amazon's
models (``vendor_requests``, from ``omnicore.testing``): the Listings Items, Feeds and
Orders models of ``../shared/contracts/amazon-sp-api/`` beside the repository (or
``tests/contracts/`` when a copy is there). Without them, requests are recorded, not
checked, and the tests that read a model skip, naming the folder.

``marketplace_ids`` is the seller's marketplaces (``["FR"]``); the listing, stock and
order modules run every test with ``["FR", "BE"]`` as well.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import respx
from amazon_fake import FakeAmazon
from amazon_world import build_world
from omnicore_amazon import AmazonPlugin

from omnicore import Commerce
from omnicore.testing import (
    ApiConformance,
    FakeClock,
    OpenApiDocument,
    conformance_fixture,
    find_contracts,
)

CLIENT_ID = "amzn1.application-oa2-client.4e8b0c1d2f3a4b5c6d7e8f9a0b1c2d3e"
CLIENT_SECRET = "amzn1.oa2-cs.v1.9f8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a39281706f5e4d3c2b1a0"
REFRESH_TOKEN = "Atzr|IwEBIPrivateRefreshToken-of-the-seller-0123456789abcdefABCDEF"
SETTINGS: dict[str, Any] = {
    "client_id": CLIENT_ID,
    "client_secret": CLIENT_SECRET,
    "refresh_token": REFRESH_TOKEN,
    "seller_id": "A2EXAMPLESELLER",
    "marketplace_ids": ["FR"],
    "channel": "amazon-fr",
    "background": "off",
    "feed_threshold": 5,
    "max_retries": 2,
    "carriers": {"Colissimo": "Colissimo"},
    "families": {
        "tees": {"product_type": "SHIRT", "attributes": {
            "color": "{variant.attributes.colour}", "size": "{variant.attributes.size}",
            "material": "Cotton"}},
        "socks": "SOCKS",
    },
}


#: the SP-API models the requests are checked against (Apache 2.0, amzn/selling-partner-api-models)
MODELS = ("listingsItems_2021-08-01.json", "feeds_2021-06-30.json", "orders_2026-01-01.json",
          "ordersV0.json")
#: where they are looked for: a copy beside the tests, else shared/ beside the repository
CONTRACTS = next((folder for folder in (
    Path(__file__).parent / "contracts" / "amazon-sp-api",
    find_contracts(__file__, "amazon-sp-api")) if folder is not None and folder.is_dir()),
    None)
MISSING = ("Amazon's SP-API models are not available: put ../shared/contracts/amazon-sp-api/ "
           "beside the repository")


def model(name: str) -> Any:
    """One SP-API model as JSON, read from its file; the test skips without it."""
    if CONTRACTS is None or not (CONTRACTS / name).is_file():
        pytest.skip(MISSING)
    return json.loads((CONTRACTS / name).read_text(encoding="utf-8"))


def _sp_api() -> ApiConformance | None:
    if CONTRACTS is None:
        return None
    return ApiConformance([OpenApiDocument.load(CONTRACTS / name) for name in MODELS],
                          hosts=["sellingpartnerapi-*.amazon.com",
                                 "sandbox.sellingpartnerapi-*.amazon.com"])


#: every test's requests to SP-API, checked against the models when it ends
vendor_requests = conformance_fixture(_sp_api)


class FakeTime:
    """A monotonic clock that moves only when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


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


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture(scope="session")
def migrated_db(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A SQLite file migrated once; each test gets a copy."""
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
def amazon() -> Iterator[FakeAmazon]:
    with respx.mock(assert_all_called=False) as router:
        yield FakeAmazon(router)


@pytest.fixture
def plugin(fake_time: FakeTime) -> AmazonPlugin:
    return AmazonPlugin(sleep=fake_time.sleep, clock=fake_time.monotonic, jitter=lambda: 0.5)


async def open_shop(db_url: str, clock: FakeClock, plugin: AmazonPlugin,
                    **settings: Any) -> Commerce:
    return await Commerce.open(
        db_url, clock=clock, dispatch=False, load_entry_points=False, plugins=[plugin],
        config={"plugins": {"amazon": {**SETTINGS, **settings}}})


@pytest.fixture
def marketplace_ids() -> list[str]:
    """The seller's marketplaces; parametrized with ``["FR", "BE"]`` by the listing, stock
    and order modules."""
    return ["FR"]


@pytest.fixture
def amazon_settings(marketplace_ids: list[str]) -> dict[str, Any]:
    """``[plugins.amazon]`` of the test: ``SETTINGS`` for ``marketplace_ids``."""
    return {**SETTINGS, "marketplace_ids": list(marketplace_ids)}


@pytest.fixture
async def shop(db_url: str, clock: FakeClock, plugin: AmazonPlugin, amazon: FakeAmazon,
               amazon_settings: dict[str, Any]) -> AsyncIterator[Commerce]:
    commerce = await open_shop(db_url, clock, plugin, **amazon_settings)
    try:
        await build_world(commerce)
        amazon.calls.clear()
        yield commerce
    finally:
        await commerce.close()

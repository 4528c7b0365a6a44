"""Fixtures: a Commerce on a SQLite file with the Amazon plugin, Amazon faked with respx.

Nothing here imports the core's ``tests/``: what is needed lives in
``amazon_world.py`` (the shop) and ``amazon_fake.py`` (Amazon).
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import respx
from amazon_fake import FakeAmazon
from amazon_world import build_world
from omnicore_amazon import AmazonPlugin

from omnicore import Commerce
from omnicore.testing import FakeClock

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
async def shop(db_url: str, clock: FakeClock, plugin: AmazonPlugin,
               amazon: FakeAmazon) -> AsyncIterator[Commerce]:
    commerce = await open_shop(db_url, clock, plugin)
    try:
        await build_world(commerce)
        amazon.calls.clear()
        yield commerce
    finally:
        await commerce.close()

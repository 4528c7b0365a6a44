"""The plugin's own tables on PostgreSQL (upserts, leases): listing, stock feed, order import.

Runs against ``OMNICORE_TEST_POSTGRES_URL`` (default: a local server), in a database
of its own created for the test and dropped after; skipped when no server answers.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator

import pytest
from amazon_fake import FakeAmazon, order_2026
from amazon_world import SOCKS, build_world
from conftest import SETTINGS, FakeTime
from omnicore_amazon import AmazonPlugin
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from omnicore import Commerce
from omnicore.testing import FakeClock

pytestmark = pytest.mark.postgres
LOCAL = "postgresql://postgres@127.0.0.1:5432/test"


def _admin_url() -> str:
    url = make_url(os.environ.get("OMNICORE_TEST_POSTGRES_URL") or LOCAL)
    return url.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


async def _execute(url: str, statement: str) -> None:
    from sqlalchemy import text

    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(statement))
    finally:
        await engine.dispose()


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    admin = _admin_url()
    name = f"omnicore_amazon_{secrets.token_hex(4)}"
    try:
        await _execute(admin, f'CREATE DATABASE "{name}"')
    except Exception as exc:  # no server here
        if os.environ.get("OMNICORE_TEST_POSTGRES_URL"):  # CI sets it: fail, never skip
            pytest.fail(f"PostgreSQL at OMNICORE_TEST_POSTGRES_URL is unreachable: {exc}")
        pytest.skip(f"no PostgreSQL ({type(exc).__name__}); set OMNICORE_TEST_POSTGRES_URL")
    try:
        yield make_url(admin).set(database=name).render_as_string(hide_password=False)
    finally:
        await _execute(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def test_the_whole_flow_on_postgresql(
        postgres_url: str, amazon: FakeAmazon, fake_time: FakeTime) -> None:
    plugin = AmazonPlugin(sleep=fake_time.sleep, clock=fake_time.monotonic, jitter=lambda: 0.5)
    async with Commerce.open(postgres_url, auto_migrate=True, dispatch=False,
                             load_entry_points=False, plugins=[plugin], clock=FakeClock(),
                             config={"plugins": {"amazon": SETTINGS}}) as shop:
        await build_world(shop)
        assert len(amazon.calls["putListingsItem"]) == 14
        await shop.stock.set_levels([{"sku": sku, "location": "wh", "on_hand": 6}
                                     for sku in [*SOCKS, "TEE-M"]])
        await shop.outbox.drain()
        stock_sync = plugin.started().stock
        flushed = await stock_sync.flush()
        assert flushed.messages == 13
        assert (await stock_sync.poll()).accepted == 13
        assert await stock_sync.count_pending() == 0

        amazon.order_pages = [{"orders": [order_2026("402-8812345-1234567")]}]
        orders = plugin.started().orders
        assert (await orders.sync()).imported == 1
        assert (await orders.sync()).unchanged == 1
        order = await shop.orders.by_external("amazon", "402-8812345-1234567")
        assert order.customer_id is not None
        assert (await shop.stock.availability("TEE-M", channel="amazon-fr")).total == 3
